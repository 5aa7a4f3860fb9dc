"""Mid-conversation system messages: a new system prompt that keeps the cached prefix.

The prompt cache hashes tools, then the top-level ``system``, then the messages. Editing the
top-level prompt halfway through a conversation changes the start of that prefix, and the
next request pays for the whole history again. Models that take ``{"role": "system"}``
messages (``ModelInfo.system_messages``: Opus 4.8 and later) let the change go where it
happens instead: the top-level prompt stays the one the conversation started with (its
*prefix* prompt) and each change is a system message after the message that was the head
when it was made, so every earlier request's prefix is still a prefix of the next one.

A change is stored in the conversation's metadata (``SYSTEM_PREFIX``, ``SYSTEM_CHANGES``),
never as a message, so histories, turns, exports and every other model are unaffected:
on a model without system messages the current prompt is sent top-level, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..messages import Message, to_api_messages
from ..metadata import SYSTEM_CHANGES, SYSTEM_PREFIX
from ..models.capabilities import ModelInfo

__all__ = [
    "Insert",
    "SystemChange",
    "SystemPlan",
    "api_index_after",
    "insert_system_messages",
    "plan_system",
    "prompt_inserts",
    "record_change",
]


@dataclass(frozen=True, slots=True)
class SystemChange:
    """A system prompt set after message ``after`` (the head when it was set)."""

    after: str
    text: str


@dataclass(frozen=True, slots=True)
class SystemPlan:
    """How a request carries the system prompt: ``top_level`` text, and the changes to
    send as system messages (empty: the current prompt goes top-level, as before)."""

    top_level: str
    current: str
    changes: tuple[SystemChange, ...] = ()


def _changes(metadata: Mapping[str, Any]) -> list[SystemChange]:
    raw = metadata.get(SYSTEM_CHANGES)
    if not isinstance(raw, list):
        return []
    return [
        SystemChange(str(c["after"]), str(c.get("text", "")))
        for c in raw
        if isinstance(c, Mapping) and isinstance(c.get("after"), str)
    ]


def record_change(
    metadata: Mapping[str, Any], *, old: str, new: str, head_id: str | None
) -> dict[str, Any]:
    """The conversation's metadata after its system prompt went from ``old`` to ``new``
    with ``head_id`` as the head; with no head (nothing said yet) the top-level prompt
    simply changes and earlier changes are forgotten."""
    out = dict(metadata)
    if head_id is None:
        out.pop(SYSTEM_PREFIX, None)
        out.pop(SYSTEM_CHANGES, None)
        return out
    prefix = metadata.get(SYSTEM_PREFIX)
    out[SYSTEM_PREFIX] = prefix if isinstance(prefix, str) else old
    changes = [{"after": c.after, "text": c.text} for c in _changes(metadata)]
    out[SYSTEM_CHANGES] = [*changes, {"after": head_id, "text": new}]
    return out


def plan_system(
    metadata: Mapping[str, Any], *, current: str, branch: Sequence[Message], info: ModelInfo
) -> SystemPlan:
    """What to send for the prompt ``current`` on ``branch``: the prefix prompt top-level
    and the branch's changes as system messages on a model that takes them; else
    ``current`` top-level."""
    prefix = metadata.get(SYSTEM_PREFIX)
    if not info.system_messages or not isinstance(prefix, str):
        return SystemPlan(current, current)
    ids = {m.id for m in branch}
    changes = tuple(c for c in _changes(metadata) if c.after in ids)
    if not changes and prefix == current:
        return SystemPlan(current, current)
    return SystemPlan(prefix, current, changes)


_NO_PROMPT = "(The system prompt was removed: no system instructions apply from here on.)"

Insert = tuple[int, list[dict[str, Any]]]  # (API message index, system message content)


def api_index_after(sent: Sequence[Message], message_id: str) -> int | None:
    """Where a system message after ``message_id`` goes among the API messages of ``sent``
    (None when the message is not in ``sent``)."""
    for k, m in enumerate(sent):
        if m.id == message_id:
            return len(to_api_messages(sent[: k + 1]))
    return None


def prompt_inserts(count: int, sent: Sequence[Message], plan: SystemPlan) -> list[Insert] | None:
    """The system messages of ``plan`` among ``count`` API messages of ``sent``: each
    change after the message it follows. A change outside the window (trimmed away, or on
    another branch) is left out, unless it is the prompt in force: then it follows the last
    change sent, or the window's first message, so the newest prompt always holds. None
    when the prompt in force has no place (a one-message window): send it top-level."""
    if not plan.changes and plan.top_level == plan.current:
        return []
    inserts: list[tuple[int, str]] = []
    for change in plan.changes:
        at = api_index_after(sent, change.after)
        if at is not None:
            inserts.append((at, change.text))
    if not inserts or inserts[-1][1] != plan.current:
        if not inserts and count < 2:
            return None
        inserts.append((inserts[-1][0] if inserts else 1, plan.current))
    return [(at, [{"type": "text", "text": text or _NO_PROMPT}]) for at, text in inserts]


def insert_system_messages(
    messages: list[dict[str, Any]], inserts: Sequence[Insert]
) -> list[dict[str, Any]]:
    """``messages`` with a system message of each insert's content at its index (inserts at
    one index keep their order)."""
    out = list(messages)
    for at, content in reversed(sorted(inserts, key=lambda pair: pair[0])):
        out.insert(at, {"role": "system", "content": content})
    return out
