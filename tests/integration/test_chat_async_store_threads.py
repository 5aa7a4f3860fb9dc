"""AsyncChat's store writes while a reply streams and after it run in a worker thread, not
on the event loop; a turn cancelled during one waits for it, and keeps its partial reply."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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
    assert writes["append user complete"] == loop_thread  # before the request: inline
    assert writes["append assistant partial"] != loop_thread  # the checkpoint
    assert writes["append assistant complete"] != loop_thread
    assert writes["release"] != loop_thread
    reply = store.branch(store.list_conversations()[0].conversation.id)[-1]
    assert reply.text == text and reply.status == "complete"


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
