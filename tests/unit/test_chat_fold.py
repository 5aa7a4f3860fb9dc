"""The per-call fold (chat/fold.py) over recorded event sequences.

The sequences are recorded from the real path: the SDK streaming from the emulator through
``AnthropicModel.stream``. Folding them must give what the chat shows and stores.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import Any

import pytest

from claudechat import Chat, StreamInterrupted
from claudechat.chat.fold import (
    MAX_PAUSES,
    Call,
    Next,
    accumulate,
    end_of_stream,
    next_step,
    partial_reply,
    reply_message,
    retry_after_overflow,
    start_call,
)
from claudechat.messages import Message
from claudechat.models import base as api
from claudechat.models.anthropic import AnthropicModel
from claudechat.models.base import ModelResponse, Request, StreamEvent
from claudechat.testing import Emulator, EmuReply, Fault, offline_client
from claudechat.usage import Usage

MODEL = "claude-sonnet-4-6"


def record(emu: Emulator, prompt: str = "hello", **request: Any) -> list[StreamEvent]:
    """The events the SDK yields for one streamed request to ``emu``, in order."""
    model = AnthropicModel(MODEL, client=offline_client(emu))
    req = Request(MODEL, 256, [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
                  **request)  # fmt: skip
    return list(model.stream(req))


def fold(
    events: list[StreamEvent], prefill: str | None = None, *, sent: bool = False
) -> tuple[Call, str]:
    call, shown = start_call(prefill, prefill_sent=sent)
    for event in events:
        call, piece = accumulate(call, event)
        shown += piece
    call, rest = end_of_stream(call)
    return call, shown + rest


def test_a_recorded_reply_folds_to_the_text_shown_and_the_message_stored() -> None:
    emu = Emulator(reply=lambda request: "Oslo is the capital of Norway.")
    events = record(emu)
    assert any(isinstance(e, api.TextDelta) for e in events) and isinstance(events[-1], api.Done)
    call, shown = fold(events)
    assert call.response is not None
    assert shown == call.text == "Oslo is the capital of Norway."
    assert call.usage is not None and call.usage.output_tokens > 0  # reported as it streamed
    message = reply_message(call.response, parent_id="u1", model=MODEL)
    assert message.text == shown and message.parent_id == "u1"
    assert message.usage == call.response.usage


def test_the_fold_is_pure_replaying_gives_the_same_result() -> None:
    events = record(Emulator(reply=lambda request: "one two three four"))
    first, shown = fold(events)
    again, shown_again = fold(events)
    assert (first.text, first.usage, shown) == (again.text, again.usage, shown_again)
    with pytest.raises(FrozenInstanceError):
        first.text = "changed"  # type: ignore[misc]


def test_an_emulated_prefill_the_model_repeats_is_shown_once() -> None:
    """A model that refuses prefill gets a hint and usually repeats it; the held start is
    compared with the prefill across deltas."""
    events = [
        api.TextDelta("Dea"),
        api.TextDelta("r Sir"),
        api.TextDelta(", hello"),
        api.UsageSoFar(Usage()),
    ]
    call, shown = fold(events, "Dear Sir", sent=False)
    assert shown == "Dear Sir, hello"
    response = ModelResponse("m1", MODEL, [{"type": "text", "text": call.text}], "end_turn",
                             Usage(requests=1))  # fmt: skip
    stored = reply_message(response, parent_id=None, model=MODEL, prefill="Dear Sir")
    assert stored.text == shown


def test_a_sent_prefill_is_continued_and_never_stripped() -> None:
    emu = Emulator(reply=lambda request: "1, 2, 3]")
    call, shown = fold(record(emu), "[", sent=True)
    assert shown == "[1, 2, 3]"
    assert call.response is not None
    stored = reply_message(call.response, parent_id=None, model=MODEL, prefill="[",
                           prefill_sent=True)  # fmt: skip
    assert stored.text == shown


def test_thinking_is_folded_but_not_shown() -> None:
    call, shown = fold([api.ThinkingDelta("let me see"), api.TextDelta("42")])
    assert shown == call.text == "42"


def test_a_cut_stream_keeps_what_arrived_as_a_partial_reply() -> None:
    emu = Emulator(reply=lambda request: "word " * 200)
    emu.inject(Fault.drop(after_events=12), at_request=1)
    call, _ = start_call(None, prefill_sent=False)
    model = AnthropicModel(MODEL, client=offline_client(emu))
    req = Request(MODEL, 1024, [{"role": "user", "content": [{"type": "text", "text": "go"}]}])
    with pytest.raises(StreamInterrupted) as cut:
        for event in model.stream(req):
            call, _ = accumulate(call, event)
    assert call.text and call.response is None
    message, usage = partial_reply(call, str(cut.value), cut.value.partial, parent_id="u1",
                                   model=MODEL)  # fmt: skip
    assert message is not None and message.status == "partial"
    assert message.text.startswith(call.text.strip()[:20])
    assert usage is not None and usage.requests  # billed although cut
    assert message.metadata["interrupted"] == str(cut.value)


def test_a_call_cut_before_any_text_leaves_no_message_but_its_usage() -> None:
    call, _ = fold([api.UsageSoFar(Usage(input_tokens=50, requests=1))])
    message, usage = partial_reply(call, "interrupted", None, parent_id=None, model=MODEL)
    assert message is None and usage == Usage(input_tokens=50, requests=1)


def test_overflow_is_retried_once_and_only_before_any_text() -> None:
    call, _ = start_call(None, prefill_sent=False)
    assert retry_after_overflow(call, 0)
    assert not retry_after_overflow(call, 1)
    shown, _ = accumulate(call, api.TextDelta("partial"))
    assert not retry_after_overflow(shown, 0)


def _message(stop: str, tool: bool = False) -> Message:
    content: list[dict[str, Any]] = [{"type": "text", "text": "x"}]
    if tool:
        content.append({"type": "tool_use", "id": "t1", "name": "f", "input": {}})
    return Message("assistant", content, stop_reason=stop)


def test_what_follows_a_reply() -> None:
    assert next_step(_message("end_turn"), 0) is Next.DONE
    assert next_step(_message("tool_use", tool=True), 0) is Next.RUN_TOOLS
    assert next_step(_message("tool_use"), 0) is Next.DONE  # no tool call to run
    assert next_step(_message("pause_turn"), 0) is Next.SEND_BACK
    assert next_step(_message("compaction"), MAX_PAUSES - 1) is Next.SEND_BACK
    assert next_step(_message("pause_turn"), MAX_PAUSES) is Next.DONE


def test_the_chat_stores_what_the_fold_makes_of_the_same_events() -> None:
    """The same reply through Chat: what it streams and stores is the fold's."""
    emu = Emulator(reply=lambda request: EmuReply("Tea, then a walk.", stop_reason="end_turn"))
    recorded = record(emu, "plan my morning")
    _, shown = fold(recorded)
    chat = Chat(MODEL, client=offline_client(emu))
    streamed = "".join(chat.stream("plan my morning"))
    assert streamed == shown
    assert chat.history[-1].text == shown and chat.history[-1].status == "complete"
