"""A request flattened into the cacheable block sequence: tools → system → messages."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..tokens import strip_cache_control
from ._tokens import (
    MESSAGE_OVERHEAD,
    REQUEST_OVERHEAD,
    SYSTEM_OVERHEAD,
    block_tokens,
    tool_tokens,
)


@dataclass(frozen=True, slots=True)
class PrefixUnit:
    """One block of the prefix: its chained hash, tokens, and breakpoint (if any)."""

    key: str
    tokens: int
    cache_control: dict[str, Any] | None
    section: str
    cacheable: bool = True


def _canon(value: Any) -> str:
    return json.dumps(strip_cache_control(value), sort_keys=True, ensure_ascii=False)


def system_blocks(system: Any) -> list[Any]:
    """The `system` parameter as a list of blocks (a string is one text block)."""
    if isinstance(system, str):
        return [{"type": "text", "text": system}] if system else []
    return list(system) if isinstance(system, list) else []


def content_blocks(content: Any) -> list[Any]:
    """A message's content as a list of blocks (a string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content) if isinstance(content, list) else []


def messages_settings(body: dict[str, Any]) -> str:
    """The request settings whose change invalidates the cached messages part."""
    return _canon({"thinking": body.get("thinking"), "tool_choice": body.get("tool_choice")})


def flatten_request(body: dict[str, Any], model: str) -> list[PrefixUnit]:
    """Flatten tools, system and messages into units whose tokens sum to the total."""
    units: list[PrefixUnit] = []
    digest = hashlib.sha256(model.encode()).hexdigest()
    pending = REQUEST_OVERHEAD

    def add(piece: str, tokens: int, block: Any, section: str) -> None:
        nonlocal digest, pending
        digest = hashlib.sha256((digest + "\x00" + piece).encode()).hexdigest()
        control = block.get("cache_control") if isinstance(block, dict) else None
        kind = block.get("type") if isinstance(block, dict) else None
        units.append(
            PrefixUnit(
                key=digest,
                tokens=tokens + pending,
                cache_control=control if isinstance(control, dict) else None,
                section=section,
                cacheable=kind not in ("thinking", "redacted_thinking", None),
            )
        )
        pending = 0

    for tool in body.get("tools") or []:
        add("tool:" + _canon(tool), tool_tokens(tool, model), tool, "tools")
    system = system_blocks(body.get("system"))
    if system:
        pending += SYSTEM_OVERHEAD
    for block in system:
        add("system:" + _canon(block), block_tokens(block, model), block, "system")
    settings = messages_settings(body)
    for index, message in enumerate(body.get("messages") or []):
        role = str(message.get("role", "")) if isinstance(message, dict) else ""
        head = f"message:{role}:" + (settings if index == 0 else "")
        pending += MESSAGE_OVERHEAD
        blocks = content_blocks(message.get("content") if isinstance(message, dict) else None)
        if not blocks:
            add(head, 0, None, "messages")
        for position, block in enumerate(blocks):
            piece = (head if position == 0 else "block:") + _canon(block)
            add(piece, block_tokens(block, model), block, "messages")
    if pending:
        add("end", 0, None, "messages")
    return units


def request_tokens(body: dict[str, Any], model: str) -> int:
    """Total input tokens of a request body (tools, system, messages, fixed overhead)."""
    return sum(unit.tokens for unit in flatten_request(body, model))
