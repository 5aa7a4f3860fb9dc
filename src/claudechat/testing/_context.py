"""Server-side context management (beta): compaction and clearing old tool results."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ._errors import invalid
from ._prefix import content_blocks

COMPACT_EDIT = "compact_20260112"
CLEAR_TOOL_USES_EDIT = "clear_tool_uses_20250919"
COMPACT_DEFAULT_TRIGGER = 150_000
COMPACT_MINIMUM_TRIGGER = 50_000
CLEAR_DEFAULT_TRIGGER = 100_000
CLEAR_DEFAULT_KEEP = 3
CLEARED_PLACEHOLDER = "[tool result cleared by context management]"


def edits_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `context_management.edits` of a request (empty when absent)."""
    config = body.get("context_management")
    if not isinstance(config, dict):
        return []
    edits = config.get("edits") or []
    return [e for e in edits if isinstance(e, dict)] if isinstance(edits, list) else []


def after_last_compaction(messages: list[Any]) -> list[Any]:
    """The messages the API reads: everything before the last compaction block is ignored."""
    for i in range(len(messages) - 1, -1, -1):
        blocks = content_blocks(messages[i].get("content"))
        for j in range(len(blocks) - 1, -1, -1):
            block = blocks[j]
            if isinstance(block, dict) and block.get("type") == "compaction":
                if block.get("content") is None:
                    continue
                head = {**messages[i], "content": blocks[j:]}
                return [head, *messages[i + 1 :]]
    return messages


def _trigger_value(edit: dict[str, Any], default: int) -> tuple[str, int]:
    trigger = edit.get("trigger")
    if isinstance(trigger, dict) and isinstance(trigger.get("value"), int):
        return str(trigger.get("type", "input_tokens")), int(trigger["value"])
    return "input_tokens", default


def compaction_trigger(edit: dict[str, Any], index: int, *, allow_low: bool) -> int:
    """The input-token threshold of a compact edit, checked against the API's minimum."""
    _, value = _trigger_value(edit, COMPACT_DEFAULT_TRIGGER)
    if value < COMPACT_MINIMUM_TRIGGER and not allow_low:
        raise invalid(
            f"context_management.edits.{index}.trigger.value: Input should be greater than "
            f"or equal to {COMPACT_MINIMUM_TRIGGER}"
        )
    return value


def _text_of(message: Any) -> str:
    texts = [
        str(b.get("text", ""))
        for b in content_blocks(message.get("content"))
        if isinstance(b, dict) and b.get("type") in ("text",)
    ]
    return " ".join(texts)


def summarize(messages: list[Any], tokens: int, instructions: str | None) -> str:
    """A deterministic summary standing in for the model-written compaction summary."""
    users = [_text_of(m) for m in messages if m.get("role") == "user" and _text_of(m)]
    first = users[0][:100] if users else ""
    last = users[-1][:200] if users else ""
    summary = (
        f"Summary of {len(messages)} earlier messages ({tokens} input tokens). "
        f'The conversation began with: "{first}". The latest user message was: "{last}".'
    )
    if instructions:
        summary += f" Instructions followed: {instructions[:200]}"
    return summary


def clear_tool_uses(
    messages: list[Any], edit: dict[str, Any], tokens: int, count: Callable[[list[Any]], int]
) -> tuple[list[Any], dict[str, Any] | None]:
    """Apply a clear_tool_uses edit when its trigger is exceeded; return the applied edit."""
    kind, threshold = _trigger_value(edit, CLEAR_DEFAULT_TRIGGER)
    uses = [
        b
        for m in messages
        if m.get("role") == "assistant"
        for b in content_blocks(m.get("content"))
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]
    measured = len(uses) if kind == "tool_uses" else tokens
    if measured <= threshold:
        return messages, None
    keep_spec = edit.get("keep")
    keep = CLEAR_DEFAULT_KEEP
    if isinstance(keep_spec, dict) and isinstance(keep_spec.get("value"), int):
        keep = int(keep_spec["value"])
    excluded = set(edit.get("exclude_tools") or [])
    older = uses[: max(len(uses) - keep, 0)]
    targets = {str(b.get("id")): b for b in older if b.get("name") not in excluded}
    edited = copy.deepcopy(messages)
    cleared = _clear(edited, targets, edit.get("clear_tool_inputs") or False)
    if not cleared:
        return messages, None
    saved = tokens - count(edited)
    at_least = edit.get("clear_at_least")
    minimum = at_least.get("value") if isinstance(at_least, dict) else None
    if isinstance(minimum, int) and saved < minimum:
        return messages, None
    applied = {
        "type": CLEAR_TOOL_USES_EDIT,
        "cleared_tool_uses": len(cleared),
        "cleared_input_tokens": saved,
    }
    return edited, applied


def _clear(messages: list[Any], targets: dict[str, Any], clear_inputs: Any) -> set[str]:
    """Replace the results of the ``targets`` tool calls (and, as ``clear_inputs`` says,
    their inputs) in place; returns the ids of the results cleared."""
    cleared: set[str] = set()
    for message in messages:
        if not isinstance(message.get("content"), list):
            continue
        for block in message["content"]:
            if not isinstance(block, dict):
                continue
            result_id = str(block.get("tool_use_id"))
            if (
                block.get("type") == "tool_result"
                and result_id in targets
                and block.get("content") != CLEARED_PLACEHOLDER
            ):
                block["content"] = CLEARED_PLACEHOLDER
                cleared.add(result_id)
            if block.get("type") == "tool_use" and str(block.get("id")) in targets:
                name = block.get("name")
                if clear_inputs is True or (
                    isinstance(clear_inputs, list) and name in clear_inputs
                ):
                    block["input"] = {}
    return cleared
