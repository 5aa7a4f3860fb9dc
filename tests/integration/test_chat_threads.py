"""Message threads through the real SDK and the emulator, for Chat and AsyncChat.

A chat with threads is run beside a twin without them, over two emulators that share one
clock: every reply must be the same (the emulator's echo names how many messages and
tokens it received, so a thread that held anything else shows), every request valid, and
every whole request the threaded chat sent exactly what the twin sent.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from chats import SONNET, ChatMaker, words

from claudechat.chat.threads import MESSAGE_THREADS_BETA, Threads
from claudechat.context import ContextEngine, strategy_policies
from claudechat.store.sqlite import SQLiteStore
from claudechat.testing import Emulator, EmuResponse, Fault

REPLAY_CODES = (
    ("thread_not_found", 404),
    ("thread_already_continued", 400),
    ("thread_continue_in_flight", 400),
    ("thread_fingerprint_mismatch", 400),
)


class Clock:
    """The one clock of a test: the emulators' and the chats' threads."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class StatusEmulator(Emulator):
    """An emulator that keeps the status of each answer (request number -> status)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.statuses: dict[int, int] = {}

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> EmuResponse:
        response = super().handle(method, path, headers, body)
        self.statuses[self.requests[-1].number] = response.status
        return response

    def answered(self) -> list[dict[str, Any]]:
        """The bodies of the /v1/messages requests that were answered with a message."""
        return [r.body for r in self.requests
                if r.path == "/v1/messages" and self.statuses[r.number] == 200]  # fmt: skip

    def refused(self) -> list[int]:
        """The statuses of the requests that were refused."""
        return [s for s in self.statuses.values() if s != 200]


def thread_of(body: dict[str, Any]) -> str | None:
    thread = body.get("thread")
    return thread["type"] if isinstance(thread, dict) else None


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    """A request body without its thread, and with the diagnostics id (each emulator
    numbers its own replies) reduced to whether there is one."""
    out = {k: v for k, v in body.items() if k != "thread"}
    if isinstance(out.get("diagnostics"), dict):
        out["diagnostics"] = {"previous_message_id": "present"}
    return out


def engine(strategy: str = "window", budget: int = 2500) -> ContextEngine:
    return ContextEngine(strategy_policies(strategy), budget=budget)


class Twins:
    """A chat with threads and its twin without, over emulators on one clock."""

    def __init__(self, make_chat: ChatMaker, store_dir: Path, **kw: Any) -> None:
        self.make_chat = make_chat
        self.clock = Clock()
        self.threaded_emu = StatusEmulator(clock=self.clock)
        self.plain_emu = StatusEmulator(clock=self.clock)
        self.threaded_store = SQLiteStore(store_dir / "threaded.db")
        self.plain_store = SQLiteStore(store_dir / "plain.db")
        self.kw = {k: v for k, v in kw.items() if k != "system"}  # kept by the conversation
        self.strategy = "window"
        self.threaded = make_chat(self.threaded_emu, store=self.threaded_store,
                                  threads=Threads(clock=self.clock), context=engine(), **kw)  # fmt: skip
        self.plain = make_chat(self.plain_emu, store=self.plain_store, context=engine(), **kw)

    def use_strategy(self, strategy: str) -> None:
        """Both chats switch context strategy."""
        self.strategy = strategy
        self.threaded.context = engine(strategy)
        self.plain.context = engine(strategy)

    def send(self, text: str, *, stream: bool = False) -> str:
        """Send to both; the replies must be the same."""
        if stream:
            a = "".join(self.threaded.stream(text))
            b = "".join(self.plain.stream(text))
        else:
            a, b = self.threaded.send(text).text, self.plain.send(text).text
        assert a == b
        return a

    def restart(self) -> None:
        """Both chats as a new process would open them: resumed from their stores."""
        threads = Threads(clock=self.clock)
        self.threaded = self.make_chat.resume(
            self.threaded.id, emu=self.threaded_emu, store=self.threaded_store,
            threads=threads, context=engine(self.strategy), **self.kw)  # fmt: skip
        self.plain = self.make_chat.resume(self.plain.id, emu=self.plain_emu,
            store=self.plain_store, context=engine(self.strategy), **self.kw)  # fmt: skip

    def check(self) -> list[str | None]:
        """Every answered threaded request against the twin's; the thread kinds in order."""
        mine, theirs = self.threaded_emu.answered(), self.plain_emu.answered()
        assert len(mine) == len(theirs)
        assert self.plain_emu.refused() == []
        for sent, whole in zip(mine, theirs, strict=True):
            if thread_of(sent) == "continue":
                assert "system" not in sent and "tools" not in sent
                delta = sent["messages"]
                assert delta and delta == whole["messages"][-len(delta) :]
                rest = {k: v for k, v in comparable(sent).items() if k != "messages"}
                expected = comparable(whole)
                for name in ("messages", "system", "tools"):
                    expected.pop(name, None)
                assert rest == expected
            else:
                assert comparable(sent) == comparable(whole)
        return [thread_of(b) for b in mine]


def test_a_thread_carries_only_the_new_messages(make_chat: ChatMaker, tmp_path: Path) -> None:
    twins = Twins(make_chat, tmp_path, system="Be brief.")
    for n in range(5):
        twins.send(f"question {n}: {words(20, n)}", stream=n % 2 == 1)
    assert twins.check() == ["create", "continue", "continue", "continue", "continue"]
    continues = [r for r in twins.threaded_emu.requests if thread_of(r.body) == "continue"]
    assert all(len(r.body["messages"]) == 1 for r in continues)
    assert all(MESSAGE_THREADS_BETA in r.headers["anthropic-beta"] for r in continues)
    sent = [len(r.raw) for r in twins.threaded_emu.requests]
    assert sent[-1] < [len(r.raw) for r in twins.plain_emu.requests][-1] / 3
    mark = twins.threaded.conversation.metadata["thread"]
    assert mark["reply_id"] == twins.threaded.history[-1].metadata["api_id"]


def test_fifty_turns_with_trims_a_fold_a_system_change_an_expiry_and_a_restart(
    make_chat: ChatMaker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="claudechat")
    # No thinking: the turns' sizes, and so where the folds fall, are the scenario's.
    twins = Twins(make_chat, tmp_path, system="You are a careful assistant.", thinking="off")
    kinds_at: dict[str, int] = {}
    for turn in range(1, 51):
        if turn == 21:  # a summary fold: the summary strategy from here on
            twins.use_strategy("summary")
            kinds_at["fold"] = len(twins.check())
        if turn == 31:
            twins.threaded.system = twins.plain.system = "You are a terse assistant."
            kinds_at["system"] = len(twins.check())
        if turn == 36:
            twins.clock.now += 6 * 60  # an idle user: the thread expires
            kinds_at["expiry"] = len(twins.check())
        if turn == 41:
            twins.restart()
            kinds_at["restart"] = len(twins.check())
        if turn == 6:
            twins.threaded_emu.threads.forget_all()  # the server lost the thread
            kinds_at["lost"] = len(twins.check())
        twins.send(f"turn {turn}: {words(60, turn)}", stream=turn % 3 == 0)
    kinds = twins.check()
    creates = [i for i, k in enumerate(kinds) if k == "create"]
    assert kinds[0] == "create"
    assert kinds.count("continue") >= 25  # hysteresis keeps the window, and the thread
    # The trims of the first 20 turns started new threads, and so did each event after.
    assert any(0 < i < kinds_at["fold"] for i in creates)
    for event in ("fold", "system", "expiry"):
        assert kinds_at[event] in creates or kinds_at[event] + 1 in creates, event
    assert kinds[kinds_at["restart"]] == "continue"  # the new process continued the thread
    assert kinds[kinds_at["lost"]] == "create"  # the replay
    assert twins.threaded_emu.refused() == [404]  # the lost thread cost one refusal
    assert twins.threaded_emu.threads.work.requests == len(kinds)
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("thread_not_found" in line for line in logged)
    assert any("expired" in line for line in logged)
    assert any("changed" in line for line in logged)


@pytest.mark.parametrize(("code", "status"), REPLAY_CODES)
@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
def test_each_thread_error_costs_one_replay(
    make_chat: ChatMaker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    code: str,
    status: int,
    stream: bool,
) -> None:
    caplog.set_level(logging.INFO, logger="claudechat")
    twins = Twins(make_chat, tmp_path)
    twins.send("first question")
    error_type = "not_found_error" if status == 404 else "invalid_request_error"
    twins.threaded_emu.inject(Fault("status", status, f"refused: {code}", error_type,
                                    {"error_code": code}))  # fmt: skip
    twins.send("second question", stream=stream)
    twins.send("third question")
    assert twins.check() == ["create", "create", "continue"]
    assert twins.threaded_emu.refused() == [status]
    assert [json.loads(r.raw)["thread"]["type"] for r in twins.threaded_emu.requests] == [
        "create", "continue", "create", "continue"]  # fmt: skip
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert sum(code in line for line in logged) == 1


def test_a_thread_expired_on_the_server_only_is_replayed(
    make_chat: ChatMaker, tmp_path: Path
) -> None:
    twins = Twins(make_chat, tmp_path)
    twins.send("first")
    twins.threaded_emu.clock = lambda: twins.clock.now + 301  # the server's clock runs ahead
    twins.send("second")
    assert twins.threaded_emu.refused() == [404]
    assert twins.check() == ["create", "create"]


def test_a_request_threads_cannot_take_goes_whole_from_then_on(
    make_chat: ChatMaker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="claudechat")
    thinking = {"type": "enabled", "budget_tokens": 1024}
    twins = Twins(make_chat, tmp_path, thinking=thinking, max_tokens=2048)
    for n in range(3):
        twins.send(f"question {n}")
    assert twins.check() == [None, None, None]  # sent whole, as the twin sends them
    assert twins.threaded_emu.refused() == [400]  # asked once
    assert any("unsupported" in r.getMessage() or "cannot thread" in r.getMessage()
               for r in caplog.records)  # fmt: skip


def test_tool_rounds_continue_the_thread(make_chat: ChatMaker, tmp_path: Path) -> None:
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    def reply(request: Any) -> Any:
        last = request.messages[-1]["content"]
        if isinstance(last, list) and any(b.get("type") == "tool_result" for b in last):
            return "The sum is ready."
        return [{"type": "tool_use", "name": "add", "input": {"a": 2, "b": 3}}]

    clock = Clock()
    emu = StatusEmulator(clock=clock, reply=reply)
    chat = make_chat(emu, tools=make_chat.tools(add), threads=Threads(clock=clock))
    chat.send("add 2 and 3")
    chat.send("again")
    kinds = [thread_of(b) for b in emu.answered()]
    assert kinds == ["create", "continue", "continue", "continue"]
    results = emu.answered()[1]["messages"]
    assert [b["type"] for b in results[0]["content"]] == ["tool_result"]
    assert emu.refused() == []


def test_threads_off_by_default_send_no_thread(make_chat: ChatMaker) -> None:
    emu = Emulator()
    chat = make_chat(emu)
    chat.send("hello")
    chat.send("again")
    assert all("thread" not in r.body for r in emu.requests)
    assert "thread" not in chat.conversation.metadata


def test_an_unchanged_replay_of_the_twin_is_byte_for_byte(
    make_chat: ChatMaker, tmp_path: Path
) -> None:
    twins = Twins(make_chat, tmp_path, system="Be brief.")
    twins.send("only question")
    mine = json.loads(twins.threaded_emu.requests[0].raw)
    theirs = json.loads(twins.plain_emu.requests[0].raw)
    assert mine.pop("thread") == {"type": "create"}
    assert mine == theirs
    assert mine["model"] == SONNET
