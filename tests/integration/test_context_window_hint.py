"""The kept window start is a cache hint: crossing strategies never drops turns that fit."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from chats import ChatMaker, message_requests, sent_roles_and_texts, words

from claudechat import Chat
from claudechat.context import ContextEngine, ContextRequest, strategy_policies
from claudechat.metadata import WINDOW_START
from claudechat.store.sqlite import SQLiteStore
from claudechat.testing import Emulator


def _user_texts(chat: Chat) -> list[str]:
    return [m.text for m in chat.history if m.is_user_text]


def _sent_user_texts(emu: Emulator) -> list[str]:
    sent = sent_roles_and_texts(message_requests(emu)[-1])
    return [text for role, text in sent if role == "user" and text]


def _engine(strategy: str, budget: int | None = None) -> ContextEngine:
    return ContextEngine(strategy_policies(strategy), budget=budget)


def _resume(make_chat: ChatMaker, emu: Emulator, store: SQLiteStore, chat: Chat, **kw: Any) -> Chat:
    """``chat``'s conversation read back from the store, as a new process opens it."""
    return make_chat(emu, store=store, _conversation=store.get_conversation(chat.id or ""), **kw)


def _talked(
    make_chat: ChatMaker, strategy: str, turns: int, budget: int | None = None, **kw: Any
) -> tuple[Emulator, Chat]:
    """A new chat on ``strategy`` that has had ``turns`` long turns, and its emulator."""
    emu = Emulator()
    chat = make_chat(emu, context=_engine(strategy, budget), **kw)
    _talk(chat, turns, 0)
    return emu, chat


def _talk(chat: Chat, turns: int, seed: int) -> None:
    for i in range(turns):
        chat.send(f"q{seed + i} " + words(150, seed + i))


def test_a_compacted_summary_chat_resumed_with_the_window_sends_every_turn(
    make_chat: ChatMaker, store: SQLiteStore
) -> None:
    """The issue's journey: summary strategy, compact, one more turn; then the default."""
    emu, chat = _talked(make_chat, "summary", 8, store=store)
    chat.compact()
    _talk(chat, 1, 8)
    assert store.get_conversation(chat.id or "").metadata.get(WINDOW_START)  # the hint is kept
    assert len(_sent_user_texts(emu)) == 1  # the summary covers the rest of that request
    assert "conversation_summary" in message_requests(emu)[-1].body["system"][0]["text"]

    resumed = _resume(make_chat, emu, store, chat)
    resumed.send("and now?")
    assert _sent_user_texts(emu) == _user_texts(resumed)  # all ten turns, no summary
    assert len(_sent_user_texts(emu)) == 10


@pytest.mark.parametrize("first", ["window", "compact"])
def test_a_trimmed_window_resumed_with_a_larger_budget_sends_every_turn(
    make_chat: ChatMaker, store: SQLiteStore, first: str
) -> None:
    emu, chat = _talked(make_chat, first, 14, budget=3_000, store=store)
    assert len(_sent_user_texts(emu)) < 14  # it trimmed, and kept where
    assert store.get_conversation(chat.id or "").metadata.get(WINDOW_START)

    for strategy in ("window", "compact", "summary"):
        resumed = _resume(make_chat, emu, store, chat, context=_engine(strategy))
        resumed.send(f"after, with {strategy}")
        assert _sent_user_texts(emu) == _user_texts(resumed)


def test_a_trimmed_window_resumed_with_the_summary_strategy_covers_what_it_leaves_out(
    make_chat: ChatMaker, store: SQLiteStore
) -> None:
    emu, chat = _talked(make_chat, "window", 14, budget=3_000, store=store)
    big = _resume(make_chat, emu, store, chat, context=_engine("summary"))
    big.send("all of it fits now")
    assert _sent_user_texts(emu) == _user_texts(big)
    assert not store.summaries(big.id or "")  # nothing needed summarising

    small = _resume(make_chat, emu, store, chat, context=_engine("summary", 3_000))
    small.send("a small budget again")
    sent = _sent_user_texts(emu)
    assert sent == _user_texts(small)[-len(sent) :]
    summary = store.summaries(small.id or "")[-1]
    covered = [m.id for m in small.history]
    # Every user turn left out lies in the range the summary in the request covers.
    first_sent = next(m for m in small.history if m.is_user_text and m.text == sent[0])
    assert covered.index(summary.first_id) == 0
    assert covered.index(summary.last_id) == covered.index(first_sent.id) - 1
    assert "conversation_summary" in message_requests(emu)[-1].body["system"][0]["text"]


def test_the_hint_still_holds_while_the_turns_before_it_do_not_fit(make_chat: ChatMaker) -> None:
    """The cache-aware window keeps its start after a trim (the prefix stays cached)."""
    emu, _ = _talked(make_chat, "window", 12, budget=3_000)
    firsts = [sent_roles_and_texts(r)[0][1] for r in message_requests(emu)]
    changes = sum(1 for a, b in pairwise(firsts) if a != b)
    assert 1 <= changes <= 3  # trimmed in steps, not every turn


def test_a_stale_hint_that_keeps_less_than_a_fresh_trim_gives_way_to_it(
    make_chat: ChatMaker, store: SQLiteStore
) -> None:
    """After a compaction kept one turn, the window (same small budget) trims afresh."""
    emu, chat = _talked(make_chat, "summary", 10, budget=3_000, store=store)
    chat.compact()
    _talk(chat, 1, 10)
    resumed = _resume(make_chat, emu, store, chat, context=_engine("window", 3_000))
    resumed.send("go on")
    sent = _sent_user_texts(emu)
    fresh = _engine("window", budget=3_000).prepare(
        ContextRequest(model=resumed.info, max_tokens=resumed.max_tokens, system=[], tools=[],
                       history=resumed.history[:-1], dry_run=True)
    )  # fmt: skip
    fresh_texts = [m.text for m in fresh.candidate.history if m.is_user_text]
    # At least what a fresh trim on estimates keeps (the chat counts exactly before it drops
    # turns, so it may keep more).
    assert sent[len(sent) - len(fresh_texts) :] == fresh_texts
    assert len(sent) > 2


def test_a_window_start_the_store_cannot_keep_costs_a_warning_not_the_request(
    caplog: pytest.LogCaptureFixture, make_chat: ChatMaker
) -> None:
    from claudechat.errors import StoreError
    from claudechat.store.memory import MemoryStore

    class ReadOnlyMetadata(MemoryStore):
        def update_conversation(self, conversation_id: str, **kw: object) -> Any:
            raise StoreError("database is locked")

    emu = Emulator()
    store = ReadOnlyMetadata()
    chat = make_chat(emu, store=store, context=_engine("window", budget=3_000))
    with caplog.at_level("WARNING"):
        _talk(chat, 12, 0)
    assert len(_sent_user_texts(emu)) < 12  # it trimmed, and the requests were made
    assert chat.conversation is not None and WINDOW_START not in chat.conversation.metadata
    assert "could not keep the window start" in caplog.text
