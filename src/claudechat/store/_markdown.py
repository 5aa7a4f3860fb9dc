"""Markdown of a conversation's active branch, for reading and sharing, and titles."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..messages import Block, Message, group_turns
from ..metadata import ATTACHMENTS
from ..models.capabilities import model_prices
from ..usage import Usage
from .base import Conversation, Store

__all__ = ["export_markdown", "render_markdown", "title_from"]

_TOOL_INPUT_CHARS = 300
_TOOL_RESULT_CHARS = 1200


def title_from(text: str, width: int = 60) -> str:
    """A conversation title: the first non-empty line of the first prompt, shortened."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    return line if len(line) <= width else line[: width - 1].rstrip() + "…"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _fence(text: str) -> str:
    """A code fence long enough not to be closed by the text inside."""
    ticks = 3
    while "`" * ticks in text:
        ticks += 1
    return "`" * ticks


def _result_text(block: Mapping[str, Any]) -> str:
    inner = block.get("content")
    if isinstance(inner, str):
        return inner
    parts = []
    for b in inner or []:
        if isinstance(b, Mapping):
            parts.append(
                str(b.get("text", "")) if b.get("type") == "text" else f"[{b.get('type')}]"
            )
    return "\n".join(parts)


def _block(block: Block, tool_names: Mapping[str, str], names: Mapping[str, str]) -> str:
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "thinking":
        body = str(block.get("thinking", "")).strip()
        return f"<details><summary>Thinking</summary>\n\n{body}\n\n</details>"
    if kind == "redacted_thinking":
        return "*[redacted thinking]*"
    if kind in ("tool_use", "server_tool_use"):
        args = json.dumps(block.get("input", {}), ensure_ascii=False, separators=(", ", ": "))
        return f"**Tool call** `{block.get('name')}` `{_short(args, _TOOL_INPUT_CHARS)}`"
    if kind == "tool_result":
        name = tool_names.get(str(block.get("tool_use_id")), "tool")
        text = _short(_result_text(block).strip(), _TOOL_RESULT_CHARS)
        error = " (error)" if block.get("is_error") else ""
        fence = _fence(text)
        return f"**Tool result** `{name}`{error}\n\n{fence}\n{text}\n{fence}"
    if kind == "compaction":
        body = str(block.get("content") or "").strip()
        return f"<details><summary>Compacted history</summary>\n\n{body}\n\n</details>"
    if kind == "document":
        return f"*[document: {block.get('title') or 'untitled'}]*"
    if kind == "image":
        source = block.get("source") or {}
        label = names.get(_sha(source)) or source.get("media_type") or source.get("type")
        return f"*[image: {label}]*"
    return f"*[{kind}]*"


def _sha(source: Mapping[str, Any]) -> str:
    """The SHA-256 of a base64 source's bytes ("" for another source)."""
    data = source.get("data")
    if source.get("type") != "base64" or not isinstance(data, str):
        return ""
    try:
        return hashlib.sha256(base64.b64decode(data)).hexdigest()
    except (binascii.Error, ValueError):
        return ""


def _attachment_names(message: Message) -> dict[str, str]:
    """SHA-256 → name of the attachments a message's metadata lists."""
    listed = message.metadata.get(ATTACHMENTS) or ()
    return {
        str(a["sha256"]): str(a["name"])
        for a in listed
        if isinstance(a, Mapping) and a.get("sha256") and a.get("name")
    }


def _heading(m: Message) -> str:
    if m.role == "user":
        only_results = all(b.get("type") == "tool_result" for b in m.content)
        return "## Tool results" if only_results and m.content else "## User"
    parts = ["## Assistant"]
    if m.model:
        parts.append(f"· {m.model}")
    if m.status != "complete":
        parts.append(f"· *{'interrupted' if m.status == 'partial' else m.status}*")
    return " ".join(parts)


def _footer(messages: Sequence[Message]) -> str:
    total, cost, unknown, priced = Usage(), 0.0, False, 0
    for m in messages:
        if m.role != "assistant" or m.usage is None:
            continue
        priced += 1
        total = total + m.usage
        price = m.usage.cost_usd(m.model, model_prices) if m.model else None
        if price is None:
            unknown = True
        else:
            cost += price
    cached = ""
    if total.cache_read_tokens or total.cache_write_tokens:
        cached = (f" ({total.cache_read_tokens:,} read from cache, "
                  f"{total.cache_write_tokens:,} written)")  # fmt: skip
    turns = len(group_turns(messages))
    counts = f"{_plural(len(messages), 'message')}, {_plural(turns, 'turn')}"
    if not priced:
        return f"*{counts} · no usage recorded*"
    money = "cost unknown" if unknown else f"cost ${cost:,.4f}"
    return (
        f"*{counts} · {total.total_input_tokens:,} input tokens{cached} · "
        f"{total.output_tokens:,} output tokens · {money}*"
    )


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def render_markdown(conversation: Conversation, messages: Sequence[Message]) -> str:
    """Markdown of ``messages`` (a branch): a heading per message, tools compact."""
    c = conversation
    lines = [f"# {c.title or 'Conversation'}", ""]
    meta = [f"id `{c.id}`", f"started {_when(c.created_at)}"]
    if c.model:
        meta.append(f"model `{c.model}`")
    lines += ["*" + " · ".join(meta) + "*", ""]
    if c.system:
        lines += ["<details><summary>System prompt</summary>", "", c.system.strip(), "",
                  "</details>", ""]  # fmt: skip
    tool_names: dict[str, str] = {}
    for m in messages:
        for b in m.content:
            if b.get("type") in ("tool_use", "server_tool_use"):
                tool_names[str(b.get("id"))] = str(b.get("name"))
        lines += [_heading(m), ""]
        names = _attachment_names(m)
        for b in m.content:
            rendered = _block(b, tool_names, names).strip()
            if rendered:
                lines += [rendered, ""]
    lines += ["---", "", _footer(messages), ""]
    return "\n".join(lines)


def export_markdown(store: Store, conversation_id: str) -> str:
    """The conversation's active branch as Markdown."""
    return render_markdown(store.get_conversation(conversation_id), store.branch(conversation_id))
