"""Request validation with the Messages API's own error messages."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._errors import invalid
from ._memory import validate_memory_tool
from ._models import ModelFacts
from ._prefix import content_blocks, system_blocks
from ._signature import verify_thinking
from ._thinking import validate_thinking

MAX_BREAKPOINTS = 4
TOOL_PATTERN = "^[a-zA-Z0-9_-]{1,128}$"
TOOL_NAME = re.compile(TOOL_PATTERN)
IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_IMAGE_BASE64 = 5 * 1024 * 1024  # bytes of base64 text per image
PREFILL_REFUSED = (
    "This model does not support assistant message prefill. "
    "The conversation must end with a user message."
)


@dataclass
class MergedMessage:
    """Consecutive same-role messages merged, as the API does, keeping original indices."""

    role: str
    index: int
    blocks: list[tuple[int, int, Any]] = field(default_factory=list)


def merge_messages(messages: list[Any]) -> list[MergedMessage]:
    """Merge consecutive same-role messages; blocks keep (message index, block index)."""
    merged: list[MergedMessage] = []
    for i, message in enumerate(messages):
        role = message["role"]
        if not merged or merged[-1].role != role:
            merged.append(MergedMessage(role=role, index=i))
        for j, block in enumerate(content_blocks(message["content"])):
            merged[-1].blocks.append((i, j, block))
    return merged


def validate_fields(body: dict[str, Any], *, need_max_tokens: bool) -> None:
    """Check the top-level fields' presence and types."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise invalid("model: Field required")
    if need_max_tokens:
        if "max_tokens" not in body:
            raise invalid("max_tokens: Field required")
        value = body["max_tokens"]
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid("max_tokens: Input should be a valid integer")
        if value < 0:
            raise invalid("max_tokens: Input should be greater than or equal to 0")
    if "messages" not in body:
        raise invalid("messages: Field required")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise invalid("messages: Input should be a valid list")
    if not messages:
        raise invalid("messages: at least one message is required")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"messages.{i}: Input should be a valid dictionary")
        if message.get("role") not in ("user", "assistant"):
            raise invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise invalid(f"messages.{i}.content: Field required")
        if not isinstance(message["content"], str | list):
            raise invalid(f"messages.{i}.content: Input should be a valid list")
        for j, block in enumerate(content_blocks(message["content"])):
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                raise invalid(f"messages.{i}.content.{j}.type: Field required")
    stops = body.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)
    ):
        raise invalid("stop_sequences: Input should be a valid list of strings")


def validate_content(messages: list[Any], system: Any) -> None:
    """Non-empty content and text blocks; thinking blocks carry an issued signature."""
    if messages[0]["role"] != "user":
        raise invalid('messages: first message must use the "user" role')
    for i, message in enumerate(messages):
        blocks = content_blocks(message["content"])
        last_assistant = i == len(messages) - 1 and message["role"] == "assistant"
        if (not blocks or message["content"] == "") and not last_assistant:
            raise invalid(
                f"messages.{i}: all messages must have non-empty content except for "
                "the optional final assistant message"
            )
        for j, block in enumerate(blocks):
            validate_sources(block, f"messages.{i}.content.{j}")
            if block["type"] == "text" and not block.get("text"):
                if message["content"] == "" and last_assistant:
                    continue
                raise invalid("messages: text content blocks must be non-empty")
            if block["type"] == "thinking":
                signature = block.get("signature")
                if not signature:
                    raise invalid(f"messages.{i}.content.{j}.thinking.signature: Field required")
                if not verify_thinking(str(block.get("thinking", "")), str(signature)):
                    raise invalid(
                        f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                    )
    for block in system_blocks(system):
        if isinstance(block, dict) and block.get("type") == "text" and not block.get("text"):
            raise invalid("system: text content blocks must be non-empty")


def validate_sources(block: dict[str, Any], where: str) -> None:
    """Base64 image and document data decodes, with a media type the API takes (also inside
    a tool_result's content)."""
    inner = block.get("content") if block["type"] == "tool_result" else None
    if isinstance(inner, list):
        for k, item in enumerate(inner):
            if isinstance(item, dict) and isinstance(item.get("type"), str):
                validate_sources(item, f"{where}.tool_result.content.{k}")
    source = block.get("source")
    if block["type"] not in ("image", "document") or not isinstance(source, dict):
        return
    if source.get("type") != "base64":
        return
    place = f"{where}.{block['type']}.source.base64"
    media = source.get("media_type")
    allowed = IMAGE_MEDIA_TYPES if block["type"] == "image" else ("application/pdf",)
    if media not in allowed:
        names = " or ".join(f"'{m}'" for m in allowed)
        raise invalid(f"{place}.media_type: Input should be {names}")
    data = source.get("data")
    try:
        if not isinstance(data, str) or not data:
            raise ValueError
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{place}.data: invalid base64 data") from None
    if block["type"] == "image" and len(data) > MAX_IMAGE_BASE64:
        raise invalid(
            f"{place}: image exceeds 5 MB maximum: {len(data)} bytes > {MAX_IMAGE_BASE64} bytes"
        )


def validate_tool_pairing(merged: list[MergedMessage]) -> None:
    """Every tool_use is answered in the next message; every tool_result has its tool_use."""
    for k, message in enumerate(merged):
        if message.role == "assistant":
            uses = [str(b.get("id")) for _, _, b in message.blocks if b["type"] == "tool_use"]
            following = merged[k + 1] if k + 1 < len(merged) else None
            answered = set()
            if following is not None:
                answered = {
                    b.get("tool_use_id")
                    for _, _, b in following.blocks
                    if b["type"] == "tool_result"
                }
            missing = [u for u in uses if u not in answered]
            if missing:
                raise invalid(
                    f"messages.{message.index}: `tool_use` ids were found without `tool_result` "
                    f"blocks immediately after: {', '.join(missing)}. Each `tool_use` block must "
                    "have a corresponding `tool_result` block in the next message."
                )
            continue
        previous = merged[k - 1] if k > 0 else None
        known = set()
        if previous is not None:
            known = {b.get("id") for _, _, b in previous.blocks if b["type"] == "tool_use"}
        for i, j, block in message.blocks:
            if block["type"] == "tool_result" and block.get("tool_use_id") not in known:
                raise invalid(
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                    f"blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a "
                    "corresponding `tool_use` block in the previous message."
                )


def _controls(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        control = value.get("cache_control")
        if isinstance(control, dict):
            yield control
        for key, item in value.items():
            if key != "cache_control":
                yield from _controls(item)
    elif isinstance(value, list):
        for item in value:
            yield from _controls(item)


def validate_cache_control(body: dict[str, Any]) -> None:
    """At most 4 breakpoints (top-level one included); 1h entries before 5m ones."""
    controls = [
        *_controls(body.get("tools") or []),
        *_controls(body.get("system") or []),
        *_controls(body.get("messages") or []),
    ]
    if isinstance(body.get("cache_control"), dict):
        controls.append(body["cache_control"])
    if len(controls) > MAX_BREAKPOINTS:
        raise invalid(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(controls)}."
        )
    seen_5m = False
    for control in controls:
        if control.get("type") != "ephemeral":
            raise invalid("cache_control.type: Input should be 'ephemeral'")
        ttl = control.get("ttl", "5m")
        if ttl not in ("5m", "1h"):
            raise invalid("cache_control.ttl: Input should be '5m' or '1h'")
        if ttl == "1h" and seen_5m:
            raise invalid(
                "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control "
                "block. Note that blocks are processed in the following order: `tools`, "
                "`system`, `messages`."
            )
        seen_5m = seen_5m or ttl == "5m"


def _canon_block(block: Any) -> str:
    if isinstance(block, dict):
        block = {k: v for k, v in block.items() if k != "cache_control"}
    return json.dumps(block, sort_keys=True, ensure_ascii=False)


def paused_key(content: list[Any]) -> tuple[str, ...]:
    """A reply's content as compared when it is sent back to continue a paused turn."""
    return tuple(_canon_block(b) for b in content)


def resumes_paused(last: MergedMessage, paused: Collection[tuple[str, ...]]) -> bool:
    """True when the trailing assistant message ends with the content of a reply that
    stopped on ``pause_turn`` (or ``compaction``): sent back as-is, it is continued."""
    if not paused:
        return False
    tail = paused_key([b for _, _, b in last.blocks])
    return any(p and tail[len(tail) - len(p) :] == p for p in paused)


def validate_prefill(
    merged: list[MergedMessage], facts: ModelFacts, paused: Collection[tuple[str, ...]] = ()
) -> None:
    """Refuse a trailing assistant message on models without prefill, unless it sends back
    a paused reply to be continued (what the API asks for after ``pause_turn``)."""
    last = merged[-1]
    if last.role != "assistant" or resumes_paused(last, paused):
        return
    if not facts.allows_prefill:
        raise invalid(PREFILL_REFUSED)
    texts = [b for _, _, b in last.blocks if b["type"] == "text"]
    if texts and str(texts[-1].get("text", "")) != str(texts[-1].get("text", "")).rstrip():
        raise invalid("messages: final assistant content cannot end with trailing whitespace")


def validate_settings(body: dict[str, Any], facts: ModelFacts) -> None:
    """max_tokens within the model's output cap; thinking budget and tool names sane."""
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and max_tokens > facts.max_output_tokens:
        raise invalid(
            f"max_tokens: {max_tokens} > {facts.max_output_tokens}, which is the maximum "
            f"allowed number of output tokens for {facts.name}"
        )
    thinking = body.get("thinking")
    validate_thinking(thinking, facts)
    validate_memory_tool(body.get("tools"))
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise invalid(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
            )
        if isinstance(max_tokens, int) and max_tokens and budget >= max_tokens:
            raise invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
    names = [t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)]
    for i, name in enumerate(names):
        if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
            raise invalid(f"tools.{i}.custom.name: String should match pattern '{TOOL_PATTERN}'")
    if len(names) != len(set(names)):
        raise invalid("tools: Tool names must be unique.")


def validate_request(
    body: dict[str, Any],
    facts: ModelFacts,
    *,
    need_max_tokens: bool,
    paused: Collection[tuple[str, ...]] = (),
) -> None:
    """Run every check a /v1/messages (or count_tokens) request must pass."""
    validate_fields(body, need_max_tokens=need_max_tokens)
    messages: list[Any] = body["messages"]
    validate_content(messages, body.get("system"))
    merged = merge_messages(messages)
    validate_tool_pairing(merged)
    validate_cache_control(body)
    if need_max_tokens:
        validate_prefill(merged, facts, paused)
    validate_settings(body, facts)
