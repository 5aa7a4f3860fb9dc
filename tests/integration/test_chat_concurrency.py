"""Several writers on one conversation: a turn is claimed before anything is stored or sent.

Two Chats (on one store, or on two SQLiteStore objects over one file) interleave: the
second is refused with ConcurrentUpdate before it stores or sends anything, the first
one's reply is stored whole, and every user message is followed by its own reply.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from chats import ChatMaker, message_requests

from claudechat import AsyncChat, Chat, ConcurrentUpdate, UserError
from claudechat.messages import Message
from claudechat.store import MemoryStore, SQLiteStore, Store
from claudechat.testing import Emulator

StorePair = Callable[[], tuple[Store, Store]]


@pytest.fixture(params=["one memory store", "one sqlite store", "two sqlite stores"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """The stores two writers use: the same object, or two objects on one database file."""
    if request.param == "one memory store":
        one = two = MemoryStore()
    elif request.param == "one sqlite store":
        one = two = SQLiteStore(tmp_path / "chat.db")
    else:
        one, two = SQLiteStore(tmp_path / "chat.db"), SQLiteStore(tmp_path / "chat.db")
    yield one, two
    one.close()
    two.close()


@dataclass
class Writers:
    """Two writers of one conversation, each on its own store of ``stores``, answered by
    one emulator."""

    make_chat: ChatMaker
    one: Store
    two: Store
    emu: Emulator = field(default_factory=Emulator)

    def first(self) -> Chat:
        """The first writer: it starts the conversation."""
        return self.make_chat(self.emu, store=self.one)

    def second(self, first: Chat) -> Chat:
        """The second writer: ``first``'s conversation as its store has it now."""
        return self.make_chat.resume(first.id or "", emu=self.emu, store=self.two)


@pytest.fixture
def writers(make_chat: ChatMaker, stores: tuple[Store, Store]) -> Writers:
    return Writers(make_chat, *stores)


def assert_each_question_has_its_reply(branch: list[Message]) -> None:
    """User, assistant, user, assistant…; each reply quotes its own question (the
    emulator's default reply ends with what it was told) and is complete."""
    assert [m.role for m in branch] == ["user", "assistant"] * (len(branch) // 2)
    for question, answer in zip(branch[::2], branch[1::2], strict=True):
        assert answer.status == "complete"
        assert answer.text.endswith(f'You said: "{question.text}"'), (question.text, answer.text)


def test_a_second_writer_is_refused_before_it_stores_or_sends(writers: Writers) -> None:
    first = writers.first()
    first.send("hello")
    pieces = first.stream("tell me a long story")
    shown = next(pieces)  # the question is stored, the reply is streaming and checkpointed
    second = writers.second(first)  # reads it all
    for attempt in (
        lambda: second.send("me too"),
        lambda: next(second.stream("me too")),  # an AsyncChat opens it at the first read
        second.undo,
        lambda: second.retry(),
        lambda: second.edit(second.history[0].id, "edited"),
        lambda: second.checkout(second.history[1].id),
        lambda: setattr(second, "system", "Be terse."),
    ):
        with pytest.raises(ConcurrentUpdate, match="busy"):
            attempt()
    assert len(message_requests(writers.emu)) == 2  # nothing was sent for the second writer
    assert "me too" not in [m.text for m in writers.one.all_messages(first.id or "")]
    assert writers.one.get_conversation(first.id or "").system is None
    shown += "".join(pieces)  # the holder's reply is never cut short
    reply = first.last_reply
    assert reply is not None and reply.text == shown and not reply.partial
    assert second.send("me too").text.endswith('You said: "me too"')  # the turn is free
    branch = writers.one.branch(first.id or "")
    assert [m.text for m in branch[::2]] == ["hello", "tell me a long story", "me too"]
    assert_each_question_has_its_reply(branch)
    assert branch[3].text == shown


def test_the_lease_is_released_when_a_stream_is_left_early(writers: Writers) -> None:
    first = writers.first()
    pieces = first.stream("start")
    next(pieces)
    pieces.close()  # like Ctrl-C: the partial reply is kept, the turn is given back
    second = writers.second(first)
    assert second.send("next").text.endswith('You said: "next"')
    assert [m.status for m in writers.two.branch(first.id or "")] == [
        "complete", "partial", "complete", "complete",
    ]  # fmt: skip


def test_a_writer_continues_after_the_turn_another_one_finished(writers: Writers) -> None:
    first = writers.first()
    first.send("one")
    second = writers.second(first)
    second.send("two")  # first has not seen it
    first.send("three")  # claims the turn, catches up, answers after "two"
    sent = message_requests(writers.emu)[-1].body["messages"]
    assert [m["content"][0]["text"] for m in sent[::2]] == ["one", "two", "three"]
    assert_each_question_has_its_reply(writers.one.branch(first.id or ""))


def test_threads_on_one_conversation_never_interleave(
    make_sync_chat: ChatMaker, tmp_path: Path
) -> None:
    emu = Emulator()
    path = tmp_path / "chat.db"
    with SQLiteStore(path) as store:
        cid = make_sync_chat(emu, store=store).send("begin") and store.latest_conversation()
    assert cid is not None
    refused = []

    def writer(name: str) -> None:
        with SQLiteStore(path) as own:
            chat = make_sync_chat.resume(cid.id, emu=emu, store=own)
            done = 0
            for _ in range(5_000):  # bounded: a writer that never gets a turn fails the test
                try:
                    for _ in chat.stream(f"{name} question {done}"):
                        pass
                    done += 1
                    if done == 5:
                        return
                except ConcurrentUpdate:
                    refused.append(name)
                    chat.reload()
                    threading.Event().wait(0.001)  # let the holder finish its turn

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with SQLiteStore(path) as store:
        branch = store.branch(cid.id)
        everything = store.all_messages(cid.id)
    assert len(branch) == 2 * (1 + 4 * 5)
    assert len(everything) == len(branch)  # no side branch, no stray message
    assert_each_question_has_its_reply(branch)


def test_an_async_chat_holds_the_turn_while_it_streams(
    make_async_chat: Callable[..., AsyncChat], sdk_client: Callable[..., Any], tmp_path: Path
) -> None:
    emu = Emulator()
    store = SQLiteStore(tmp_path / "chat.db")
    first = make_async_chat(emu, store=store)

    async def run() -> tuple[str, str]:
        await first.send("hello")
        pieces = first.stream("tell me more")
        shown = await anext(pieces)
        with SQLiteStore(tmp_path / "chat.db") as other:
            second = Chat.resume(first.id or "", store=other, client=sdk_client(emu))
            with pytest.raises(ConcurrentUpdate, match="busy"):
                second.send("me too")
            async for piece in pieces:
                shown += piece
            return shown, second.send("me too").text

    shown, later = asyncio.run(run())
    branch = store.branch(first.id or "")
    assert branch[3].text == shown and later.endswith('You said: "me too"')
    assert_each_question_has_its_reply(branch)
    store.close()


def test_a_new_message_while_this_chats_own_stream_is_open_is_refused(
    make_chat: ChatMaker, tmp_path: Path
) -> None:
    emu = Emulator(reply=lambda r: "word " * 200)
    chat = make_chat(emu, store=SQLiteStore(tmp_path / "c.db"))
    stream = chat.stream("second")
    next(stream)
    with pytest.raises(UserError, match="still streaming"):
        chat.send("third")
    rest = "".join(stream)
    assert chat.history[-1].text.startswith("word") and len(chat.history[-1].text) > 900
    assert rest and chat.unsaved == []
    assert chat.send("fourth").text.startswith("word")
    assert [m.text for m in chat.history if m.role == "user"] == ["second", "fourth"]


def test_a_stream_dropped_unread_gives_its_turn_back(make_chat: ChatMaker, tmp_path: Path) -> None:
    emu = Emulator(script=["never read", "read"])
    chat = make_chat(emu, store=SQLiteStore(tmp_path / "c.db"))
    chat.stream("first")  # dropped at once, never read
    assert chat.send("second").text in ("never read", "read")
