"""Getting output out: /copy (OSC 52, a message where the terminal cannot), /copy code N,
ask -x (the first fenced code block) and ask --no-stream (one write)."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import anthropic
import pytest
from click.testing import Result
from emulated import server_env
from rich.console import Console

from claudechat.cli.output import fenced_blocks, osc52
from claudechat.cli.runtime import Runtime
from claudechat.cli.session import Session
from claudechat.config import Settings
from claudechat.store import MemoryStore
from claudechat.testing import Emulator, EmulatorServer

Run = Callable[..., Result]
REPLY = "Two ways:\n\n```python\nprint('one')\n```\n\nor\n\n~~~sh\necho two\n~~~\n"


def _session(env: dict[str, str], *, terminal: bool) -> tuple[Session, io.StringIO]:
    emulator = Emulator(script=[REPLY])
    client = anthropic.Anthropic(api_key="test", http_client=emulator.http_client())
    runtime = Runtime(Settings(), env=env, client=client, store=MemoryStore())
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None, force_terminal=terminal)
    return Session(runtime, runtime.new_chat(), console, plain=True), out


def _copied(out: str) -> str:
    start = out.index("\x1b]52;c;") + len("\x1b]52;c;")
    return base64.b64decode(out[start : out.index("\x07", start)]).decode()


def test_copy_puts_the_last_reply_or_a_code_block_on_the_clipboard() -> None:
    session, out = _session({"TERM": "xterm"}, terminal=True)
    session.handle("/copy")
    assert "no reply to copy yet" in out.getvalue()
    session.handle("show me")
    for command, copied in (
        ("/copy", REPLY),
        ("/copy code", "print('one')\n"),
        ("/copy code 2", "echo two\n"),
    ):
        start = out.tell()
        session.handle(command)
        assert _copied(out.getvalue()[start:]) == copied
    start = out.tell()
    session.handle("/copy code 3")
    assert "the last reply has 2 code block(s)" in out.getvalue()[start:]


def test_copy_without_a_terminal_says_so() -> None:
    session, out = _session({}, terminal=False)
    session.handle("show me")
    session.handle("/copy")
    assert "\x1b]52" not in out.getvalue()
    assert "cannot copy: this is not a terminal (/export PATH saves to a file)" in out.getvalue()


def test_osc52_is_wrapped_for_tmux_and_refused_when_too_long() -> None:
    assert osc52("hi", {}) == "\x1b]52;c;aGk=\x07"
    assert osc52("hi", {"TMUX": "/tmp/tmux"}) == "\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\"
    assert osc52("x" * 100_000, {}) is None


def test_fenced_blocks() -> None:
    assert fenced_blocks(REPLY) == ["print('one')\n", "echo two\n"]
    assert fenced_blocks("````md\n```\ninner\n```\n````") == ["```\ninner\n```\n"]
    assert fenced_blocks("no code") == []
    assert fenced_blocks("cut:\n```py\nx = 1") == ["x = 1\n"]


@pytest.mark.parametrize(
    ("args", "printed"),
    [
        (("-x",), "print('one')\n"),
        (("--extract", "--no-stream"), "print('one')\n"),
        (("--no-stream",), REPLY),
    ],
)
def test_ask_extract_and_no_stream(
    run: Run, emulator_server: Callable[..., EmulatorServer], args: tuple[str, ...], printed: str
) -> None:
    server = emulator_server(Emulator(script=[REPLY]))
    result = run("ask", *args, "show me", env=server_env(server))
    assert result.exit_code == 0, result.output
    assert result.stdout == printed


def test_ask_extract_without_a_code_block_prints_the_reply(
    run: Run, emulator_server: Callable[..., EmulatorServer]
) -> None:
    server = emulator_server(Emulator(script=["No code here."]))
    result = run("ask", "-x", "show me", env=server_env(server))
    assert result.stdout == "No code here.\n"
