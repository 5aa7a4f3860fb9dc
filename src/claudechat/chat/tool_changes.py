"""Mid-conversation tool changes: tools added or removed without touching the cached prefix.

Tools come first in the prompt cache's prefix, so a tool list that changes halfway through
a conversation makes the next request write the whole history to the cache again. With
the ``mid-conversation-tool-changes-2026-07-01`` beta, models that take system messages
(``ModelInfo.system_messages``) accept the change where it happens instead: the top-level
``tools`` stay those the conversation's prefix holds (``TOOL_PREFIX``), and a system
message after the head of the time carries ``tool_removal`` blocks (a ``tool_reference``
by name) and ``tool_addition`` blocks (the new tool's definition inline, with the
``inline-tools-2026-09-15`` beta). A tool whose definition changed is removed and added.

Tools are code, not stored data: a chat notices a change when its tool list differs from
the one its previous request sent (or, after a restart, from the one the stored changes
add up to). A change whose place is no longer in the request (trimmed away, or on a branch
that was undone) cannot be sent where it happened: the request then sends the current
tools top-level, as models without system messages always get them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..messages import Message
from ..metadata import TOOL_CHANGES, TOOL_PREFIX
from ..models.capabilities import ModelInfo
from .system_changes import Insert, api_index_after

__all__ = [
    "INLINE_TOOLS_BETA",
    "TOOL_CHANGES_BETA",
    "ToolChange",
    "ToolPlan",
    "effective_tools",
    "plan_tools",
    "record_tool_change",
    "tool_inserts",
]

TOOL_CHANGES_BETA = "mid-conversation-tool-changes-2026-07-01"
INLINE_TOOLS_BETA = "inline-tools-2026-09-15"

Schema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolChange:
    """Tools removed (by name) and added (definitions) after message ``after``."""

    after: str
    removed: tuple[str, ...]
    added: tuple[Schema, ...]


@dataclass(frozen=True, slots=True)
class ToolPlan:
    """The top-level tools of a request and the changes to send as system messages."""

    top_level: list[Schema]
    changes: tuple[ToolChange, ...] = ()


def _changes(metadata: Mapping[str, Any]) -> list[ToolChange]:
    raw = metadata.get(TOOL_CHANGES)
    if not isinstance(raw, list):
        return []
    return [
        ToolChange(str(c["after"]), tuple(c.get("removed", ())), tuple(c.get("added", ())))
        for c in raw
        if isinstance(c, Mapping) and isinstance(c.get("after"), str)
    ]


def _name(schema: Schema) -> str:
    return str(schema.get("name", ""))


def _apply(tools: list[Schema], change: ToolChange) -> list[Schema]:
    kept = [t for t in tools if _name(t) not in change.removed]
    return [*kept, *change.added]


def effective_tools(metadata: Mapping[str, Any]) -> list[Schema] | None:
    """The tools the stored changes add up to (None when none were recorded)."""
    prefix = metadata.get(TOOL_PREFIX)
    if not isinstance(prefix, list):
        return None
    tools = list(prefix)
    for change in _changes(metadata):
        tools = _apply(tools, change)
    return tools


def record_tool_change(
    metadata: Mapping[str, Any], *, before: list[Schema], after: list[Schema], head_id: str
) -> dict[str, Any]:
    """The conversation's metadata after its tools went from ``before`` to ``after`` with
    ``head_id`` as the head."""
    old = {_name(t): t for t in before}
    new = {_name(t): t for t in after}
    removed = [n for n, t in old.items() if new.get(n) != t]
    added = [t for n, t in new.items() if old.get(n) != t]
    out = dict(metadata)
    prefix = metadata.get(TOOL_PREFIX)
    out[TOOL_PREFIX] = prefix if isinstance(prefix, list) else list(before)
    entries = [{"after": c.after, "removed": list(c.removed), "added": list(c.added)}
               for c in _changes(metadata)]  # fmt: skip
    out[TOOL_CHANGES] = [*entries, {"after": head_id, "removed": removed, "added": added}]
    return out


def plan_tools(
    metadata: Mapping[str, Any],
    *,
    current: list[Schema],
    branch: Sequence[Message],
    info: ModelInfo,
) -> ToolPlan:
    """The prefix tools and the changes on a model that takes them, when the changes add
    up to ``current`` and all lie on ``branch``; else ``current`` top-level."""
    prefix = metadata.get(TOOL_PREFIX)
    changes = _changes(metadata)
    if not info.system_messages or not isinstance(prefix, list) or not changes:
        return ToolPlan(current)
    ids = {m.id for m in branch}
    if effective_tools(metadata) != current or any(c.after not in ids for c in changes):
        return ToolPlan(current)
    return ToolPlan(list(prefix), tuple(changes))


def _blocks(change: ToolChange) -> list[dict[str, Any]]:
    removals = [{"type": "tool_removal", "tool": {"type": "tool_reference", "name": n}}
                for n in change.removed]  # fmt: skip
    additions = [{"type": "tool_addition", "tool": {"type": "tool_definition", "definition": t}}
                 for t in change.added]  # fmt: skip
    return [*removals, *additions]


def tool_inserts(sent: Sequence[Message], plan: ToolPlan) -> tuple[list[Insert], list[str]] | None:
    """The plan's changes as system messages among the API messages of ``sent``, and the
    betas they need; None when a change's place is not in ``sent`` (send the tools
    top-level instead)."""
    inserts: list[Insert] = []
    for change in plan.changes:
        at = api_index_after(sent, change.after)
        if at is None:
            return None
        if change.removed or change.added:
            inserts.append((at, _blocks(change)))
    betas = [TOOL_CHANGES_BETA] if inserts else []
    if any(c.added for c in plan.changes):
        betas.append(INLINE_TOOLS_BETA)
    return inserts, betas
