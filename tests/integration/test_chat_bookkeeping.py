"""Costs that happen beside the reply (summaries) are stored; a fork keeps its settings."""

from __future__ import annotations

import pytest
from chats import ChatMaker

from claudechat import ContextEngine, strategy_policies
from claudechat.accounting import store_cost_report
from claudechat.store.memory import MemoryStore
from claudechat.testing import Emulator, EmuRequest


def _reply(request: EmuRequest) -> str:
    if request.model == "claude-haiku-4-5":
        return "Summary: the user listed numbers."
    return "noted " + " ".join(["word"] * 60)


def test_summary_cost_is_stored_with_the_summary_and_counted_by_the_cost_report(
    make_chat: ChatMaker,
) -> None:
    emu = Emulator(reply=_reply)
    store = MemoryStore()
    engine = ContextEngine(strategy_policies("summary"), budget=1500)
    chat = make_chat(emu, store=store, context=engine)
    for i in range(12):
        chat.send(f"item {i}: " + " ".join(["number"] * 40))
    summaries = [e for e in chat.ledger.entries if e.purpose == "summary"]
    assert summaries, "the budget is small enough that a summary must be written"
    kept = store.summaries(chat.id)
    side = [s for summary in kept for s in summary.metadata.get("side_usage", ())]
    assert len(side) == len(summaries)
    assert all(s["model"] == "claude-haiku-4-5" for s in side)
    assert not any(m.metadata.get("side_usage") for m in store.all_messages(chat.id))
    report = store_cost_report(store, [chat.id])
    assert report.cost_usd == pytest.approx(chat.ledger.cost_usd)
    assert report.by_purpose["summary"] == pytest.approx(sum(e.cost_usd or 0 for e in summaries))


def test_fork_keeps_the_context_strategy_and_summary_model(make_chat: ChatMaker) -> None:
    emu = Emulator()
    engine = ContextEngine(
        strategy_policies("summary"), budget=5000, summary_model="claude-haiku-4-5"
    )
    chat = make_chat(emu, context=engine, summary_model="claude-haiku-4-5")
    chat.send("hello")
    child = chat.fork()
    assert child.context is chat.context
    assert child.summary_model == "claude-haiku-4-5"
    assert child.id != chat.id and [m.text for m in child.history] == [m.text for m in chat.history]
