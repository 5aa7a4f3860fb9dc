"""AsyncChat's store writes while a reply streams and after it run in a worker thread, not
on the event loop; a turn cancelled during one waits for it, and keeps its partial reply."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chats import ThreadSeen

from claudechat import AsyncChat
from claudechat.chat.offload import in_thread
from claudechat.messages import Message
from claudechat.store import SQLiteStore
from claudechat.testing import Emulator


class WhereWritten(SQLiteStore):
    """A SQLite store noting the thread of each write."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.threads: list[tuple[str, int]] = []

    def append(self, conversation_id: str, message: Message, **kw: Any) -> Any:
        self.threads.append((f"append {message.role} {message.status}", threading.get_ident()))
        return super().append(conversation_id, message, **kw)

    def release_turn(self, conversation_id: str, owner: str) -> None:
        self.threads.append(("release", threading.get_ident()))
        super().release_turn(conversation_id, owner)


def test_writes_during_and_after_a_streamed_reply_are_off_the_event_loop(
    tmp_path: Path, make_async_chat: Callable[..., AsyncChat]
) -> None:
    store = WhereWritten(tmp_path / "chat.db")

    async def run() -> tuple[str, int]:
        chat = make_async_chat(Emulator(), store=store)
        text = "".join([p async for p in chat.stream("hello")])
        return text, threading.get_ident()

    text, loop_thread = asyncio.run(run())
    assert text
    writes = {what: thread for what, thread in store.threads}
    assert writes["append user complete"] != loop_thread  # before the request
    assert writes["append assistant partial"] != loop_thread  # the checkpoint
    assert writes["append assistant complete"] != loop_thread
    assert writes["release"] != loop_thread
    reply = store.branch(store.list_conversations()[0].conversation.id)[-1]
    assert reply.text == text and reply.status == "complete"


@pytest.mark.parametrize("turn", ["send", "retry", "edit"])
def test_the_user_message_of_every_kind_of_turn_is_stored_off_the_event_loop(
    tmp_path: Path, make_async_chat: Callable[..., AsyncChat], turn: str
) -> None:
    store = WhereWritten(tmp_path / "chat.db")

    async def run() -> int:
        chat = make_async_chat(Emulator(), store=store)
        await chat.send("first")
        store.threads.clear()
        if turn == "send":
            await chat.send("second")
        elif turn == "retry":
            await chat.retry()
        else:
            first = next(m for m in chat.history if m.role == "user")
            await chat.edit(first.id, "first, edited")
        return threading.get_ident()

    loop_thread = asyncio.run(run())
    assert store.threads  # the turn wrote
    assert all(thread != loop_thread for _, thread in store.threads)


def test_a_stream_is_opened_at_its_first_read_in_one_worker_thread(tmp_path: Path) -> None:
    from claudechat.context import ContextEngine
    from claudechat.testing import offline_client

    seen, store = ThreadSeen(), WhereWritten(tmp_path / "chat.db")

    async def run() -> int:
        chat = AsyncChat("claude-sonnet-4-6", client=offline_client(asynchronous=True),
                         context=ContextEngine([seen], offload=True), store=store)  # fmt: skip
        stream = chat.stream("hello")
        chat.step_ahead()  # nothing opened yet: nothing to step
        assert seen.threads == [] and store.threads == []  # nothing stored before a read
        assert "".join([p async for p in stream])
        return threading.get_ident()

    loop_thread = asyncio.run(run())
    assert len(seen.threads) == 1  # the step taken at the opening is the turn's
    opened = dict(store.threads)["append user complete"]
    assert opened != loop_thread and seen.threads == [opened]  # one visit before the request


def test_open_now_stores_the_user_message_in_the_calling_thread(tmp_path: Path) -> None:
    from claudechat.testing import offline_client

    store = WhereWritten(tmp_path / "chat.db")

    async def run() -> tuple[int, int]:
        chat = AsyncChat("claude-sonnet-4-6", client=offline_client(asynchronous=True),
                         store=store)  # fmt: skip
        stream = chat.stream("hello", open_now=True)
        stored = dict(store.threads)["append user complete"]  # stored by the call itself
        assert "".join([p async for p in stream])
        return stored, threading.get_ident()

    stored, loop_thread = asyncio.run(run())
    assert stored == loop_thread


def test_a_refused_message_raises_at_the_first_read_and_nothing_is_stored(
    tmp_path: Path,
) -> None:
    from claudechat import ConcurrentUpdate, UserError
    from claudechat.testing import offline_client

    store = WhereWritten(tmp_path / "chat.db")

    async def run() -> str:
        chat = AsyncChat("claude-sonnet-4-6", client=offline_client(asynchronous=True),
                         store=store)  # fmt: skip
        await chat.send("first")
        assert chat.id is not None
        with pytest.raises(UserError, match="empty"):
            chat.stream("")  # a malformed prompt: at the call, as with Chat
        store.claim_turn(chat.id, "another writer", ttl=60)
        stream = chat.stream("refused")  # the store is asked at the first read
        with pytest.raises(ConcurrentUpdate, match="busy"):
            await anext(stream)  # type: ignore[call-overload]
        store.release_turn(chat.id, "another writer")
        never_read = chat.stream("never read")
        del never_read
        reply = await chat.send("then this")  # no turn was left held
        assert reply.text
        return chat.id

    cid = asyncio.run(run())
    assert [m.text for m in store.branch(cid) if m.role == "user"] == ["first", "then this"]
    assert [what for what, _ in store.threads].count("append user complete") == 2


def test_a_cancelled_caller_waits_for_the_write_then_is_cancelled() -> None:
    async def scenario() -> list[str]:
        started, release, log = threading.Event(), threading.Event(), []

        def write() -> None:
            started.set()
            release.wait(30)
            log.append("written")

        task = asyncio.ensure_future(in_thread(write))
        await asyncio.to_thread(started.wait, 30)
        task.cancel()
        await asyncio.sleep(0.01)
        log.append(f"done before the write ended: {task.done()}")
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        return log

    assert asyncio.run(scenario()) == ["done before the write ended: False", "written"]


def test_an_error_of_the_write_reaches_the_caller() -> None:
    def fails() -> None:
        raise LookupError("no such row")

    with pytest.raises(LookupError, match="no such row"):
        asyncio.run(in_thread(fails))


class HeldAtTheMessage(SQLiteStore):
    """A SQLite store whose next user message waits for ``go`` once ``hold`` is set."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.hold, self.reached, self.go = threading.Event(), threading.Event(), threading.Event()

    def append(self, conversation_id: str, message: Message, **kw: Any) -> Any:
        if self.hold.is_set() and message.role == "user":
            self.hold.clear()
            self.reached.set()
            self.go.wait(30)
        return super().append(conversation_id, message, **kw)


@pytest.mark.parametrize("way", ["send", "stream"])
def test_a_caller_cancelled_while_its_turn_opens_gives_the_turn_back(
    tmp_path: Path, way: str
) -> None:
    from claudechat.testing import offline_client

    store = HeldAtTheMessage(tmp_path / "chat.db")
    other_store = SQLiteStore(tmp_path / "chat.db")

    async def turn(chat: AsyncChat, text: str) -> str:
        if way == "send":
            return (await chat.send(text)).text
        return "".join([p async for p in chat.stream(text)])

    async def run() -> tuple[str, str]:
        chat = AsyncChat("claude-sonnet-4-6", client=offline_client(asynchronous=True),
                         store=store)  # fmt: skip
        await chat.send("first")
        assert chat.id is not None
        store.hold.set()
        task = asyncio.ensure_future(turn(chat, "cancelled while it opens"))
        assert await asyncio.to_thread(store.reached.wait, 30)
        task.cancel()
        store.go.set()  # the user message is stored, then the cancellation goes on
        with pytest.raises(asyncio.CancelledError):
            await task
        other = AsyncChat.resume(chat.id, store=other_store,
                                 client=offline_client(asynchronous=True))  # fmt: skip
        by_other = await turn(other, "another writer, at once")  # not refused as busy
        return by_other, await turn(chat, "and this chat goes on")

    by_other, by_chat = asyncio.run(run())
    assert "another writer, at once" in by_other and "and this chat goes on" in by_chat
    other_store.close()
