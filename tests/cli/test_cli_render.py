"""Rendering helpers, NO_COLOR / plain output, and re-reading after a concurrent update."""

from __future__ import annotations

import io
import re
import signal

import anthropic
import pytest
from rich.console import Console

from claudechat.chat import Chat
from claudechat.cli import render
from claudechat.cli.runtime import retrying
from claudechat.context.report import WindowFill
from claudechat.store import MemoryStore
from claudechat.testing import Emulator
from claudechat.usage import Usage


@pytest.mark.parametrize(
    ("text", "stable", "tail"),
    [
        ("one paragraph still going", "", "one paragraph still going"),
        ("First.\n\nSecond is", "First.\n", "Second is"),
        ("A\n\nB\n\nC", "A\n\nB\n", "C"),
        ("```py\nx = 1\n\ny = 2", "", "```py\nx = 1\n\ny = 2"),  # inside a fence
        ("```py\nx = 1\n```\n\nAfter", "```py\nx = 1\n```\n", "After"),
        ("- one\n\n- two", "", "- one\n\n- two"),  # a loose list stays together
        ("Intro\n\n1. step", "", "Intro\n\n1. step"),
        ("Para\n\n    indented code", "", "Para\n\n    indented code"),
    ],
)
def test_split_stable_cuts_only_between_finished_blocks(text: str, stable: str, tail: str) -> None:
    assert render.split_stable(text) == (stable, tail)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "$?"), (0.0, "$0"), (0.000546, "$0.0005"), (0.25, "$0.2500"), (12.5, "$12.50")],
)
def test_usd(value: float | None, shown: str) -> None:
    assert render.usd(value) == shown


def test_status_line_shows_tokens_cache_cost_and_fill() -> None:
    usage = Usage(input_tokens=100, output_tokens=40, cache_read_tokens=900, requests=1)
    fill = WindowFill(tokens=1000, budget=4000, exact=True)
    line = render.status_line(usage, 0.0012, 0.034, fill)
    assert line == (
        "in 1,000 · out 40 · cache 90% · turn $0.0012 · total $0.0340 · window 1,000/4,000 (25%)"
    )
    estimated = WindowFill(tokens=10, budget=100, exact=False)
    assert render.status_line(Usage(), None, None, estimated).endswith("window ~10/100 (10%)")
    assert "cache –" in render.status_line(Usage(), None, None, None)


def test_plain_output_when_not_a_terminal_or_no_color() -> None:
    terminal = Console(file=io.StringIO(), force_terminal=True)
    piped = Console(file=io.StringIO())
    assert render.plain_output(terminal, {}) is False
    assert render.plain_output(terminal, {"NO_COLOR": "1"}) is True
    assert render.plain_output(piped, {}) is True
    assert render.make_console({"NO_COLOR": "1"}, file=io.StringIO()).no_color is True


def test_reply_view_plain_writes_pieces_and_ends_the_line() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer)
    with render.ReplyView(console, plain=True) as view:
        view.add("Hello, ")
        view.add("world")
    assert buffer.getvalue() == "Hello, world\n"


def test_reply_view_rich_prints_finished_blocks_once() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=40, force_terminal=True, color_system=None)
    with render.ReplyView(console, plain=False, refresh_per_second=4) as view:
        for piece in ["# Head", "ing\n\nBody ", "text **bold**\n\nLast"]:
            view.add(piece)
    out = buffer.getvalue()
    assert out.count("Heading") == 1  # printed once, above the live area
    assert "Body text bold" in out and "Last" in out


def _shared() -> tuple[Chat, Chat]:
    emulator = Emulator()
    store = MemoryStore()
    client = anthropic.Anthropic(api_key="t", http_client=emulator.http_client())
    first = Chat("claude-sonnet-4-6", store=store, client=client)
    first.send("start")
    assert first.id is not None
    return first, Chat.resume(first.id, store=store, client=client)


def test_a_concurrent_update_is_re_read_and_retried() -> None:
    mine, theirs = _shared()
    theirs.send("another terminal moved the head")
    reply = retrying(mine, lambda: mine.send("mine"))
    texts = [m.text for m in mine.history if m.role == "user"]
    assert texts == ["start", "another terminal moved the head", "mine"]
    assert "(3 turns)" in reply.text


def test_a_stale_writer_goes_on_after_the_turn_it_missed() -> None:
    mine, theirs = _shared()
    theirs.send("moved")
    mine.send("stale")  # the turn it claims re-reads the head first
    texts = [m.text for m in mine.history if m.role == "user"]
    assert texts == ["start", "moved", "stale"]


def test_a_block_taller_than_the_screen_streams_its_last_lines_then_prints_whole() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=40, height=10, force_terminal=True, color_system=None)
    code = "```\n" + "\n".join(f"line {n:03}" for n in range(60)) + "\n```"
    view = render.ReplyView(console, plain=False, refresh_per_second=4)
    with view:
        view.add(code[: len(code) // 2])
        live = render._Tail(view)
        shown = "".join(seg.text for seg in console.render(live))
        assert "line 000" not in shown and len(shown.splitlines()) <= 8
        view.add(code[len(code) // 2 :])
    out = buffer.getvalue()
    assert "line 000" in out and "line 059" in out


class InterruptingFile(io.StringIO):
    """A terminal whose write of ``trigger`` is followed by a Ctrl-C (SIGINT), as when
    the user presses it while the reply is being drawn."""

    def __init__(self, trigger: str) -> None:
        super().__init__()
        self.trigger = trigger
        self.fired = False

    def write(self, text: str) -> int:
        written = super().write(text)
        if not self.fired and self.trigger in text:
            self.fired = True
            signal.raise_signal(signal.SIGINT)
        return written


def test_ctrl_c_while_a_reply_is_drawn_prints_nothing_twice() -> None:
    before = signal.getsignal(signal.SIGINT)
    file = InterruptingFile("First paragraph")
    console = Console(file=file, width=60, force_terminal=True, color_system=None)
    view = render.ReplyView(console, plain=False, refresh_per_second=0.01)
    with pytest.raises(KeyboardInterrupt), view:
        view.add("First paragraph of the reply.\n\nSecond")
        view.add(" paragraph, cut.")
    assert file.fired
    shown = file.getvalue()
    assert shown.count("First paragraph of the reply.") == 1
    assert "Second" in shown
    assert signal.getsignal(signal.SIGINT) is before  # Ctrl-C works as before afterwards


def test_a_long_last_block_never_moves_the_cursor_above_the_screen() -> None:
    """Moving up more rows than the screen has overwrites what is above the reply (the
    banner, the prompt line) and prints its first lines twice."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=60, height=12, force_terminal=True, color_system=None)
    view = render.ReplyView(console, plain=False, refresh_per_second=0.01)
    with view:
        for n in range(40):  # one block (no blank line) much taller than the screen
            view.add(f"line {n} of a long code-like block\n")
            view._live.refresh()  # as the refresh thread would
    shown = buffer.getvalue()
    up = re.escape("\x1b[1A\x1b[2K")
    longest = max((len(m.group(0)) // 8 for m in re.finditer(f"(?:{up})+", shown)), default=0)
    assert longest < 12
    assert "line 0 of a long code-like block" in shown and "line 39 of" in shown


def test_the_terminal_does_not_echo_while_a_reply_is_drawn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An echoed "^C" moved the cursor under the live region, which then drew its first
    line twice; the echo is off while the reply is drawn and back on afterwards."""
    import os
    import pty
    import termios

    from rich.console import Console

    from claudechat.cli.render import ReplyView

    leader, follower = pty.openpty()
    try:
        with os.fdopen(os.dup(follower), "r") as tty_in:
            monkeypatch.setattr("sys.stdin", tty_in)
            before = termios.tcgetattr(follower)[3]
            assert before & termios.ECHO
            console = Console(file=io.StringIO(), width=80, force_terminal=True)
            with ReplyView(console, plain=False) as view:
                view.add("Hello ")
                during = termios.tcgetattr(follower)[3]
            assert not during & (termios.ECHO | termios.ECHOCTL)
            assert termios.tcgetattr(follower)[3] == before
    finally:
        os.close(leader)
        os.close(follower)
