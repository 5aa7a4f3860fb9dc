"""One model call as a pure fold over its stream events, and the decisions after it.

In the style of the SDK's ``accumulate_event``: a ``Call`` is the state of one request's
reply so far, and ``accumulate(call, event)`` returns the next state with the text to show
for that event. Nothing here waits, stores or reads the clock, so the sync and the async
chat run the same fold, and a recorded event sequence can be replayed in a test:

    call, shown = start_call(prefill, prefill_sent=info.prefill)
    for event in model.stream(request):
        call, piece = accumulate(call, event)
    call, rest = end_of_stream(call)
    message = reply_message(call.response, ...)            # or, when cut:
    message = partial_reply(call, reason, partial, ...)

A prefill the API continues (``prefill_sent``) is shown first and stored in front of the
reply. An emulated one (a hint for models that refuse prefill) is shown first too; the
model usually repeats it, so the reply's start is held back until it is clear whether it
does, and the repeat is not shown twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from ..messages import Block, Message, new_id, sendable_content
from ..metadata import (
    API_ID,
    CACHE_MISS_REASON,
    CACHE_MISSED_TOKENS,
    CONTEXT_MANAGEMENT,
    DROPPED_BLOCKS,
    IN_FLIGHT,
    INTERRUPTED,
)
from ..models.base import Done, ModelResponse, StreamEvent, TextDelta, UsageSoFar
from ..usage import Usage

__all__ = [
    "MAX_PAUSES",
    "Call",
    "Next",
    "accumulate",
    "end_of_stream",
    "next_step",
    "partial_reply",
    "reply_message",
    "retry_after_overflow",
    "start_call",
]

MAX_PAUSES = 8  # pause_turn continuations of one turn before it is ended
_PAUSED = ("pause_turn", "compaction")  # stopped early; compaction: pause_after_compaction
_CUT = ("max_tokens", "model_context_window_exceeded")


@dataclass(frozen=True, slots=True)
class Call:
    """One request's reply so far."""

    message_id: str  # the id the reply is stored under (checkpoints included)
    prefill: str | None = None  # the turn's prefill, on its first request only
    prefill_sent: bool = False  # True: the API continues it; False: a hint asked for it
    text: str = ""  # every text delta so far
    held: str = ""  # text not shown yet: it may be the model repeating the prefill
    deciding: bool = False  # still comparing the reply's start with an emulated prefill
    usage: Usage | None = None  # what the stream reported so far (billed even when cut)
    response: ModelResponse | None = None  # the whole reply, once the stream is done


def start_call(
    prefill: str | None, *, prefill_sent: bool, message_id: str | None = None
) -> tuple[Call, str]:
    """A new call and the text to show before any event (the prefill, if any)."""
    call = Call(
        message_id or new_id(),
        prefill=prefill,
        prefill_sent=prefill_sent,
        deciding=bool(prefill) and not prefill_sent,
    )
    return call, prefill or ""


def accumulate(call: Call, event: StreamEvent) -> tuple[Call, str]:
    """The call after ``event``, and the text to show for it."""
    if isinstance(event, TextDelta):
        text = call.text + event.text
        if not call.deciding:
            return replace(call, text=text), event.text
        held = call.held + event.text
        prefix = call.prefill or ""
        if prefix.startswith(held) and len(held) < len(prefix):
            return replace(call, text=text, held=held), ""  # may still be the repeat
        shown = held[len(prefix) :] if held.startswith(prefix) else held
        return replace(call, text=text, held="", deciding=False), shown
    if isinstance(event, UsageSoFar):
        return replace(call, usage=event.usage), ""
    if isinstance(event, Done):
        return replace(call, response=event.response), ""
    return call, ""  # thinking is not shown


def end_of_stream(call: Call) -> tuple[Call, str]:
    """The held text, shown when the stream ends (unless it was only the repeated prefill)."""
    if not call.deciding:
        return call, ""
    held = call.held
    shown = "" if (call.prefill or "").startswith(held) else held
    return replace(call, held="", deciding=False), shown


def retry_after_overflow(call: Call, attempt: int) -> bool:
    """True when a "prompt is too long" answer should be retried, trimmed further: once per
    call, and only before any text was shown."""
    return attempt == 0 and not call.text


# --- the messages a call leaves ------------------------------------------------------------


def reply_message(
    response: ModelResponse,
    *,
    parent_id: str | None,
    model: str,
    prefill: str | None = None,
    prefill_sent: bool = False,
    message_id: str | None = None,
) -> Message:
    """The assistant Message to store for a complete response.

    A prefill sent to the API is continued by the response, so it is always prepended; an
    emulated one only when the model did not repeat it (as the stream shows it: a repeat
    cut short counts as a repeat). A tool call cut by max_tokens can neither run nor be
    answered: it is kept aside in the metadata, not in the content.
    """
    content, dropped = _clean_content(response.content, response.stop_reason)
    if prefill:
        content = _with_prefill(content, prefill, prefill_sent)
    meta: dict[str, Any] = {}
    if dropped:
        meta[DROPPED_BLOCKS] = dropped
    if response.cache_miss_reason:
        meta[CACHE_MISS_REASON] = response.cache_miss_reason
    if response.cache_missed_tokens is not None:
        meta[CACHE_MISSED_TOKENS] = response.cache_missed_tokens
    if response.id:
        meta[API_ID] = response.id
    if response.context_management:
        meta[CONTEXT_MANAGEMENT] = response.context_management
    return Message(
        role="assistant",
        content=content or [{"type": "text", "text": "(empty reply)"}],
        id=message_id or new_id(),
        parent_id=parent_id,
        model=response.model or model,
        usage=response.usage if response.usage.requests else None,
        stop_reason=response.stop_reason,
        metadata=meta,
    )


def partial_reply(
    call: Call,
    reason: str,
    partial: ModelResponse | None,
    *,
    parent_id: str | None,
    model: str,
) -> tuple[Message | None, Usage | None]:
    """What is kept of a cut call: the partial message (None when no text arrived) and the
    usage to bill (what the stream or the cut response reported; None when none).

    Only what a partial reply can send back is kept (``sendable_content``: its text, not a
    half thinking block or tool call): what the stream showed, or the cut response's text
    when that holds more.
    """
    content: list[Block] = [{"type": "text", "text": call.text}] if call.text else []
    usage = call.usage
    if partial is not None:
        texts = sendable_content(Message("assistant", partial.content, status="partial"))
        if sum(len(b["text"]) for b in texts) >= len(call.text):
            content = texts
        if partial.usage.requests:
            usage = partial.usage
    if call.prefill and content:
        content = _with_prefill(content, call.prefill, call.prefill_sent)
    if not content:
        return None, usage
    message = Message(
        "assistant",
        content,
        id=call.message_id,
        parent_id=parent_id,
        model=model,
        usage=usage,
        status="partial",
        metadata={INTERRUPTED: reason},
    )
    return message, usage


def checkpoint_message(call: Call, *, model: str) -> Message:
    """The reply so far as a partial message, stored while it streams (a crash keeps it)."""
    return Message(
        "assistant",
        [{"type": "text", "text": call.text}],
        id=call.message_id,
        model=model,
        status="partial",
        metadata={IN_FLIGHT: True},
    )


def _clean_content(
    content: list[Block], stop_reason: str | None
) -> tuple[list[Block], list[Block]]:
    """Content safe to store and resend, and the blocks that had to be dropped."""
    kept: list[Block] = []
    dropped: list[Block] = []
    for b in content:
        kind = b.get("type")
        if kind == "text" and not b.get("text"):
            continue
        if kind == "tool_use" and stop_reason in _CUT:
            dropped.append(b)  # cut mid-call: it can neither run nor be answered
            continue
        kept.append(b)
    return kept, dropped


def _with_prefill(content: list[Block], prefill: str, sent: bool) -> list[Block]:
    """The content with the prefill in front of its first text (a new list)."""
    content = list(content)
    first = next((i for i, b in enumerate(content) if b.get("type") == "text"), None)
    if first is None:
        return [{"type": "text", "text": prefill}, *content]
    text = content[first]["text"]
    if sent or not text.startswith(prefill):
        repeat_cut = not sent and prefill.startswith(text)  # e.g. cut by max_tokens
        content[first] = {**content[first], "text": prefill if repeat_cut else prefill + text}
    return content


# --- after a reply ---------------------------------------------------------------------------


class Next(Enum):
    """What a turn does after a reply."""

    DONE = "done"
    SEND_BACK = "send back"  # a paused turn: the API continues the reply when it is sent back
    RUN_TOOLS = "run tools"


def next_step(message: Message, pauses: int) -> Next:
    """After ``message``, given the pauses the turn made so far."""
    if message.stop_reason in _PAUSED:
        return Next.SEND_BACK if pauses < MAX_PAUSES else Next.DONE
    if message.stop_reason == "tool_use" and message.tool_uses:
        return Next.RUN_TOOLS
    return Next.DONE
