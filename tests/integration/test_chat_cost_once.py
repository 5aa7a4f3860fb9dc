"""``cost`` counts every request the API billed exactly once: forks and imports reference
the spend they copy, summaries and interrupted replies are counted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chats import ChatMaker, message_requests, words

from claudechat import AsyncChat, Chat, Overloaded, StreamInterrupted
from claudechat.accounting import CostReport, store_cost_report
from claudechat.context import ContextEngine, strategy_policies
from claudechat.metadata import COPIED_FROM
from claudechat.models import model_prices
from claudechat.store.export import export_json, import_conversation
from claudechat.store.sqlite import SQLiteStore
from claudechat.testing import Emulator, EmuResponse, Fault
from claudechat.usage import Usage


class BillingEmulator(Emulator):
    """An emulator that keeps the usage of every reply it sent, as far as it was sent."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.bills: list[tuple[str, dict[str, Any]]] = []  # (model, usage sent)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> EmuResponse:
        response = super().handle(method, path, headers, body)
        if not path.startswith("/v1/messages") or "count_tokens" in path:
            return response
        if response.status != 200:
            return response
        model = json.loads(body)["model"]
        if isinstance(response.body, bytes):
            self.bills.append((model, json.loads(response.body)["usage"]))
        else:
            response.body = self._metered(model, response.body)
        return response

    def _metered(self, model: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
        usage: dict[str, Any] = {}
        self.bills.append((model, usage))
        for chunk in chunks:
            for line in chunk.decode().splitlines():
                if line.startswith("data: "):
                    data = json.loads(line[6:])
                    if data.get("type") == "message_start":
                        usage.update(data["message"]["usage"])
                    elif data.get("type") == "message_delta":
                        usage.update(data.get("usage") or {})
            yield chunk

    def billed(self) -> tuple[Usage, float]:
        usages = [(m, Usage.from_api(u)) for m, u in self.bills]
        total = sum((u for _, u in usages), Usage())
        cost = sum(u.cost_usd(m, model_prices) or 0.0 for m, u in usages)
        return total, cost


def _assert_billed(report: CostReport, emu: BillingEmulator) -> None:
    usage, cost = emu.billed()
    assert report.usage == usage
    assert report.cost_usd == pytest.approx(cost, rel=1e-12)


def _all(store: SQLiteStore) -> list[str]:
    return [info.conversation.id for info in store.list_conversations(limit=1000)]


def _chat_with_summaries(make_chat: ChatMaker, store: SQLiteStore) -> tuple[BillingEmulator, Chat]:
    """Eight long turns on the summary strategy and a small budget: enough for summaries
    (side requests on Haiku)."""
    emu = BillingEmulator()
    engine = ContextEngine(strategy_policies("summary"), budget=2_500)
    chat = make_chat(emu, store=store, context=engine)
    for i in range(8):
        chat.send(f"q{i} " + words(120, i))
    return emu, chat


def test_fork_export_import_and_summaries_are_counted_once(
    make_chat: ChatMaker, store: SQLiteStore, tmp_path: Path
) -> None:
    emu, chat = _chat_with_summaries(make_chat, store)
    assert chat.store.summaries(chat.id or "")
    assert {m for m, _ in emu.bills} == {"claude-sonnet-4-6", "claude-haiku-4-5"}
    _assert_billed(store_cost_report(store, _all(store)), emu)

    fork = chat.fork()
    fork.send("and in the fork?")
    imported = import_conversation(store, export_json(store, chat.id or ""))
    assert imported.id != chat.id  # the ids were taken: a copy
    copies = [m for m in store.all_messages(imported.id) if m.usage is not None]
    assert copies and all(m.metadata.get(COPIED_FROM) for m in copies)

    assert len(_all(store)) == 3
    _assert_billed(store_cost_report(store, _all(store)), emu)  # not 2x nor 3x
    own = store_cost_report(store, [imported.id])
    assert own.usage.requests == 0 and own.cost_usd == 0
    original = store_cost_report(store, [chat.id or ""])
    assert original.usage.requests > 8  # the replies and the summaries
    assert own.copied == original.usage
    forked = store_cost_report(store, [fork.id or ""])
    assert forked.copied == original.usage
    assert forked.usage.requests == len(emu.bills) - original.usage.requests  # its own only

    # Into another store, where nothing it copies is, the import carries all the spend.
    other = SQLiteStore(tmp_path / "other.db")
    import_conversation(other, export_json(store, fork.id or ""))
    moved = store_cost_report(other, _all(other))
    assert moved.usage == original.usage + forked.usage
    assert moved.copied.requests == 0


def test_an_interrupted_stream_is_counted_with_the_usage_that_arrived(
    make_chat: ChatMaker, store: SQLiteStore
) -> None:
    emu = BillingEmulator(reply=lambda request: "word " * 300)
    chat = make_chat(emu, store=store)
    chat.send("first")
    pieces = chat.stream("tell me a long story")
    next(pieces)
    pieces.close()  # the user stopped reading: Ctrl-C
    chat.send("shorter, please")
    report = store_cost_report(store, _all(store))
    assert report.usage.requests == 3
    assert chat.ledger.usage.requests == 3
    billed, _ = emu.billed()
    sent_in = billed.input_tokens + billed.cache_write_tokens + billed.cache_read_tokens
    assert report.usage.total_input_tokens == sent_in
    partial = [m for m in store.all_messages(chat.id or "") if m.status == "partial"]
    assert len(partial) == 1 and partial[0].usage is not None


def test_a_fork_keeps_the_summaries_it_copies_instead_of_paying_for_them_again(
    make_chat: ChatMaker, store: SQLiteStore
) -> None:
    emu, chat = _chat_with_summaries(make_chat, store)
    summary = store.summaries(chat.id or "")[-1]
    fork = chat.fork()
    bills = len(emu.bills)
    fork.send("short")
    assert [m for m, _ in emu.bills[bills:]] == ["claude-sonnet-4-6"]  # no summary request
    assert summary.text in message_requests(emu)[-1].body["system"][-1]["text"]
    copied = store.summaries(fork.id or "")[-1]
    assert copied.text == summary.text and copied.conversation_id == fork.id
    assert copied.last_id in {m.id for m in fork.history}


def test_a_closed_async_stream_is_counted_too(make_async_chat: Callable[..., AsyncChat]) -> None:
    async def run() -> None:
        emu = BillingEmulator(reply=lambda request: "word " * 300)
        chat = make_async_chat(emu)
        stream = chat.stream("a long story")
        await anext(stream)
        await stream.aclose()  # type: ignore[attr-defined]
        await chat.send("shorter")
        report = store_cost_report(chat.store, [chat.id or ""])
        assert report.usage.requests == chat.ledger.usage.requests == 2
        billed, _ = emu.billed()
        assert report.usage.total_input_tokens == billed.total_input_tokens

    asyncio.run(run())


def _summarised_chat(make_chat: ChatMaker, path: Path) -> tuple[BillingEmulator, SQLiteStore, Chat]:
    """A chat on the summary strategy with three turns, compacted into a summary."""
    emu = BillingEmulator()
    store = SQLiteStore(path)
    chat = make_chat(emu, store=store, context=ContextEngine(strategy_policies("summary")))
    for i in range(3):
        chat.send(f"q{i} " + words(60, i))
    chat.compact()
    return emu, store, chat


def test_a_summary_made_for_a_request_cut_short_is_still_counted(
    make_chat: ChatMaker, tmp_path: Path
) -> None:
    """The summary's cost is stored with the partial reply, not lost with the process."""
    emu, store, chat = _summarised_chat(make_chat, tmp_path / "c.db")
    emu.inject(Fault.drop(after_events=4), at_request=len(emu.requests) + 2)
    with pytest.raises(StreamInterrupted):
        for _ in chat.stream("the turn that is cut"):
            pass
    assert [m for m, _ in emu.bills[-2:]] == ["claude-haiku-4-5", "claude-sonnet-4-6"]
    _assert_billed(store_cost_report(store, _all(store)), emu)  # as a new process sees it


def test_a_summary_made_for_a_request_the_api_refused_is_still_counted(
    make_chat: ChatMaker, tmp_path: Path
) -> None:
    """Stored with the summary it made, so a process that ends on the error loses nothing."""
    emu, store, chat = _summarised_chat(make_chat, tmp_path / "c.db")
    emu.inject(Fault.status_error(529), at_request=len(emu.requests) + 2)
    with pytest.raises(Overloaded):
        chat.send("the turn the API refuses")
    assert [m for m, _ in emu.bills[-1:]] == ["claude-haiku-4-5"]
    summary = store.summaries(chat.id or "")[-1]
    assert summary.metadata["side_usage"][0]["model"] == "claude-haiku-4-5"
    _assert_billed(store_cost_report(store, _all(store)), emu)  # as a new process sees it
    chat.send("again")  # the next reply does not count that summary a second time
    _assert_billed(store_cost_report(store, _all(store)), emu)
