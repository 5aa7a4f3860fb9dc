"""Mid-conversation system messages, as the emulator checks them.

A ``{"role": "system"}`` message in ``messages`` is taken by Opus 4.8 and later (not Sonnet
5); older models answer the error the Messages API has always given for that role. It may
not open the conversation, holds text (or, with the ``mid-conversation-tool-changes``
beta, ``tool_addition`` / ``tool_removal`` blocks), and takes no part in role alternation:
the other checks see the messages without it.
"""

from __future__ import annotations

import re
from typing import Any

from ._errors import invalid
from ._prefix import content_blocks

TOOL_CHANGES_BETA = "mid-conversation-tool-changes-2026-07-01"
INLINE_TOOLS_BETA = "inline-tools-2026-09-15"
_TAKES_SYSTEM = re.compile(
    r"^claude-(opus-4-8|opus-5(-5)?|sonnet-5-5|haiku-5-5|fable-5(-1)?|mythos-5(-1)?)($|-\d{8})"
)
_UNEXPECTED = (
    'messages: Unexpected role "system". The Messages API accepts a top-level `system` '
    'parameter, not "system" as an input message role.'
)


def takes_system_messages(model: str) -> bool:
    """Whether ``model`` accepts system messages mid-conversation."""
    return bool(_TAKES_SYSTEM.match(model))


def check_system_messages(body: dict[str, Any], betas: set[str]) -> None:
    """The 400 for a system message the request may not hold."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    known = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") != "system":
            continue
        if not takes_system_messages(str(body.get("model", ""))):
            raise invalid(_UNEXPECTED)
        if i == 0:
            raise invalid('messages: first message must use the "user" role')
        blocks = content_blocks(message.get("content"))
        if not blocks:
            raise invalid(f"messages.{i}.content: system messages must have non-empty content")
        for j, block in enumerate(blocks):
            _check_block(block, f"messages.{i}.content.{j}", betas, known)


def _check_tool_change(block: dict[str, Any], where: str, betas: set[str], known: set[Any]) -> None:
    """A tool_addition (a reference to a declared tool, or an inline definition with the
    inline-tools beta) or a tool_removal of a tool declared or added before."""
    raw = block.get("tool")
    tool: dict[str, Any] = raw if isinstance(raw, dict) else {}
    kind = tool.get("type")
    if kind == "tool_definition":
        if block["type"] != "tool_addition" or INLINE_TOOLS_BETA not in betas:
            raise invalid(f"{where}.tool: tool_definition needs the {INLINE_TOOLS_BETA} beta")
        definition = tool.get("definition")
        if not isinstance(definition, dict) or not definition.get("name"):
            raise invalid(f"{where}.tool.definition: Field required")
        known.add(definition["name"])
        return
    if kind != "tool_reference" or not isinstance(tool.get("name"), str):
        raise invalid(f"{where}.tool: Input tag {kind!r} does not match any of the expected tags")
    if tool["name"] not in known:
        raise invalid(f"{where}.tool.name: no tool named {tool['name']!r} is declared")


def _check_block(block: Any, where: str, betas: set[str], known: set[Any]) -> None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text":
        if not block.get("text"):
            raise invalid("messages: text content blocks must be non-empty")
        return
    if kind in ("tool_addition", "tool_removal"):
        if TOOL_CHANGES_BETA not in betas:
            raise invalid(f"{where}: {kind} blocks need the {TOOL_CHANGES_BETA} beta")
        _check_tool_change(block, where, betas, known)
        return
    raise invalid(f"{where}.type: Input tag {kind!r} is not allowed in a system message")


def without_system_messages(body: dict[str, Any]) -> dict[str, Any]:
    """The request as the role checks see it: its system messages left out."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not any(
        isinstance(m, dict) and m.get("role") == "system" for m in messages
    ):
        return body
    kept = [m for m in messages if not (isinstance(m, dict) and m.get("role") == "system")]
    return {**body, "messages": kept}
