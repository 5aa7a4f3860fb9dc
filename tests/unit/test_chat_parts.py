"""The pure parts of a turn: prompt checks, the prefill stripper, reply messages, costs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claudechat import UserError
from claudechat.chat.checks import check_prompt
from claudechat.chat.fold import accumulate, end_of_stream, partial_reply, start_call
from claudechat.chat.fold import reply_message as response_message
from claudechat.chat.reply import Reply, TurnState
from claudechat.messages import Message
from claudechat.models.base import ModelResponse, TextDelta
from claudechat.store._markdown import title_from
from claudechat.usage import Usage


def _response(content: list[dict[str, Any]], stop: str = "end_turn") -> ModelResponse:
    return ModelResponse(
        id="msg_1", model="m", content=content, stop_reason=stop, usage=Usage(requests=1)
    )


def _text(t: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": t}] if t else []


# --- prompts ------------------------------------------------------------------------------


def test_check_prompt_accepts_text_and_blocks() -> None:
    assert check_prompt("hi") == [{"type": "text", "text": "hi"}]
    image = {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
    assert check_prompt([image, {"type": "text", "text": "what is it?"}])[0] == image


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("", "empty"),
        (" \n", "empty"),
        ([], "empty"),
        (3, "not int"),
        (b"bytes", "not bytes"),
        ([{"text": "no type"}], "block 0"),
        ([{"type": "text", "text": ""}], "block 0"),
        ([{"type": "tool_result", "tool_use_id": "x", "content": "r"}], "only tool results"),
    ],
)
def test_check_prompt_names_what_is_wrong(prompt: Any, message: str) -> None:
    with pytest.raises(UserError, match=message):
        check_prompt(prompt)


def test_title_from_the_first_line() -> None:
    assert title_from("\n\n  Plan a trip  \nto Oslo") == "Plan a trip"
    long = title_from("x" * 100)
    assert len(long) == 60 and long.endswith("…")


# --- prefill: what the stream shows is what is stored ------------------------------------

_prefixes = st.text(st.sampled_from("Dear Sir{[<-"), min_size=1, max_size=8).filter(
    lambda p: p == p.rstrip()
)
_replies = st.text(st.sampled_from("Dear Sir,{[<- x"), max_size=16)


def _chunks(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces, last = [], 0
    for p in [*points, len(text)]:
        pieces.append(text[last:p])
        last = p
    return pieces


def _streamed(prefix: str, sent: bool, chunks: list[str]) -> str:
    call, shown = start_call(prefix, prefill_sent=sent)
    for chunk in chunks:
        call, piece = accumulate(call, TextDelta(chunk))
        shown += piece
    call, rest = end_of_stream(call)
    return shown + rest


@given(_prefixes, _replies, st.lists(st.integers(0, 40), max_size=5), st.booleans())
def test_the_streamed_text_equals_the_stored_text(
    prefix: str, said: str, cuts: list[int], sent: bool
) -> None:
    streamed = _streamed(prefix, sent, _chunks(said, cuts))
    stored = response_message(
        _response(_text(said)), parent_id=None, model="m", prefill=prefix, prefill_sent=sent
    ).text
    assert streamed == stored
    assert stored.startswith(prefix)
    if sent:
        assert stored == prefix + said  # the API continued the prefill
    else:
        assert stored in (said, prefix + said, prefix)


def test_an_emulated_prefix_repeated_across_deltas_is_shown_once() -> None:
    assert _streamed("Dear Sir", False, ["De", "ar S", "ir, ", "hello"]) == "Dear Sir, hello"
    assert _streamed("Dear Sir", False, ["Hello"]) == "Dear SirHello"
    assert _streamed("[", True, ["[1]", "]"]) == "[[1]]"


# --- reply messages -----------------------------------------------------------------------


def test_a_tool_use_cut_by_max_tokens_is_dropped_and_kept_aside() -> None:
    cut = {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
    msg = response_message(
        _response([{"type": "text", "text": "calling"}, cut], stop="max_tokens"),
        parent_id="p",
        model="m",
    )
    assert msg.content == [{"type": "text", "text": "calling"}]
    assert msg.metadata["dropped_blocks"] == [cut]
    assert msg.stop_reason == "max_tokens" and msg.parent_id == "p"
    assert msg.metadata["api_id"] == "msg_1"


def test_a_complete_tool_use_is_kept() -> None:
    use = {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
    msg = response_message(_response([use], stop="tool_use"), parent_id=None, model="m")
    assert msg.tool_uses == [use]


def test_a_partial_message_keeps_only_text() -> None:
    cut = _response(
        [
            {"type": "thinking", "thinking": "half", "signature": ""},
            {"type": "text", "text": "so far"},
            {"type": "tool_use", "id": "t", "name": "f", "input": {}},
        ]
    )
    call, _ = start_call(None, prefill_sent=False)
    msg, usage = partial_reply(call, "connection lost", cut, parent_id=None, model="m")
    assert msg is not None and usage == cut.usage
    assert msg.content == [{"type": "text", "text": "so far"}] and msg.status == "partial"
    assert msg.metadata["interrupted"] == "connection lost"


def test_reply_flags() -> None:
    final = Message("assistant", [{"type": "text", "text": "cut"}], stop_reason="max_tokens")
    reply = Reply(final, [final], Usage(), 0.0)
    assert reply.truncated and not reply.partial and str(reply) == "cut"
    window = final.with_(stop_reason="model_context_window_exceeded")
    assert Reply(window, [window], Usage(), None).truncated
    partial = final.with_(status="partial", stop_reason=None)
    assert Reply(partial, [partial], Usage(), None).partial


def test_turn_cost_becomes_unknown_once_any_request_is_unpriced() -> None:
    state = TurnState()
    state.add_cost(Usage(input_tokens=10, requests=1), 0.5)
    state.add_cost(Usage(output_tokens=5, requests=1), 0.25)
    assert state.cost == pytest.approx(0.75)
    assert state.usage == Usage(input_tokens=10, output_tokens=5, requests=2)
    state.add_cost(Usage(requests=1), None)
    state.add_cost(Usage(requests=1), 1.0)
    assert state.cost is None
