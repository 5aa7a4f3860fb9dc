"""What the emulated model says: scripted, computed, or the default echo reply."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._prefix import content_blocks, system_blocks
from ._signature import sign_thinking
from ._tokens import count_tokens_text, truncate_to_tokens


@dataclass(frozen=True)
class EmuRequest:
    """A validated /v1/messages request as a reply function sees it."""

    body: dict[str, Any]
    number: int
    input_tokens: int
    path: str = "/v1/messages"
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str:
        """The requested model name."""
        return str(self.body["model"])

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's messages, as sent."""
        return list(self.body["messages"])

    @property
    def system(self) -> list[dict[str, Any]]:
        """The system prompt as a list of blocks (empty when absent)."""
        return system_blocks(self.body.get("system"))

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The tool definitions (empty when absent)."""
        return list(self.body.get("tools") or [])

    @property
    def last_user_text(self) -> str:
        """The text of the last user message that has text ("" when none)."""
        for message in reversed(self.messages):
            if message["role"] != "user":
                continue
            texts = [b["text"] for b in content_blocks(message["content"]) if b["type"] == "text"]
            if texts:
                return "\n".join(texts)
        return ""

    @property
    def turns(self) -> int:
        """User messages that carry text (a turn starts at each)."""
        return sum(
            1
            for m in self.messages
            if m["role"] == "user"
            and any(b["type"] == "text" for b in content_blocks(m["content"]))
        )

    @property
    def thinking(self) -> bool:
        """Whether extended (or adaptive) thinking is on."""
        config = self.body.get("thinking")
        return isinstance(config, dict) and config.get("type") in ("enabled", "adaptive")

    @property
    def prefill(self) -> str | None:
        """The text of a trailing assistant message (prefill), or None."""
        last = self.messages[-1]
        if last["role"] != "assistant":
            return None
        return "".join(
            b.get("text", "") for b in content_blocks(last["content"]) if b["type"] == "text"
        )


@dataclass(frozen=True)
class EmuReply:
    """A reply with an explicit stop reason; content is a text or a list of blocks."""

    content: str | list[dict[str, Any]]
    stop_reason: str | None = None


ReplyResult = str | list[dict[str, Any]] | EmuReply
ReplyFunction = Callable[[EmuRequest], ReplyResult]


def default_reply(request: EmuRequest, number: int) -> list[dict[str, Any]]:
    """The echo reply: what was received, deterministic, plus thinking when it is on."""
    said = request.last_user_text
    if len(said) > 200:
        said = said[:200] + "..."
    text = (
        f"Emulator reply #{number}: received {len(request.messages)} messages "
        f"({request.turns} turns), {request.input_tokens} input tokens. "
        f'You said: "{said}"'
    )
    blocks: list[dict[str, Any]] = []
    if request.thinking:
        thought = (
            f"The user sent {len(request.messages)} messages; "
            f"I will report what I received for reply #{number}."
        )
        blocks.append(
            {"type": "thinking", "thinking": thought, "signature": sign_thinking(thought)}
        )
    blocks.append({"type": "text", "text": text})
    return blocks


def normalize(
    result: ReplyResult, new_tool_id: Callable[[], str]
) -> tuple[list[dict[str, Any]], str | None]:
    """Blocks and stop reason of a scripted or computed reply; ids and signatures filled in."""
    stop_reason = None
    if isinstance(result, EmuReply):
        stop_reason = result.stop_reason
        result = result.content
    if isinstance(result, str):
        return [{"type": "text", "text": result}], stop_reason
    blocks: list[dict[str, Any]] = []
    for raw in result:
        block = dict(raw)
        if block.get("type") == "tool_use":
            block.setdefault("id", new_tool_id())
            block.setdefault("input", {})
        elif block.get("type") == "thinking" and not block.get("signature"):
            block["signature"] = sign_thinking(str(block.get("thinking", "")))
        elif block.get("type") == "text":
            block.setdefault("text", "")
        blocks.append(block)
    return blocks, stop_reason


def _block_output_tokens(block: dict[str, Any], model: str) -> int:
    kind = block.get("type")
    if kind == "text":
        return count_tokens_text(str(block.get("text", "")), model)
    if kind == "thinking":
        return count_tokens_text(str(block.get("thinking", "")), model)
    if kind == "tool_use":
        args = json.dumps(block.get("input", {}), ensure_ascii=False)
        return count_tokens_text(str(block.get("name", "")), model) + count_tokens_text(args, model)
    return count_tokens_text(json.dumps(block, ensure_ascii=False), model)


@dataclass
class FinalReply:
    """The reply after stop sequences and max_tokens were applied."""

    content: list[dict[str, Any]]
    stop_reason: str
    stop_sequence: str | None
    output_tokens: int


def _earliest_stop(text: str, stops: list[str]) -> tuple[int, str] | None:
    hits = [(text.find(s), s) for s in stops if s and s in text]
    return min(hits) if hits else None


def finalize(
    blocks: list[dict[str, Any]],
    stop_reason: str | None,
    *,
    max_tokens: int,
    stop_sequences: list[str],
    model: str,
) -> FinalReply:
    """Honour stop sequences and max_tokens; pick the stop reason; count output tokens."""
    if max_tokens == 0:
        return FinalReply([], "max_tokens", None, 0)
    content: list[dict[str, Any]] = []
    used = 0
    reason: str | None = None
    matched: str | None = None
    for block in blocks:
        block = dict(block)
        if block.get("type") == "text":
            hit = _earliest_stop(str(block.get("text", "")), stop_sequences)
            if hit is not None:
                block["text"] = str(block["text"])[: hit[0]]
                reason, matched = "stop_sequence", hit[1]
        cost = _block_output_tokens(block, model)
        if used + cost > max_tokens:
            remaining = max_tokens - used
            key = {"text": "text", "thinking": "thinking"}.get(str(block.get("type")))
            if key is not None:
                block[key] = truncate_to_tokens(str(block.get(key, "")), remaining, model)
                if key == "thinking":
                    block["signature"] = sign_thinking(block[key])
                if block[key]:
                    content.append(block)
                    used += _block_output_tokens(block, model)
            reason, matched = "max_tokens", None
            break
        used += cost
        if block.get("type") != "text" or block.get("text"):
            content.append(block)
        if reason == "stop_sequence":
            break
    if reason is None:
        has_tool = any(b.get("type") == "tool_use" for b in content)
        reason = stop_reason or ("tool_use" if has_tool else "end_turn")
    return FinalReply(content, reason, matched, max(1, used))
