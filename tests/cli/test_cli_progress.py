"""Feedback on slow or costly work: a progress bar in a terminal (nothing when piped), and
the size / cost confirmation's defaults (50,000 tokens, $0.50), both configurable."""

from __future__ import annotations

import io
from collections.abc import Callable

from click.testing import Result
from emulated import sent_bodies, server_env
from rich.console import Console

from claudechat.cli.progress import progress_bar, spinner
from claudechat.config import Settings
from claudechat.testing import EmulatorServer

Run = Callable[..., Result]


def test_the_bar_draws_in_a_terminal_and_not_when_piped() -> None:
    shown = io.StringIO()
    terminal = Console(file=shown, width=80, force_terminal=True, color_system=None)
    with progress_bar("reindexing", 3, console=terminal) as advance:
        for _ in range(3):
            advance(1)
    assert "reindexing" in shown.getvalue()
    piped = io.StringIO()
    quiet = Console(file=piped, width=80)
    with progress_bar("reindexing", 3, console=quiet) as advance:
        advance(3)
    with spinner("importing", console=quiet):
        pass
    assert piped.getvalue() == ""


def test_reindex_output_stays_one_line_when_piped(run: Run) -> None:
    for prompt in ("one", "two"):
        assert run("ask", prompt).exit_code == 0
    result = run("reindex")
    assert result.exit_code == 0, result.output
    assert result.stdout == "indexed 2 turns of 2 conversations (lexical)\n"
    assert "reindexing" not in result.stderr


def test_the_confirmation_defaults_to_50000_tokens_and_half_a_dollar(
    run: Run, server: EmulatorServer
) -> None:
    assert (Settings().confirm_tokens, Settings().confirm_usd) == (50_000, 0.50)
    big = "All work and no play makes Jack a dull boy. " * 5_000  # ~55k tokens
    refused = run("ask", input=big, env=server_env(server))
    assert refused.exit_code == 2 and "not sent: the prompt is about" in refused.stderr
    assert sent_bodies(server) == []
    assert run("config", "set", "confirm_tokens", "80000").exit_code == 0
    sent = run("ask", input=big, env=server_env(server))
    assert sent.exit_code == 0, sent.output
