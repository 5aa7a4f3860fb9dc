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
            _check_block(block, f"messages.{i}.content.{j}", betas)


def _check_block(block: Any, where: str, betas: set[str]) -> None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text":
        if not block.get("text"):
            raise invalid("messages: text content blocks must be non-empty")
        return
    if kind in ("tool_addition", "tool_removal"):
        if TOOL_CHANGES_BETA not in betas:
            raise invalid(f"{where}: {kind} blocks need the {TOOL_CHANGES_BETA} beta")
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
