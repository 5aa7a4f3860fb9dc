"""The REPL's session: messages and every slash command, on the emulator, rendered to text."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from rich.console import Console

from claudechat.cli.runtime import Runtime
from claudechat.cli.session import Session
from claudechat.config import Settings
from claudechat.errors import AuthError
from claudechat.store import MemoryStore
from claudechat.testing import Emulator, EmuResponse, Fault


class CutEmulator(Emulator):
    """Raises KeyboardInterrupt (as Ctrl-C would) after ``cut_after`` body chunks of the
    next streamed reply."""

    cut_after: int | None = None

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> EmuResponse:
        response = super().handle(method, path, headers, body)
        if self.cut_after is not None and not isinstance(response.body, bytes):
            after, self.cut_after = self.cut_after, None
            response.body = _cut(response.body, after)
        return response


def _cut(chunks: Iterator[bytes], after: int) -> Iterator[bytes]:
    for n, chunk in enumerate(chunks):
        if n == after:
            raise KeyboardInterrupt
        yield chunk


class Harness:
    """A Session over an emulator and a memory store, printing to a string."""

    def __init__(self, emulator: Emulator | None = None, **settings: Any) -> None:
        self.emulator = emulator or CutEmulator()
        self.store = MemoryStore()
        client = anthropic.Anthropic(api_key="test", http_client=self.emulator.http_client())
        self.runtime = Runtime(Settings(**settings), env={}, client=client, store=self.store)
        self.buffer = io.StringIO()
        console = Console(file=self.buffer, width=100, color_system=None)
        self.edits: list[str] = []
        self.session = Session(
            self.runtime,
            self.runtime.new_chat(),
            console,
            plain=True,
            editor=self._editor,
        )

    def _editor(self, text: str) -> str | None:
        self.edits.append(text)
        return "edited in the editor\n"

    def __call__(self, line: str) -> str:
        start = self.buffer.tell()
        self.session.handle(line)
        return self.buffer.getvalue()[start:]

    @property
    def chat(self) -> Any:
        return self.session.chat


def test_a_message_streams_and_ends_with_a_status_line() -> None:
    h = Harness()
    out = h("Hello there")
    lines = out.strip().splitlines()
    assert lines[0].startswith("Emulator reply #1") and 'You said: "Hello there"' in lines[0]
    status = lines[-1]
    assert status.startswith("in ") and " · out " in status and " · cache " in status
    assert " · turn $0.0" in status and " · total $0.0" in status and " · window " in status


def test_retry_keeps_the_old_reply_as_a_sibling() -> None:
    h = Harness()
    h("Question")
    first = h.chat.history[-1]
    out = h("/retry")
    assert "Emulator reply #2" in out
    second = h.chat.history[-1]
    assert second.id != first.id
    assert {m.id for m in h.chat.siblings(second.id)} == {first.id, second.id}


def test_edit_inline_and_in_the_editor_make_branches_that_branch_switches() -> None:
    h = Harness()
    h("Original question")
    assert 'You said: "Better question"' in h("/edit Better question")
    h("/edit")
    assert h.edits == ["Better question"]
    assert h.chat.history[-2].text == "edited in the editor"
    listing = h("/branch")
    rows = [line for line in listing.splitlines() if line[2:4] in ("1.", "2.", "3.")]
    assert len(rows) == 3 and rows[2].startswith("* 3.")
    assert "Original question" in rows[0]
    assert "switched to branch 1" in h("/branch 1")
    assert h.chat.history[0].text == "Original question"
    assert "there are 3 branches" in h("/branch 7")


def test_edit_with_no_change_is_cancelled() -> None:
    h = Harness()
    h("Same")
    assert "edit cancelled" in h("/edit Same")
    assert "nothing to edit" in Harness()("/edit")


def test_undo_takes_back_a_turn_that_stays_stored() -> None:
    h = Harness()
    h("one")
    h("two")
    assert "undone: two" in h("/undo")
    assert [m.text for m in h.chat.history if m.role == "user"] == ["one"]
    assert len(h.store.all_messages(h.chat.id)) == 4
    h("/undo")
    assert "nothing to undo" in h("/undo")


def test_fork_switches_to_a_copy() -> None:
    h = Harness(budget=50_000, strategy="summary")
    h("shared start")
    original = h.chat.id
    out = h("/fork")
    assert h.chat.id != original and f"forked into {h.chat.id}" in out
    assert h.chat.history[0].text == "shared start"
    assert h.chat.context.budget == 50_000  # the configured context survives the fork
    h("only in the fork")
    assert len(h.store.branch(original)) == 2


def test_system_show_set_and_clear() -> None:
    h = Harness(system="Be brief.")
    assert h("/system").strip() == "Be brief."
    h("hi")
    h("/system Be thorough.")
    assert h.store.get_conversation(h.chat.id).system == "Be thorough."
    h("again")
    assert h.emulator.requests[-1].body["system"][0]["text"] == "Be thorough."
    h("/system -")
    assert h("/system").strip() == "(no system prompt)"


def test_model_show_and_switch() -> None:
    h = Harness()
    out = h("/model")
    assert out.startswith("claude-sonnet-4-6 (window 1,000,000")
    assert "claude-haiku-4-5" in out  # the known models
    h("/model claude-haiku-4-5")
    h("hello")
    assert h.emulator.requests[-1].body["model"] == "claude-haiku-4-5"


def test_tokens_and_cost() -> None:
    h = Harness(budget=20_000)
    assert "nothing sent yet" in h("/tokens")
    h("hi")
    h("more")
    tokens = h("/tokens")
    assert tokens.startswith("window: ") and "of 20,000 tokens" in tokens
    assert "(3 of 3 messages, 2 turns sent)" in tokens
    cost = h("/cost")
    assert cost.splitlines()[0].split() == ["kind", "tokens", "USD"]
    assert "total" in cost and "cache hit ratio" in cost


def test_compact_folds_the_history_into_a_summary_at_the_next_message() -> None:
    h = Harness(strategy="summary")
    for n in range(4):
        h(f"message number {n}")
    assert "next message" in h("/compact")
    h("after compacting")
    assert h.store.summaries(h.chat.id)
    summary_calls = [r for r in h.emulator.requests if r.body["model"] == "claude-haiku-4-5"]
    assert summary_calls


def test_new_list_open_search_and_export(tmp_path: Path) -> None:
    h = Harness()
    h("The deploy command is make ship")
    first = h.chat.id
    assert "new conversation" in h("/new")
    h("A second conversation")
    listing = h("/list")
    assert first in listing and "A second conversation" in listing
    opened = h(f"/open {first[-8:]}")
    assert h.chat.id == first and f"opened {first}" in opened and "(1 turns)" in opened
    assert "make ship" in opened  # the last turn is shown
    found = h("/search deploy")
    assert found.startswith(first) and "«deploy»" in found
    assert "no matches" in h("/search zebra")
    md = tmp_path / "c.md"
    assert f"exported to {md}" in h(f"/export {md}")
    assert md.read_text().startswith("# The deploy command is make ship")
    js = tmp_path / "c.json"
    h(f"/export {js}")
    assert json.loads(js.read_text())["conversation"]["id"] == first
    assert "no conversation matches 'zzzzzzzz'" in h("/open zzzzzzzz")


def test_open_marks_a_reply_another_writer_is_streaming_as_being_written() -> None:
    emulator = CutEmulator(script=["word " * 40, "next reply"])
    h = Harness(emulator)
    emulator.cut_after = 6
    h("tell me a long story")  # cut: a partial reply, as a stream's save leaves it
    first = h.chat.id
    assert first is not None
    h("/new")
    assert "[interrupted]" in h(f"/open {first}")
    h("/new")
    h.store.claim_turn(first, "the-service", ttl=60)  # another writer's turn runs
    opened = h(f"/open {first}")
    assert "[being written]" in opened and "[interrupted]" not in opened


def test_ctrl_c_mid_reply_keeps_the_partial_and_the_session_goes_on() -> None:
    emulator = CutEmulator(script=["word " * 40, "next reply"])
    h = Harness(emulator)
    emulator.cut_after = 6
    out = h("tell me a long story")
    assert "[cancelled — the partial reply is kept]" in out
    partial = h.chat.history[-1]
    assert partial.role == "assistant" and partial.status == "partial"
    assert partial.text.startswith("word word")
    assert h.session.running
    assert "next reply" in h("go on")
    sent = h.emulator.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]  # still valid


class StopEmulator(Emulator):
    """Runs ``at_chunk`` once, after ``after`` body chunks of the next streamed reply."""

    after = 6
    at_chunk: Any = None

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> EmuResponse:
        response = super().handle(method, path, headers, body)
        if self.at_chunk is not None and not isinstance(response.body, bytes):
            call, self.at_chunk = self.at_chunk, None
            response.body = _then(response.body, self.after, call)
        return response


def _then(chunks: Iterator[bytes], after: int, call: Any) -> Iterator[bytes]:
    for n, chunk in enumerate(chunks):
        if n == after:
            call()
        yield chunk


def test_a_reply_stopped_from_another_client_keeps_the_partial_and_the_session_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from claudechat.chat import base

    monkeypatch.setattr(base, "STOP_CHECK_SECONDS", 0.0)  # read the mark at every event
    emulator = StopEmulator(script=["hello", "word " * 40, "next reply"])
    h = Harness(emulator, thinking="off")
    h("hi")
    emulator.at_chunk = lambda: h.store.request_stop(h.chat.id)  # the service's cancel
    out = h("tell me a long story")
    assert "[stopped from another client — the partial reply is kept]" in out
    partial = h.chat.history[-1]
    assert partial.role == "assistant" and partial.status == "partial"
    assert partial.text.startswith("word") and len(partial.text) < len("word " * 40) - 1
    assert h.session.running
    assert "next reply" in h("go on")


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        pytest.param(Fault.drop(after_events=6), "the reply stream was cut", id="dropped"),
        pytest.param(Fault.midstream_error(after_events=6), "Overloaded", id="error-event"),
    ],
)
def test_a_stream_cut_mid_reply_is_reported_and_kept(fault: Fault, said: str) -> None:
    emulator = CutEmulator(script=["a b c d e f g h i j k l m n o p"])
    emulator.inject(fault)
    h = Harness(emulator)
    out = h("hello")
    assert said in out and "the partial reply is kept" in out
    assert "status 200" not in out
    assert h.chat.history[-1].status == "partial"


def test_errors_are_one_line_and_the_session_continues() -> None:
    emulator = CutEmulator()
    emulator.inject(Fault.status(400, message="refused"))
    h = Harness(emulator)
    out = h("first try")
    assert out.strip().splitlines()[0].startswith("error: refused (status 400")
    assert "Emulator reply" in h("second try")


def test_a_bad_key_ends_the_session() -> None:
    h = Harness(CutEmulator(api_key="right"))
    with pytest.raises(AuthError):
        h("hello")


def test_help_unknown_commands_slash_escape_and_quit() -> None:
    h = Harness()
    assert "/retry" in h("/help") and "Alt-Enter" in h("/help")
    assert h("/frobnicate").strip() == "unknown command /frobnicate (type /help)"
    assert h("/retry").strip() == "nothing to retry yet"
    assert 'You said: "/etc/hosts please"' in h("//etc/hosts please")
    assert h("   ") == ""
    h("/quit")
    assert not h.session.running


def test_rich_rendering_in_a_terminal_streams_markdown() -> None:
    emulator = CutEmulator(
        script=["# Title\n\nSome **bold** text.\n\n```python\nx = 1\n```\n\nEnd."]
    )
    store = MemoryStore()
    client = anthropic.Anthropic(api_key="test", http_client=emulator.http_client())
    runtime = Runtime(Settings(), env={}, client=client, store=store)
    buffer = io.StringIO()
    console = Console(file=buffer, width=60, force_terminal=True, color_system=None)
    session = Session(runtime, runtime.new_chat(), console, plain=False)
    session.handle("render please")
    out = buffer.getvalue()
    assert "Title" in out and "bold" in out and "x = 1" in out and "End." in out
    assert "**" not in out and "```" not in out  # rendered, not raw


def test_recall_brings_back_turns_the_window_dropped() -> None:
    h = Harness(budget=700, strategy="window")
    h("The deploy command is make ship --prod, remember it.")
    for n in range(12):
        h(f"Filler message number {n} about the weather and nothing in particular.")
    out = h("/recall deploy command")
    assert "earlier turns would be injected" in out
    assert "make ship --prod" in out
    h("What was the deploy command?")
    sent = h.emulator.requests[-1].body["messages"][-1]["content"]
    injected = "".join(b.get("text", "") for b in sent if b.get("type") == "text")
    assert "<recalled_turns>" in injected and "make ship --prod" in injected
    assert all("deploy command is" not in m.text for m in h.chat.history[-2:])  # not stored


def test_recall_with_nothing_evicted_says_so() -> None:
    h = Harness()
    h("A short chat")
    assert "nothing to recall" in h("/recall short chat")
    assert "nothing to recall" in Harness(recall=False)("/recall anything at all")


def test_compact_under_window_and_compact_says_it_has_nothing_to_do() -> None:
    for strategy in ("window", "compact"):
        h = Harness(strategy=strategy)
        h("one")
        h("two")
        out = h("/compact")
        assert out.strip() == (
            f"nothing to compact: the {strategy} strategy drops or compacts old turns only "
            "when the window fills; for a summary on demand, start the chat with "
            "--strategy summary"
        )
        assert "will be sent" not in out
        h("three")
        sent = h.emulator.requests[-1].body["messages"]
        assert len(sent) == 5  # everything still sent, as the message said


@pytest.mark.parametrize("where", ["missing/dir/c.md", "."])
def test_a_failing_slash_command_is_one_line_and_the_session_goes_on(
    tmp_path: Path, where: str
) -> None:
    h = Harness()
    h("hello")
    out = h(f"/export {tmp_path / where}")
    assert out.startswith("error: ") and len(out.strip().splitlines()) == 1
    assert h.session.running
    assert "Emulator reply #2" in h("still here")


def test_export_in_the_repl_asks_before_overwriting(tmp_path: Path) -> None:
    h = Harness()
    answers: list[bool] = [False, True]
    questions: list[str] = []

    def confirm(question: str) -> bool:
        questions.append(question)
        return answers.pop(0)

    h.session.confirm = confirm
    h("hello")
    target = tmp_path / "c.md"
    target.write_text("precious")
    assert h(f"/export {target}").strip() == f"not exported: {target} exists"
    assert target.read_text() == "precious"
    assert f"exported to {target}" in h(f"/export {target}")
    assert questions == [f"{target} exists: overwrite it?"] * 2
    assert target.read_text().startswith("# hello")
    assert target.stat().st_mode & 0o777 == 0o600


def test_branch_after_undo_marks_where_you_are() -> None:
    h = Harness()
    h("one")
    h("two")
    h("/undo")
    rows = h("/branch").splitlines()
    current = [row for row in rows if row.startswith("*")]
    assert len(current) == 1
    assert current[0].startswith("* 2 messages · one") and "after /undo" in current[0]


def test_a_failed_turn_offers_retry_and_is_not_merged_silently() -> None:
    emulator = CutEmulator(script=["first reply", "the retried reply", "third"])
    emulator.inject(Fault.status(400, message="refused"))
    h = Harness(emulator)
    out = h("unanswered question")
    assert out.startswith("error: refused")
    assert "[your message got no reply: /retry sends it again" in out
    assert "first reply" in h("/retry")
    sent = emulator.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user"]
    emulator.inject(Fault.status(400, message="refused"))
    h("second question")
    told = h("third question")
    assert "[sent together with your earlier message that got no reply]" in told


def test_ctrl_c_while_the_conversation_loads_keeps_the_typed_message() -> None:
    """The first message of a session waits for the Chat being built in the background;
    a Ctrl-C then must not lose what was typed."""
    import _thread
    import sys
    import threading

    emulator = CutEmulator()
    store = MemoryStore()
    client = anthropic.Anthropic(api_key="test", http_client=emulator.http_client())
    runtime = Runtime(Settings(), env={}, client=client, store=store)
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, color_system=None)
    main = threading.main_thread()
    interrupted = threading.Event()

    def build() -> Any:
        chat = runtime.new_chat()
        if not interrupted.is_set():
            # Let the main thread get past Thread.start() first, then wait until it waits
            # for this build (at most 30 s: a test that cannot interrupt fails, never hangs).
            threading.Event().wait(0.2)
            deadline = time.monotonic() + 30
            while "join" not in _waiting_in(sys._current_frames()[main.ident or 0]):
                if time.monotonic() > deadline:
                    return chat
                threading.Event().wait(0.01)
            interrupted.set()
            _thread.interrupt_main()  # Ctrl-C while it waits
        return chat

    session = Session(runtime, build, console, plain=True)
    try:
        session.handle("please keep this question")
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C left the session, and the typed message with it")
    out = buffer.getvalue()
    assert "[cancelled before sending — keeping your message]" in out
    assert "/retry sends it again" in out
    chat = session.chat
    assert [m.text for m in store.branch(chat.id)] == ["please keep this question"]
    assert emulator.requests == []
    session.handle("/retry")
    assert emulator.requests[-1].body["messages"][0]["content"][0]["text"] == (
        "please keep this question"
    )


def _waiting_in(frame: Any) -> list[str]:
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return names


def test_a_large_prompt_in_the_repl_is_sent_only_when_confirmed() -> None:
    h = Harness(confirm_tokens=50)
    answers = [False, True]
    questions: list[str] = []

    def confirm(question: str) -> bool:
        questions.append(question)
        return answers.pop(0)

    h.session.confirm = confirm
    big = "a prompt of well over fifty tokens, " * 10
    out = h(big)
    assert out.startswith("error: not sent: the prompt is about ")
    assert h.chat.id is None and h.emulator.requests == []  # nothing stored or sent
    assert "Emulator reply #1" in h(big)
    assert len(questions) == 2 and questions[0].startswith("This prompt is about ")
    h.runtime.assume_yes = True  # chat --yes
    assert "Emulator reply #2" in h(big)
    assert len(questions) == 2
