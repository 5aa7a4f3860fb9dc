"""Deterministic, additive token counting that stands in for Claude's tokenizer.

Rule: whitespace is free; each CJK/kana/hangul character is one token; digits count in
chunks of up to 3; a run of letters counts one token per 6 characters (rounded up);
every other character (punctuation, symbols, `_`) is one token. Models of the Claude
4.7+ tokenizer family multiply that raw count by 1.3, rounded up, per text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from ..tokens import IMAGE_TOKENS, document_tokens, image_tokens, strip_cache_control
from ._models import model_facts

REQUEST_OVERHEAD = 7
"""Fixed tokens every request carries, whatever it contains."""
SYSTEM_OVERHEAD = 3
MESSAGE_OVERHEAD = 4
BLOCK_OVERHEAD = 1
TOOL_OVERHEAD = 8
DOCUMENT_OVERHEAD = 10

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
_PIECE = re.compile(rf"[{_CJK}]|\d{{1,3}}|(?:(?![{_CJK}])[^\W\d_]){{1,6}}|[^\s]", re.UNICODE)


def _pieces(text: str) -> Iterator[re.Match[str]]:
    return _PIECE.finditer(text)


def _scale(raw: int, model: str) -> int:
    if raw and model_facts(model).new_tokenizer:
        return math.ceil(raw * 1.3)
    return raw


def count_tokens_text(text: str, model: str) -> int:
    """Count the tokens of `text` for `model` with the emulator's deterministic rule."""
    raw = _raw_count(text) if len(text) <= _KEPT_CHARS else len(_PIECE.findall(text))
    return _scale(raw, model)


_KEPT_CHARS = 8_000
"""Texts up to this long keep their count: every request repeats the conversation's
earlier messages, and one request counts each text several times (its usage, its cache
breakpoints, its thread's prefix)."""


@lru_cache(maxsize=2048)  # 2,048 texts of at most 8,000 characters
def _raw_count(text: str) -> int:
    return len(_PIECE.findall(text))


def truncate_to_tokens(text: str, limit: int, model: str) -> str:
    """The longest prefix of `text` whose count for `model` is at most `limit`."""
    end = 0
    for raw, match in enumerate(_pieces(text), start=1):
        if _scale(raw, model) > limit:
            return text[:end]
        end = match.end()
    return text


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _document_tokens(block: dict[str, Any], model: str) -> int:
    source = block.get("source")
    total = DOCUMENT_OVERHEAD
    for key in ("title", "context"):
        if isinstance(block.get(key), str):
            total += count_tokens_text(block[key], model)
    if isinstance(source, dict) and source.get("type") == "text":
        return total + count_tokens_text(str(source.get("data", "")), model)
    if isinstance(source, dict) and source.get("type") == "content":
        return total + content_tokens(source.get("content", []), model)
    if isinstance(source, dict) and source.get("type") == "base64":
        return total + document_tokens(block)  # per page, as the client estimates it
    return total + IMAGE_TOKENS


def block_tokens(block: Any, model: str) -> int:
    """Tokens of one content block (including its fixed per-block overhead)."""
    if isinstance(block, str):
        return BLOCK_OVERHEAD + count_tokens_text(block, model)
    if not isinstance(block, dict):
        return BLOCK_OVERHEAD + count_tokens_text(_json(block), model)
    kind = block.get("type")
    text_of = {"text": "text", "thinking": "thinking", "compaction": "content"}
    if kind in text_of:
        return BLOCK_OVERHEAD + count_tokens_text(str(block.get(text_of[kind]) or ""), model)
    if kind == "redacted_thinking":
        return BLOCK_OVERHEAD + 16
    if kind == "tool_use":
        name = str(block.get("name", ""))
        args = _json(block.get("input", {}))
        return BLOCK_OVERHEAD + 2 + count_tokens_text(name, model) + count_tokens_text(args, model)
    if kind == "tool_result":
        return BLOCK_OVERHEAD + 2 + content_tokens(block.get("content", ""), model)
    if kind == "image":
        return BLOCK_OVERHEAD + image_tokens(block)
    if kind == "document":
        return BLOCK_OVERHEAD + _document_tokens(block, model)
    return BLOCK_OVERHEAD + count_tokens_text(_json(strip_cache_control(block)), model)


def content_tokens(content: Any, model: str) -> int:
    """Tokens of a message's (or tool result's) content: a string or a list of blocks."""
    if isinstance(content, str):
        return block_tokens(content, model) if content else 0
    if isinstance(content, list):
        return sum(block_tokens(b, model) for b in content)
    return 0


def tool_tokens(tool: Any, model: str) -> int:
    """Tokens of one tool definition: its JSON schema text plus a fixed overhead."""
    return TOOL_OVERHEAD + count_tokens_text(_json(strip_cache_control(tool)), model)


def system_tokens(system: Any, model: str) -> int:
    """Tokens of the `system` parameter (0 when absent or empty)."""
    if not system:
        return 0
    return SYSTEM_OVERHEAD + content_tokens(system, model)


def message_tokens(message: Any, model: str) -> int:
    """Tokens of one message: a fixed overhead plus its blocks."""
    content = message.get("content", "") if isinstance(message, dict) else ""
    return MESSAGE_OVERHEAD + content_tokens(content, model)
