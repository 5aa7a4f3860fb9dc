"""A turn sent by the library or the CLI stops when someone asks, through the store, to
stop it (the service's cancel: the web chat's stop button on a turn another client sent).
The streaming chat reads the stop mark every ``STOP_CHECK_SECONDS`` under its turn lease,
keeps what arrived as a partial reply, gives the turn back and raises TurnStopped. On such a
shared store ``send`` streams too, so that its turns stop the same way."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anthropic
import pytest
from chats import message_requests

from claudechat import AsyncChat, Chat
from claudechat.chat import base
from claudechat.errors import StoreError, TurnStopped
from claudechat.store import SQLiteStore, Store
from claudechat.testing import Emulator, EmulatorServer, EmuRequest, serve

STORY = " ".join(f"word{i}" for i in range(400))


def _story(request: EmuRequest) -> str:
    return STORY if "story" in request.last_user_text else "ok"


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    """An emulator streaming a long reply, one word every 5 ms (two seconds in all)."""
    running = serve(Emulator(reply=_story), "127.0.0.1", 0, token_delay=0.005)
    yield running
    running.shutdown()


@pytest.fixture(autouse=True)
def quick_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "STOP_CHECK_SECONDS", 0.05)


def _sync_chat(path: Path, server: EmulatorServer, **options: object) -> Chat:
    client = anthropic.Anthropic(api_key="t", base_url=server.url, max_retries=0)
    return Chat(store=SQLiteStore(path), client=client, thinking="off", **options)  # type: ignore[arg-type]


def _stored(path: Path, cid: str) -> list[tuple[str, str, str]]:
    with SQLiteStore(path) as store:
        return [(m.role, m.status, m.text) for m in store.branch(cid)]


def test_a_stop_asked_through_the_store_ends_the_stream_and_keeps_the_partial_reply(
    tmp_path: Path, server: EmulatorServer
) -> None:
    path = tmp_path / "chat.db"
    chat = _sync_chat(path, server)
    chat.send("hello")
    cid = chat.id
    assert cid is not None
    shown: list[str] = []
    with pytest.raises(TurnStopped, match="stopped from another client"):
        for piece in chat.stream("tell me a story"):
            shown.append(piece)
            if len(shown) == 1:
                with SQLiteStore(path) as other:  # the service's cancel, another connection
                    assert other.request_stop(cid) is True
    stored = _stored(path, cid)
    assert [(role, status) for role, status, _ in stored[2:]] == [
        ("user", "complete"),
        ("assistant", "partial"),
    ]
    partial = stored[-1][2]
    assert partial == "".join(shown) and STORY.startswith(partial) and partial != STORY
    with SQLiteStore(path) as other:  # the turn was given back, its stop mark with it
        other.claim_turn(cid, "someone else", ttl=5)
        assert other.stop_requested(cid) is False
        other.release_turn(cid, "someone else")
    assert chat.send("and then?").text == "ok"


def test_a_stop_asked_for_an_async_chat_s_turn_ends_it_the_same_way(
    tmp_path: Path, server: EmulatorServer
) -> None:
    path = tmp_path / "chat.db"

    async def run() -> tuple[str, list[str], str]:
        async with anthropic.AsyncAnthropic(
            api_key="t", base_url=server.url, max_retries=0
        ) as client:
            chat = AsyncChat(store=SQLiteStore(path), client=client, thinking="off")
            shown: list[str] = []
            with pytest.raises(TurnStopped):
                async for piece in chat.stream("tell me a story"):
                    shown.append(piece)
                    if len(shown) == 1:
                        assert chat.id is not None
                        with SQLiteStore(path) as other:
                            assert other.request_stop(chat.id) is True
            after = await chat.send("and then?")
        assert chat.id is not None
        return chat.id, shown, after.text

    cid, shown, after = asyncio.run(run())
    stored = _stored(path, cid)
    assert [(role, status) for role, status, _ in stored] == [
        ("user", "complete"),
        ("assistant", "partial"),
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert stored[1][2] == "".join(shown) != STORY
    assert after == "ok"


def test_a_chat_that_does_not_watch_for_stops_streams_on(
    tmp_path: Path, server: EmulatorServer
) -> None:
    path = tmp_path / "chat.db"
    chat = _sync_chat(path, server)
    chat.watch_stops = False  # as the service's chats: their worker reads the stops
    chat.send("hello")
    cid = chat.id
    assert cid is not None
    shown: list[str] = []
    for piece in chat.stream("tell me a story"):
        shown.append(piece)
        if len(shown) == 1:
            with SQLiteStore(path) as other:
                other.request_stop(cid)
    assert "".join(shown) == STORY
    assert _stored(path, cid)[-1][:2] == ("assistant", "complete")


class StopsUnreadable(SQLiteStore):
    """A store whose stop marks cannot be read (a database gone for a moment)."""

    def stop_requested(self, conversation_id: str) -> bool:
        raise StoreError("the database is unreachable")


def test_a_stop_mark_that_cannot_be_read_is_logged_and_the_reply_goes_on(
    tmp_path: Path, server: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = anthropic.Anthropic(api_key="t", base_url=server.url, max_retries=0)
    chat = Chat(store=StopsUnreadable(tmp_path / "chat.db"), client=client, thinking="off")
    with caplog.at_level("WARNING", logger="claudechat"):
        assert "".join(chat.stream("tell me a story")) == STORY
    assert chat.history[-1].status == "complete"
    assert "could not read whether the turn was asked to stop" in caplog.text


def _stop_when_streaming(
    open_store: Callable[[], Store], chat: Chat | AsyncChat
) -> threading.Thread:
    """A thread that asks, through a store of its own, to stop the chat's turn once its
    reply has begun: when the first words are stored as a partial message."""

    def stop() -> None:
        with open_store() as other:
            for _ in range(500):
                cid = chat.id
                last = other.branch(cid)[-1:] if cid is not None else []
                if last and last[0].status == "partial" and other.request_stop(cid):  # type: ignore[attr-defined]
                    return
                time.sleep(0.01)

    thread = threading.Thread(target=stop)
    thread.start()
    return thread


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """Opens a new store on one database that other processes share: a SQLite file or a
    PostgreSQL database."""
    if request.param == "sqlite":
        return lambda: SQLiteStore(tmp_path / "chat.db")
    from claudechat.store.postgres import PostgresStore

    conninfo = request.getfixturevalue("pg_database")
    return lambda: PostgresStore(conninfo)


def test_send_on_a_shared_store_streams_so_that_its_turn_can_be_stopped(
    shared_store: Callable[[], Store], server: EmulatorServer
) -> None:
    client = anthropic.Anthropic(api_key="t", base_url=server.url, max_retries=0)
    with shared_store() as store:
        chat = Chat(store=store, client=client, thinking="off")
        stopper = _stop_when_streaming(shared_store, chat)
        with pytest.raises(TurnStopped):
            chat.send("tell me a story")
        stopper.join()
        assert chat.id is not None
        stored = [(m.role, m.status, m.text) for m in store.branch(chat.id)]
        assert [(role, status) for role, status, _ in stored] == [
            ("user", "complete"),
            ("assistant", "partial"),
        ]
        assert STORY.startswith(stored[1][2]) and stored[1][2] != STORY
        assert [r.body.get("stream") for r in message_requests(server.emulator)] == [True]
        assert chat.send("and then?").text == "ok"


def test_an_async_send_on_a_shared_store_is_stopped_the_same_way(
    tmp_path: Path, server: EmulatorServer
) -> None:
    path = tmp_path / "chat.db"

    async def run() -> str | None:
        async with anthropic.AsyncAnthropic(
            api_key="t", base_url=server.url, max_retries=0
        ) as client:
            chat = AsyncChat(store=SQLiteStore(path), client=client, thinking="off")
            stopper = _stop_when_streaming(lambda: SQLiteStore(path), chat)
            with pytest.raises(TurnStopped):
                await chat.send("tell me a story")
            stopper.join()
        return chat.id

    cid = asyncio.run(run())
    assert cid is not None
    assert [(role, status) for role, status, _ in _stored(path, cid)] == [
        ("user", "complete"),
        ("assistant", "partial"),
    ]


@pytest.mark.parametrize("where", ["memory", "unwatched"])
def test_send_waits_for_the_whole_reply_where_no_other_process_can_ask_a_stop(
    tmp_path: Path, server: EmulatorServer, where: str
) -> None:
    client = anthropic.Anthropic(api_key="t", base_url=server.url, max_retries=0)
    if where == "memory":  # no other process sees this store
        chat = Chat(client=client, thinking="off")
    else:
        chat = _sync_chat(tmp_path / "chat.db", server)
        chat.watch_stops = False
    assert chat.send("hello").text == "ok"
    assert [r.body.get("stream") for r in message_requests(server.emulator)] in ([None], [False])
