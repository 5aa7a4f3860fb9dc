"""A budget larger than the server's window: "prompt is too long", one retry, recovery."""

from __future__ import annotations

import pytest
from chats import ChatMaker, assert_valid_request, message_requests, words

from claudechat import ContextOverflow
from claudechat.testing import Emulator

WINDOW = 1500


def _sizes(emu: Emulator) -> list[int]:
    return [emu.count_request_tokens(r.body) for r in message_requests(emu)]


def test_the_first_too_long_prompt_is_retried_trimmed_and_succeeds(make_chat: ChatMaker) -> None:
    emu = Emulator(context_window=WINDOW, reply=lambda r: "Noted.")
    chat = make_chat(emu, budget=2_500, max_tokens=256)
    turn = 0
    while max(_sizes(emu), default=0) <= WINDOW:  # until one request is refused
        chat.send(f"turn {turn}: " + words(40, seed=turn))
        turn += 1
    sizes = _sizes(emu)
    assert sizes[-2] > WINDOW >= sizes[-1]  # refused, then the trimmed retry went through
    assert chat.last_reply is not None and chat.last_reply.text == "Noted."
    retried = message_requests(emu)[-1]
    assert_valid_request(retried)
    assert retried.body["messages"][-1]["content"][0]["text"].startswith(f"turn {turn - 1}:")
    assert len(chat.history) == 2 * turn  # nothing was dropped from the store


def test_a_budget_far_above_the_window_keeps_working_turn_after_turn(make_chat: ChatMaker) -> None:
    emu = Emulator(context_window=WINDOW, reply=lambda r: "Noted.")
    chat = make_chat(emu, budget=20_000, max_tokens=256)
    for turn in range(40):  # about 2.5 windows of history
        assert chat.send(f"turn {turn}: " + words(40, seed=turn)).text == "Noted."
    sizes = _sizes(emu)
    refused = [s for s in sizes if s > WINDOW]
    assert 1 <= len(refused) <= 3  # the chat learns the server's limit
    assert sizes[-1] <= WINDOW
    for r in message_requests(emu):
        assert_valid_request(r)
    assert len(chat.history) == 80


def test_a_turn_that_cannot_fit_raises_context_overflow_with_sizes(make_chat: ChatMaker) -> None:
    emu = Emulator(context_window=WINDOW, reply=lambda r: "Noted.")
    chat = make_chat(emu, budget=20_000, max_tokens=256)
    chat.send("hello")
    huge = "huge: " + words(900, seed=1)
    with pytest.raises(ContextOverflow) as info:
        chat.send(huge)
    err = info.value
    assert err.tokens is not None and err.limit is not None and err.tokens > err.limit
    assert "too long" in str(err) or "budget" in str(err)
    assert chat.history[-1].text == huge  # kept in the store
    # The conversation goes on: the next request leaves the huge turn out and fits.
    assert chat.send("a short one").text == "Noted."
    last = message_requests(emu)[-1]
    assert_valid_request(last)
    assert emu.count_request_tokens(last.body) <= WINDOW


def test_the_streamed_prefix_appears_once_when_the_request_is_retried(make_chat: ChatMaker) -> None:
    emu = Emulator(context_window=WINDOW, reply=lambda r: "Sure thing.")
    chat = make_chat(emu, budget=2_500, max_tokens=256)
    turn = 0
    while sum(_sizes(emu)[-1:]) < WINDOW - 100:
        chat.send(f"turn {turn}: " + words(40, seed=turn))
        turn += 1
    before = len(message_requests(emu))
    pieces = list(chat.stream("one more: " + words(60, seed=99), prefill="Sure"))
    assert len(message_requests(emu)) - before == 2  # refused once, retried
    assert "".join(pieces) == "Sure thing."
    assert chat.last_reply is not None and chat.last_reply.text == "Sure thing."
