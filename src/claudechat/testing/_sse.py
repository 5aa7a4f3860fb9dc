"""A complete Message rendered as the Messages API's server-sent event stream."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

SSEEvent = tuple[str, dict[str, Any]]

_WORDS = re.compile(r"\S+\s*|\s+")
_JSON_CHUNK = 12


def frame(event: str, data: dict[str, Any]) -> bytes:
    """One SSE frame: `event: <type>` and `data: <json>` lines, then a blank line."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def word_chunks(text: str) -> list[str]:
    """`text` in word-sized pieces (each word with its trailing whitespace)."""
    return _WORDS.findall(text) or [""]


def _delta(index: int, delta: dict[str, Any]) -> SSEEvent:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def _block_events(index: int, block: dict[str, Any]) -> Iterator[SSEEvent]:
    kind = block.get("type")
    if kind == "text":
        start: dict[str, Any] = {"type": "text", "text": ""}
        if block.get("citations") is not None:
            start["citations"] = []
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
        for piece in word_chunks(str(block.get("text", ""))):
            yield _delta(index, {"type": "text_delta", "text": piece})
    elif kind == "tool_use":
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
        args = json.dumps(block.get("input", {}), ensure_ascii=False)
        yield _delta(index, {"type": "input_json_delta", "partial_json": ""})
        for at in range(0, len(args), _JSON_CHUNK):
            yield _delta(
                index, {"type": "input_json_delta", "partial_json": args[at : at + _JSON_CHUNK]}
            )
    elif kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
        for piece in word_chunks(str(block.get("thinking", ""))):
            yield _delta(index, {"type": "thinking_delta", "thinking": piece})
        yield _delta(index, {"type": "signature_delta", "signature": block.get("signature", "")})
    elif kind == "compaction":
        yield (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "compaction", "content": None},
            },
        )
        yield _delta(index, {"type": "compaction_delta", "content": block.get("content")})
    else:
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": block},
        )
    yield "content_block_stop", {"type": "content_block_stop", "index": index}


def message_events(message: dict[str, Any]) -> list[SSEEvent]:
    """The full event sequence for `message`, ping after message_start, as the API sends it."""
    usage = message["usage"]
    start_usage = {k: v for k, v in usage.items() if k != "iterations"}
    start_usage["output_tokens"] = 1 if usage.get("output_tokens") else 0
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    start.pop("context_management", None)
    events: list[SSEEvent] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(message["content"]):
        events.extend(_block_events(index, block))
    delta_usage = {k: v for k, v in usage.items() if k not in ("cache_creation", "service_tier")}
    delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]},
        "usage": delta_usage,
    }
    if "context_management" in message:
        delta["context_management"] = message["context_management"]
    events.append(("message_delta", delta))
    events.append(("message_stop", {"type": "message_stop"}))
    return events
