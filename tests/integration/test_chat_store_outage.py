"""A PostgreSQL outage while a reply is in flight: the reply the API answered (and billed)
is kept in memory, said so, and stored with the next write once the database is back."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chats import ChatMaker

from claudechat.errors import StoreError
from claudechat.store import SQLiteStore, Store
from claudechat.testing import Emulator, EmuRequest


class Outage:
    """Stops and restarts connections to the test database, as a server restart would."""

    def __init__(self, conninfo: str) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = conninfo_to_dict(conninfo)
        self.dbname = str(params["dbname"])
        params.update(dbname="postgres", options="")
        self.admin = psycopg.connect(make_conninfo("", **params), autocommit=True)

    def start(self) -> None:
        self.admin.execute(f'ALTER DATABASE "{self.dbname}" ALLOW_CONNECTIONS false')
        self.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (self.dbname,),
        )

    def end(self) -> None:
        self.admin.execute(f'ALTER DATABASE "{self.dbname}" ALLOW_CONNECTIONS true')


def wait_until_back(store: Store, cid: str) -> None:
    """Read until the store's pool has reconnected (it backs off while the server is down)."""
    for _ in range(60):  # each try waits up to the pool timeout: about two minutes at most
        try:
            store.get_conversation(cid)
            return
        except StoreError:
            pass
    raise AssertionError("the database did not come back")


@pytest.fixture
def outage(pg_database: str) -> Iterator[Outage]:
    o = Outage(pg_database)
    yield o
    o.end()
    o.admin.close()


@pytest.mark.postgres
@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
def test_a_reply_in_flight_survives_an_outage(
    make_chat: ChatMaker,
    pg_database: str,
    outage: Outage,
    stream: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from claudechat.store.postgres import PostgresStore

    def answer(request: EmuRequest) -> str:
        if request.last_user_text == "second":
            outage.start()  # the database goes down while the API answers
        return f"answer to {request.last_user_text}"

    store = PostgresStore(pg_database, timeout=2.0)
    chat = make_chat(Emulator(reply=answer), store=store)
    try:
        chat.send("first")
        cid = chat.id or ""
        with caplog.at_level(logging.WARNING, logger="claudechat"):
            if stream:
                shown = "".join(chat.stream("second"))
                assert shown == "answer to second"
            reply = chat.send("second") if not stream else chat.last_reply
        assert reply is not None and reply.text == "answer to second" and not reply.partial
        assert chat.unsaved == [reply.message]
        assert "kept in memory" in caplog.text
        with pytest.raises(StoreError):
            store.get_conversation(cid)  # still down
        outage.end()
        wait_until_back(store, cid)
        assert len(store.branch(cid)) == 3  # the reply is not stored yet: it waits in memory
        chat.send("third")  # the next write stores the held reply first
        assert chat.unsaved == []
        branch = store.branch(cid)
        assert [m.text for m in branch] == [
            "first", "answer to first", "second", "answer to second", "third", "answer to third",
        ]  # fmt: skip
        assert all(m.status == "complete" for m in branch)
        assert branch[3].usage == reply.message.usage  # the billed usage is kept too
    finally:
        store.close()


def test_a_tool_round_through_a_locked_database_keeps_every_message(
    make_chat: ChatMaker, tmp_path: Path
) -> None:
    """Another program holds SQLite's write lock from the tool call until the final answer:
    the tool call and its result wait in memory, and the final answer stores them first."""
    path = tmp_path / "chat.db"
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def answer(request: EmuRequest) -> Any:
        last = request.body["messages"][-1]["content"]
        if any(b.get("type") == "tool_result" for b in last if isinstance(b, dict)):
            locker.execute("ROLLBACK")  # the lock is gone before the final answer arrives
            return "the sum is 3"
        locker.execute("BEGIN IMMEDIATE")
        return [{"type": "tool_use", "name": "add", "input": {"a": 1, "b": 2}}]

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    store = SQLiteStore(path, busy_timeout=0.05)
    chat = make_chat(Emulator(reply=answer), store=store, tools=[add])
    try:
        reply = chat.send("one plus two?")
        assert reply.text == "the sum is 3" and chat.unsaved == []
        stored = store.branch(chat.id or "")
        assert [m.id for m in stored] == [m.id for m in chat.history]
        assert [m.role for m in stored] == ["user", "assistant", "user", "assistant"]
        assert stored[2].content[0]["type"] == "tool_result"
    finally:
        store.close()
        locker.close()


def test_a_user_message_the_store_refuses_leaves_no_lease_and_sends_nothing(
    tmp_path: Path,
) -> None:
    """The lease and the user message are one commit: when storing the message fails, the
    claim goes with it, nothing is sent, the chat is as before and the next turn works."""
    import anthropic

    from claudechat import Chat
    from claudechat.errors import ConcurrentUpdate

    emu = Emulator()
    store = SQLiteStore(tmp_path / "chats.db")
    client = anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=0)
    chat = Chat("claude-sonnet-4-6", client=client, store=store)
    chat.send("first")
    before = [m.id for m in chat.history]
    real_append = store.append
    failures = iter([StoreError("disk full")])

    def failing_append(*args: Any, **kw: Any) -> Any:
        error = next(failures, None)
        if error is not None:
            raise error
        return real_append(*args, **kw)

    store.append = failing_append  # type: ignore[method-assign]
    sent = len(emu.requests)
    with pytest.raises(StoreError, match="disk full"):
        chat.send("second")
    assert len(emu.requests) == sent  # nothing went upstream
    assert [m.id for m in chat.history] == before  # the chat is as before
    assert chat.id is not None
    assert [m.id for m in store.branch(chat.id)] == before  # and so is the store
    lease = store.claim_turn(chat.id, "another writer", ttl=30)  # nobody holds the turn
    assert lease.conversation_id == chat.id
    with pytest.raises(ConcurrentUpdate):
        chat.send("blocked while the other writer holds it")
    store.release_turn(chat.id, "another writer")
    reply = chat.send("third")
    assert [m.text for m in store.branch(chat.id)][-2:] == ["third", reply.text]
    store.close()
