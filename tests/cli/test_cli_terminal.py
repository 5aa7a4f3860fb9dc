"""Real terminal sessions: the REPL in a pseudo-terminal against the emulator server.

The first: two turns, a Ctrl-C in the middle of the second reply, /retry, /quit; then
``claudechat show`` prints the conversation. The emulator holds the long reply after a
few words until the test has sent Ctrl-C, so nothing depends on timing. Others: @file
completion with Tab and /copy (OSC 52); the cost confirmation, and a 40-column terminal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import claudechat
from claudechat.testing import Emulator, EmuResponse, serve
from claudechat.testing._faults import ConnectionDropped

pexpect = pytest.importorskip("pexpect")

PROMPT = "›"
SRC = str(Path(claudechat.__file__).resolve().parents[1])  # the tree under test, from any cwd


def _terminal_env(cli_env: dict[str, str | None], base_url: str) -> dict[str, str]:
    """The environment of a claudechat process talking to the emulator server at ``base_url``."""
    env = {k: v for k, v in os.environ.items() if k not in cli_env}
    env.update({k: v for k, v in cli_env.items() if v is not None})
    env.update(
        {
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": "test",
            "TERM": "xterm-256color",
            "PROMPT_TOOLKIT_NO_CPR": "1",  # pexpect does not answer cursor-position requests
            "PYTHONPATH": os.pathsep.join([SRC, *filter(None, [env.get("PYTHONPATH")])]),
        }
    )
    return env


def _spawn(env: dict[str, str], *args: str) -> Any:
    """``claudechat chat`` in a pseudo-terminal."""
    return pexpect.spawn(
        sys.executable,
        ["-m", "claudechat", "chat", *args],
        env=env,
        encoding="utf-8",
        dimensions=(40, 120),
        timeout=30,
    )


def _claudechat(env: dict[str, str], *args: str) -> str:
    """What a claudechat command prints (it must succeed)."""
    return subprocess.run(
        [sys.executable, "-m", "claudechat", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


@pytest.mark.terminal
def test_repl_in_a_real_terminal(cli_env: dict[str, str | None], gated_emulator: Any) -> None:
    emulator = gated_emulator
    server = serve(emulator, "127.0.0.1", 0)
    env = _terminal_env(cli_env, server.url)
    child = _spawn(env)
    try:
        child.expect("/help for commands")
        child.expect(PROMPT)
        child.send("What is the first letter?\r")
        child.expect("First answer: ALPHA")
        child.expect(r"total \$")
        child.expect(PROMPT)

        child.send("Tell me a long story\r")
        child.expect("once once once")  # the reply is streaming…
        child.sendintr()  # …Ctrl-C cancels it
        child.expect("cancelled — the partial reply is kept")
        child.expect(PROMPT)
        emulator.gate.set()

        child.send("/retry\r")
        child.expect("Retried answer: GAMMA")
        child.expect(PROMPT)

        child.send("/quit\r")
        child.expect(r"saved as ([0-9a-f]{32})")
        conversation_id = child.match.group(1)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
        emulator.gate.set()
        server.shutdown()
    assert child.exitstatus == 0

    shown = _claudechat(env, "show", conversation_id)
    turns = re.findall(r"^## (You|Claude.*)$", shown, re.M)
    assert turns == ["You", "Claude (claude-sonnet-4-6)"] * 2
    assert "What is the first letter?" in shown and "First answer: ALPHA" in shown
    assert "Tell me a long story" in shown and "Retried answer: GAMMA" in shown
    assert "once once" not in shown  # the cut reply stays on its own branch

    stored = _claudechat(env, "show", conversation_id, "--json")
    assert '"status": "partial"' in stored  # the interrupted reply is kept


class HeldEmulator(Emulator):
    """Holds the reply to a message containing "hold" before its first token until
    ``gate`` is set, then drops the connection (the client has given up by then)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> EmuResponse:
        response = super().handle(method, path, headers, body)
        if b"hold" in body and not isinstance(response.body, bytes):
            response.body = self._hold()
        return response

    def _hold(self) -> Iterator[bytes]:
        self.gate.wait(timeout=30)
        raise ConnectionDropped("the client went away")
        yield b""  # a generator


@pytest.mark.terminal
def test_journey_bad_exports_compact_under_each_strategy_and_ctrl_c_before_the_reply(
    cli_env: dict[str, str | None], tmp_path: Path
) -> None:
    emulator = HeldEmulator()
    server = serve(emulator, "127.0.0.1", 0)
    env = _terminal_env(cli_env, server.url)
    children = []
    try:
        child = _spawn(env)
        children.append(child)
        child.expect("/help for commands")
        child.expect(PROMPT)
        child.send("First question\r")
        child.expect(r"total \$")
        child.expect(PROMPT)
        for bad in (tmp_path / "missing" / "c.md", tmp_path):
            child.send(f"/export {bad}\r")
            child.expect("error: ")
            child.expect(PROMPT)
        child.send("/compact\r")
        child.expect("nothing to compact: the window strategy")
        child.expect(PROMPT)
        child.send("Please hold this question\r")
        child.expect("thinking")
        child.sendintr()  # Ctrl-C before the first token
        child.expect("cancelled before the reply began")
        child.expect(PROMPT)
        emulator.gate.set()
        child.send("/quit\r")
        child.expect(r"saved as ([0-9a-f]{32})")
        conversation_id = child.match.group(1)
        child.expect(pexpect.EOF)

        for strategy, said in (
            ("summary", "the next message will be sent with the earlier turns summarised"),
            ("compact", "nothing to compact: the compact strategy"),
        ):
            child = _spawn(env, "--cid", conversation_id, "--strategy", strategy)
            children.append(child)
            child.expect("/help for commands")
            child.expect(PROMPT)
            child.send("/compact\r")
            child.expect(said)
            child.expect(PROMPT)
            child.send("/quit\r")
            child.expect(pexpect.EOF)
    finally:
        for child in children:
            child.close(force=True)
        emulator.gate.set()
        server.shutdown()
    assert [child.exitstatus for child in children] == [0, 0, 0]
    assert not list(tmp_path.glob("missing"))

    shown = _claudechat(env, "show", conversation_id)
    turns = re.findall(r"^## (You|Claude.*)$", shown, re.M)
    assert turns == ["You", "Claude (claude-sonnet-4-6)", "You"]
    assert "Please hold this question" in shown  # kept although Ctrl-C came first


@pytest.mark.terminal
def test_daily_habits_in_a_real_terminal(cli_env: dict[str, str | None], tmp_path: Path) -> None:
    """@file completion with Tab, then /copy sends the reply through OSC 52."""
    (tmp_path / "notes-for-claude.txt").write_text("The launch code is PINEAPPLE.\n")
    server = serve(Emulator(), "127.0.0.1", 0)
    env = _terminal_env(cli_env, server.url)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "claudechat", "chat"],
        env=env,
        cwd=str(tmp_path),
        encoding="utf-8",
        dimensions=(40, 120),
        timeout=30,
    )
    try:
        child.expect("/help for commands")
        child.expect(PROMPT)
        child.send("read @notes-for")
        child.expect("@notes-for")  # typed and drawn before Tab
        child.send("\t")  # Tab completes the file name
        child.expect("notes-for-claude.txt")
        child.send("\r")
        child.expect(r"\[with notes-for-claude.txt\]")
        child.expect(r"total \$")
        child.expect(PROMPT)
        child.send("/copy\r")  # the reply goes to the clipboard through the terminal
        child.expect_exact("\x1b]52;c;")
        child.expect("copied the last reply")
        child.expect(PROMPT)
        child.send("/quit\r")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
        server.shutdown()
    assert child.exitstatus == 0
    bodies = [r.body for r in server.emulator.requests if r.path == "/v1/messages"]
    sent = bodies[-1]["messages"][-1]["content"]
    text = "".join(b["text"] for b in sent if b["type"] == "text")
    assert text == (
        'read @notes-for-claude.txt\n\n<file name="notes-for-claude.txt">\n'
        "The launch code is PINEAPPLE.\n</file>"
    )


@pytest.mark.terminal
def test_cost_confirmation_and_a_40_column_terminal(cli_env: dict[str, str | None]) -> None:
    server = serve(Emulator(), "127.0.0.1", 0)
    env = {**_terminal_env(cli_env, server.url), "CLAUDECHAT_CONFIRM_TOKENS": "20"}
    env.pop("COLUMNS")  # the width comes from the terminal itself
    child = pexpect.spawn(
        sys.executable,
        ["-m", "claudechat", "chat"],
        env=env,
        encoding="utf-8",
        dimensions=(40, 40),
        timeout=30,
    )
    long_prompt = "please read this rather long question about many things " * 3
    try:
        child.expect(PROMPT)
        child.send(long_prompt + "\r")
        child.expect(r"Send it\? \[y/N\]")
        child.send("n\r")
        child.expect("not sent: the prompt is about")
        child.expect(PROMPT)
        child.send(long_prompt + "\r")
        child.expect(r"Send it\? \[y/N\]")
        child.send("y\r")
        child.expect("Emulator reply")
        child.expect(r"total \$")  # the status line, wrapped between its fields
        child.expect(PROMPT)
        child.send("/cost\r")
        child.expect(r"kind +tokens +USD")
        child.expect(r"total +\$")
        child.expect(PROMPT)
        child.send("/list\r")
        style = r"(?:\x1b\[[0-9;]*m)*"
        child.expect(rf"([0-9a-f]{{8}}){style}  {style}please read")  # the id's end, the title
        short = child.match.group(1)
        child.expect(PROMPT)
        child.send("/quit\r")
        child.expect(r"saved as ([0-9a-f]{32})")
        conversation_id = child.match.group(1)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
        server.shutdown()
    assert child.exitstatus == 0
    assert conversation_id.endswith(short)
    assert len([r for r in server.emulator.requests if r.path == "/v1/messages"]) == 1
