"""The context engine through the real SDK and the emulator: exact counts and cache hits."""

from __future__ import annotations

import math
from typing import Any

import anthropic
import pytest

from claudechat.context import ContextEngine, ContextRequest, RollingSummary, TokenWindow
from claudechat.messages import Message, user, validate
from claudechat.models.anthropic import AnthropicModel
from claudechat.models.base import Request
from claudechat.models.capabilities import model_info
from claudechat.testing import Emulator
from claudechat.tokens import TokenAccountant

NAME = "claude-sonnet-4-6"
INFO = model_info(NAME)
SYSTEM = [{"type": "text", "text": "You are a careful assistant for a data team. " * 150}]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup() -> tuple[Emulator, AnthropicModel, Clock]:
    clock = Clock()
    emu = Emulator(clock=clock)
    client = anthropic.Anthropic(api_key="test", http_client=emu.http_client(), max_retries=0)
    return emu, AnthropicModel(NAME, client=client), clock


def question(i: int) -> str:
    return f"Question {i}: how do the figures for region {i % 7} compare with last year? " * (
        3 + i % 5
    )


def run_turns(
    emu: Emulator,
    model: AnthropicModel,
    clock: Clock,
    engine: ContextEngine,
    turns: int,
    **kw: Any,
) -> tuple[list[Message], list[Any]]:
    history: list[Message] = []
    usages = []
    for i in range(turns):
        history.append(user(question(i)))
        request = ContextRequest(model=INFO, max_tokens=512, system=SYSTEM, tools=[],
                                 history=history)  # fmt: skip
        prepared = engine.prepare(request, **kw)
        validate(prepared.request.messages)
        response = model.create(prepared.request)
        engine.observe(prepared, response)
        assert prepared.exact_tokens == emu.count_request_tokens(prepared.request.to_api())
        history.append(Message("assistant", response.content, usage=response.usage))
        usages.append(response.usage)
        clock.now += 30
    return history, usages


def test_learned_counts_match_the_emulator_exactly(setup: Any) -> None:
    emu, model, clock = setup
    engine = ContextEngine(counter=TokenAccountant(use_ctok=False), budget=50_000)
    history, _ = run_turns(emu, model, clock, engine, 6)
    # Everything in the next request but the new question was sent before: its count is
    # known exactly, so the estimate is exact up to the new message alone.
    again = engine.prepare(
        ContextRequest(model=INFO, max_tokens=512, system=SYSTEM, tools=[],
                       history=history[:-1], dry_run=True)
    )  # fmt: skip
    assert again.estimated_tokens == emu.count_request_tokens(again.request.to_api())
    nxt = [*history, user(question(6))]
    guess = engine.prepare(
        ContextRequest(model=INFO, max_tokens=512, system=SYSTEM, tools=[], history=nxt,
                       dry_run=True)
    )  # fmt: skip
    exact = emu.count_request_tokens(guess.request.to_api())
    assert abs(guess.estimated_tokens - exact) <= max(3, exact * 0.01)


def test_cache_hits_across_turns_and_the_window_trims_in_steps(setup: Any) -> None:
    emu, model, clock = setup
    engine = ContextEngine([TokenWindow(low_water=0.5)], budget=4000)
    _, usages = run_turns(emu, model, clock, engine, 30)
    total = sum(u.total_input_tokens for u in usages)
    read = sum(u.cache_read_tokens for u in usages)
    assert read / total > 0.75
    trims = [i for i, u in enumerate(usages) if u.cache_read_tokens < usages[0].total_input_tokens]
    # Apart from the first request, only trims miss the message cache; the system survives.
    assert 0 < len(trims) <= 8
    assert all(u.total_input_tokens <= 4000 for u in usages)
    assert all(u.cache_read_tokens >= 1000 for u in usages[1:])


def test_rolling_summary_with_the_emulated_summary_model(setup: Any) -> None:
    emu, model, clock = setup
    calls: list[str] = []

    def complete(request: Request) -> str:
        calls.append(request.model)
        haiku = AnthropicModel(request.model, client=setup[1].client)
        reply = haiku.create(request)
        return "".join(b.get("text", "") for b in reply.content)

    engine = ContextEngine([RollingSummary(max_summary_tokens=400)], budget=3500)
    _, usages = run_turns(emu, model, clock, engine, 14, complete=complete)
    assert calls and set(calls) == {"claude-haiku-4-5"}
    last = emu.requests[-1].body
    assert "<conversation_summary>" in last["system"][1]["text"]
    assert all(u.total_input_tokens <= 3500 for u in usages)


def test_a_chat_learns_each_message_exactly_with_replies_taught_by_output_tokens(
    setup: Any,
) -> None:
    from claudechat import Chat

    emu, model, clock = setup
    counter = TokenAccountant(use_ctok=False)
    engine = ContextEngine(counter=counter, budget=50_000)
    chat = Chat(model, system=SYSTEM, context=engine, thinking="off")  # replies of text only
    for i in range(4):
        chat.send(question(i))
        clock.now += 30
    sent = emu.requests[-1].body
    assert len(sent["messages"]) == len(chat.history) - 1
    assert engine.last is not None and engine.last.exact_tokens == (emu.count_request_tokens(sent))
    # The last request held every message: each one's learned count (after the first,
    # which shared its request with the system prompt) is what it adds to the emulator's
    # count of the request.
    for k, m in enumerate(chat.history[:-1]):
        assert counter.is_exact(counter.message_key(m))
        if k == 0:
            continue
        before = emu.count_request_tokens({**sent, "messages": sent["messages"][:k]})
        after = emu.count_request_tokens({**sent, "messages": sent["messages"][: k + 1]})
        assert counter.message_tokens(m) == after - before, m.text[:40]


def test_a_reply_that_is_not_the_response_as_is_is_not_counted_by_output_tokens(
    setup: Any,
) -> None:
    from claudechat import Chat

    _emu, model, _clock = setup
    counter = TokenAccountant(use_ctok=False)
    chat = Chat(model, context=ContextEngine(counter=counter, budget=50_000), thinking="off")
    chat.send(question(0))
    reply = chat.send(question(1), prefill="Answer:")
    assert reply.text.startswith("Answer:")
    output = reply.message.usage.output_tokens if reply.message.usage else 0
    # The stored text starts with the emulated prefill the output tokens did not count:
    # the reply is estimated offline until a request teaches its count.
    key = counter.message_key(reply.message)
    scale = counter.scale.get(counter.family, 1.0)
    assert not counter.is_exact(key)
    assert counter.message_tokens(reply.message) == math.ceil(counter.estimate_of(key) * scale)
    assert counter.message_tokens(reply.message) != 4 + 1 + output


def test_a_chat_resumed_elsewhere_starts_its_window_where_the_trimmed_one_did(
    setup: Any,
) -> None:
    """``claudechat ask -c`` runs a process per turn: the window start is kept in the
    conversation's metadata, so the resumed chat sends the same prefix and hits the cache."""
    from claudechat import Chat
    from claudechat.metadata import WINDOW_START
    from claudechat.store.memory import MemoryStore

    emu, model, clock = setup
    store = MemoryStore()

    def fresh() -> ContextEngine:
        return ContextEngine([TokenWindow(low_water=0.6)], budget=4_000)

    chat = Chat(model, store=store, context=fresh(), system=SYSTEM[0]["text"])
    for i in range(18):
        chat.send(question(i))
        clock.now += 30
    window = chat.context.policies[0]
    assert isinstance(window, TokenWindow)
    start = window.start_of(chat.id)
    assert start is not None and start != chat.history[0].id  # it trimmed
    assert store.get_conversation(chat.id).metadata[WINDOW_START] == start
    first_sent = emu.requests[-1].body["messages"][0]

    resumed = Chat.resume(chat.id, store=store, model=model, context=fresh())
    reply = resumed.send(question(18))
    assert emu.requests[-1].body["messages"][0] == first_sent  # the same prefix
    assert reply.usage.cache_read_tokens > 0

    # Without the kept start, a resumed window trims from scratch, elsewhere.
    meta = dict(store.get_conversation(chat.id).metadata)
    del meta[WINDOW_START]
    store.update_conversation(chat.id, metadata=meta)
    blank = Chat.resume(chat.id, store=store, model=model, context=fresh())
    blank.send(question(19))
    assert emu.requests[-1].body["messages"][0] != first_sent
