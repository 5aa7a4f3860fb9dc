"""A turn's commits on SQLite: the turn's last reply and the release of its lease go in one
commit (one wait for the disk, not two), a reply that the turn goes on from (a tool call)
keeps the lease, and a commit that fails keeps nothing of its block and loses nothing.

On a SQLite file ``send`` streams (so that the service's cancel can stop it), and a streamed
reply is stored as a partial message when its first words arrive: the reply's last write
is then the update of that row rather than an insert."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from chats import ChatMaker

from claudechat.errors import ConcurrentUpdate, StoreError
from claudechat.store import SQLiteStore
from claudechat.testing import Emulator, EmuRequest


def traced_transactions(store: SQLiteStore) -> list[list[str]]:
    """The statements of each transaction the store's writer connection commits from now
    on (the last list: the statements since the last COMMIT)."""
    transactions: list[list[str]] = [[]]

    def trace(sql: str) -> None:
        transactions[-1].append(sql)
        if sql == "COMMIT":
            transactions.append([])

    store._group.connection.set_trace_callback(trace)
    return transactions


def releases(statements: list[str]) -> bool:
    return any("lease_owner = NULL" in s for s in statements)


INSERTED = re.compile(r"INSERT INTO messages \(conversation_id, id,.*?VALUES \('[^']*', '([^']*)'")
REPLACED = re.compile(r"UPDATE messages SET content = .* WHERE id = '([^']*)'$", re.DOTALL)


def inserts(statements: list[str], message_id: str) -> bool:
    """True when the statements store the message: insert it (its id second among the
    values) or replace the partial message stored while it streamed."""
    return any(
        (m := INSERTED.match(s) or REPLACED.match(s)) and m.group(1) == message_id
        for s in statements
    )


def test_the_last_reply_and_the_turns_release_are_one_commit(
    make_chat: ChatMaker, store: SQLiteStore
) -> None:
    chat = make_chat(Emulator(), store=store)
    chat.send("first")
    transactions = traced_transactions(store)
    reply = chat.send("second")
    committed = transactions[:-1]
    assert transactions[-1] == []  # every write of the turn is committed
    together = [t for t in committed if releases(t)]
    assert len(together) == 1  # the turn was given back once
    assert inserts(together[0], reply.message.id)  # with its reply
    assert chat.id is not None
    assert [m.text for m in store.branch(chat.id)][-2:] == ["second", reply.text]
    store.claim_turn(chat.id, "another writer", ttl=30)  # nobody holds the turn


def test_a_tool_call_keeps_the_turn_and_the_final_answer_gives_it_back(
    make_chat: ChatMaker, store: SQLiteStore
) -> None:
    def answer(request: EmuRequest) -> Any:
        last = request.body["messages"][-1]["content"]
        if any(b.get("type") == "tool_result" for b in last if isinstance(b, dict)):
            return "the sum is 3"
        return [{"type": "tool_use", "name": "add", "input": {"a": 1, "b": 2}}]

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    chat = make_chat(Emulator(reply=answer), store=store, tools=make_chat.tools(add))
    transactions = traced_transactions(store)
    reply = chat.send("one plus two?")
    call, result, final = chat.history[1:]
    assert reply.text == "the sum is 3" and final.id == reply.message.id
    committed = transactions[:-1]
    assert not any(releases(t) for t in committed if inserts(t, call.id))
    assert not any(releases(t) for t in committed if inserts(t, result.id))
    given_back = [t for t in committed if releases(t)]
    assert len(given_back) == 1 and inserts(given_back[0], final.id)
    assert given_back[0] is [t for t in committed if inserts(t, final.id)][-1]


@contextmanager
def failing_last_commit(store: SQLiteStore) -> Iterator[dict[str, bool]]:
    """Makes the next transaction that releases a turn fail as a commit would (a full disk):
    the block is rolled back whole and the transaction raises StoreError."""
    real_transaction, real_release = store.transaction, store.release_turn
    state = {"armed": True, "released": False}

    def release_turn(conversation_id: str, owner: str) -> None:
        state["released"] = True
        real_release(conversation_id, owner)

    @contextmanager
    def transaction() -> Iterator[None]:
        with real_transaction():
            state["released"] = False
            yield
            if state["armed"] and state["released"]:
                state["armed"] = False
                raise StoreError("database or disk is full (at COMMIT)")

    store.transaction = transaction  # type: ignore[method-assign]
    store.release_turn = release_turn  # type: ignore[method-assign]
    try:
        yield state
    finally:
        store.transaction = real_transaction  # type: ignore[method-assign]
        store.release_turn = real_release  # type: ignore[method-assign]


def test_a_failed_commit_of_the_last_reply_holds_it_and_still_gives_the_turn_back(
    make_chat: ChatMaker, store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing of the failed transaction is kept, nothing is lost: the reply waits in memory
    (as after any failed write), the turn is given back on its own, and the next turn
    stores the held reply first."""
    chat = make_chat(Emulator(reply=lambda r: f"answer to {r.last_user_text}"), store=store)
    chat.send("first")
    cid = chat.id
    assert cid is not None
    with failing_last_commit(store) as state, caplog.at_level(logging.WARNING):
        reply = chat.send("second")
    assert not state["armed"]  # the failure did happen
    assert reply.text == "answer to second" and chat.unsaved == [reply.message]
    assert "kept in memory" in caplog.text
    stored = store.branch(cid)
    assert [m.text for m in stored[:3]] == ["first", "answer to first", "second"]
    assert all(m.status == "partial" for m in stored[3:])  # at most what streamed in
    store.claim_turn(cid, "another writer", ttl=30)  # the turn was given back all the same
    with pytest.raises(ConcurrentUpdate):
        chat.send("refused while the other writer holds the turn")
    store.release_turn(cid, "another writer")
    chat.send("third")
    assert chat.unsaved == []
    assert [m.text for m in store.branch(cid)] == [
        "first", "answer to first", "second", "answer to second", "third", "answer to third",
    ]  # fmt: skip
    store.claim_turn(cid, "another writer", ttl=30)


def test_a_conversation_deleted_during_the_reply_still_raises(
    make_chat: ChatMaker, store: SQLiteStore
) -> None:
    """A store error of the reply's own write (not of the commit) is raised as before."""
    from claudechat.errors import ConversationNotFound

    holder: dict[str, Any] = {}

    def answer(request: EmuRequest) -> str:
        if request.last_user_text == "second":
            store.delete_conversation(holder["cid"])
        return "an answer"

    chat = make_chat(Emulator(reply=answer), store=store)
    chat.send("first")
    holder["cid"] = chat.id
    with pytest.raises(ConversationNotFound):
        chat.send("second")
