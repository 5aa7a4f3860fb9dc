"""A summary never grows past its share of the budget, so it cannot leave a chat stuck."""

from __future__ import annotations

from pathlib import Path

from chats import ChatMaker, message_requests, words

from claudechat.context import ContextEngine, strategy_policies
from claudechat.context.base import summary_block
from claudechat.context.summary import SUMMARY_SYSTEM
from claudechat.store.sqlite import SQLiteStore
from claudechat.testing import Emulator, EmuRequest


def _is_summary(request: EmuRequest) -> bool:
    return any(b.get("text") == SUMMARY_SYSTEM for b in request.system)


def verbose_summaries(request: EmuRequest) -> str:
    """Summaries as long as max_tokens lets them be; short answers otherwise."""
    return words(6_000, request.number) if _is_summary(request) else "noted."


def _engine(budget: int) -> ContextEngine:
    return ContextEngine(strategy_policies("summary"), budget=budget)


def _summary_requests(emu: Emulator) -> list[dict[str, object]]:
    return [r.body for r in message_requests(emu) if r.body.get("max_tokens") and
            any(b.get("text") == SUMMARY_SYSTEM for b in r.body.get("system", []))]  # fmt: skip


def test_an_oversized_summary_reply_is_capped_and_every_turn_goes_through(
    make_chat: ChatMaker,
) -> None:
    emu = Emulator(reply=verbose_summaries)
    chat = make_chat(emu, context=_engine(2_000))
    for i in range(12):
        chat.send(f"q{i} " + words(120, i))  # no ContextOverflow, turn after turn
    asked = _summary_requests(emu)
    assert asked and all(int(str(body["max_tokens"])) <= 500 - 48 for body in asked)
    counter = chat.context.counter  # the counts the chat budgets with
    summaries = chat.store.summaries(chat.id or "")
    assert summaries
    assert all(counter.blocks_tokens([summary_block(s.text)]) <= 500 for s in summaries)


def test_a_stored_summary_larger_than_a_smaller_budget_is_redone_or_cut(
    make_chat: ChatMaker, tmp_path: Path
) -> None:
    emu = Emulator(reply=verbose_summaries)
    store = SQLiteStore(tmp_path / "c.db")
    chat = make_chat(emu, store=store, context=_engine(8_000))
    for i in range(30):
        chat.send(f"q{i} " + words(150, i))
    big = store.summaries(chat.id or "")[-1]
    counter = chat.context.counter
    assert counter.blocks_tokens([summary_block(big.text)]) > 600  # too big for 2,000

    small = make_chat(emu, store=store, context=_engine(2_000),
                      _conversation=store.get_conversation(chat.id or ""))  # fmt: skip
    for i in range(3):
        small.send(f"small {i} " + words(100, 100 + i))
    latest = store.summaries(chat.id or "")[-1]
    counter = small.context.counter
    assert counter.blocks_tokens([summary_block(latest.text)]) <= 500
    sent = message_requests(emu)[-1].body
    assert latest.text in sent["system"][-1]["text"]
