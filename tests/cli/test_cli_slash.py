"""Slash commands: parsing, dispatch, completion and help, with no terminal."""

from __future__ import annotations

from typing import Any

import pytest

from claudechat.cli import slash
from claudechat.cli.slash import Command, SlashError


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/help", Command("help")),
        ("/help retry", Command("help", "retry")),
        ("  /open 01a2b3c4  ", Command("open", "01a2b3c4")),
        ("/OPEN abc123", Command("open", "abc123")),
        ("/edit fix the typo please", Command("edit", "fix the typo please")),
        ("/system You are terse.", Command("system", "You are terse.")),
        ("/search deploy command", Command("search", "deploy command")),
        ("/exit", Command("quit")),
        ("/q", Command("quit")),
        ("/?", Command("help")),
        ("/branch 2", Command("branch", "2")),
        ("/export notes.md", Command("export", "notes.md")),
    ],
)
def test_parse_gives_the_canonical_command_and_argument(line: str, expected: Command) -> None:
    assert slash.parse(line) == expected


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("/frobnicate", "unknown command /frobnicate (type /help)"),
        ("/retr", "unknown command /retr — did you mean /retry? (type /help)"),
        ("/retry now", "/retry takes no argument: /retry"),
        ("/title", "usage: /title TEXT"),
        ("/search   ", "usage: /search QUERY"),
        ("/", "type /help for the commands"),
    ],
)
def test_bad_commands_get_a_one_line_hint(line: str, hint: str) -> None:
    with pytest.raises(SlashError) as info:
        slash.parse(line)
    assert str(info.value) == hint
    assert "\n" not in str(info.value)


def test_is_command_lets_a_double_slash_through_as_text() -> None:
    assert slash.is_command("/help")
    assert not slash.is_command("//etc/hosts is a file")
    assert not slash.is_command("hello /help")
    assert not slash.is_command("/")


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def cmd_retry(self) -> str:
        self.calls.append(("retry", None))
        return "retried"

    def cmd_model(self, arg: str | None) -> None:
        self.calls.append(("model", arg))

    def cmd_open(self, arg: str) -> None:
        self.calls.append(("open", arg))


def test_dispatch_calls_the_handler_with_its_argument() -> None:
    target = _Recorder()
    assert slash.dispatch(target, slash.parse("/retry")) == "retried"
    slash.dispatch(target, slash.parse("/model"))
    slash.dispatch(target, slash.parse("/model claude-opus-5"))
    slash.dispatch(target, slash.parse("/open abc"))
    assert target.calls == [
        ("retry", None),
        ("model", None),
        ("model", "claude-opus-5"),
        ("open", "abc"),
    ]


def test_dispatch_to_a_missing_handler_is_a_hint() -> None:
    with pytest.raises(SlashError, match="/fork is not available here"):
        slash.dispatch(_Recorder(), slash.parse("/fork"))


def test_every_command_has_a_session_handler() -> None:
    from claudechat.cli.session import Session

    missing = [s.name for s in slash.COMMANDS if not hasattr(Session, f"cmd_{s.name}")]
    assert missing == []


def test_completion_of_partial_commands() -> None:
    assert slash.complete("/re") == ["/retry", "/recall"]
    assert slash.complete("/") == [f"/{s.name}" for s in slash.COMMANDS]
    assert slash.complete("/retry x") == []
    assert slash.complete("hello") == []


def test_help_lists_every_command_and_explains_one() -> None:
    lines = slash.help_lines()
    for spec in slash.COMMANDS:
        assert any(line.startswith(spec.usage) for line in lines)
    assert slash.help_lines("/undo") == ["/undo — take back the last turn (it stays stored)"]
    with pytest.raises(SlashError):
        slash.help_lines("nope")


@pytest.mark.parametrize(("arg", "value"), [(None, None), ("3", 3)])
def test_int_arg(arg: str | None, value: int | None) -> None:
    assert slash.int_arg(arg, "N") == value


@pytest.mark.parametrize("arg", ["x", "0", "-2"])
def test_int_arg_rejects_non_positive_numbers(arg: str) -> None:
    with pytest.raises(SlashError):
        slash.int_arg(arg, "N")
