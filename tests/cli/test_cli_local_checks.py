"""Everything knowable locally fails before anything is stored or sent (exit 2), and a
large or costly prompt is confirmed first (refused without a terminal unless --yes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from claudechat.store import SQLiteStore
from claudechat.testing import Emulator, EmulatorServer

Run = Callable[..., Result]
Start = Callable[..., EmulatorServer]


def _stored(cli_env: dict[str, str | None]) -> int:
    """How many conversations the CLI's database holds."""
    path = cli_env["CLAUDECHAT_DB"]
    assert path is not None
    if not Path(path).exists():
        return 0
    store = SQLiteStore(path)
    try:
        return len(store.list_conversations(limit=100))
    finally:
        store.close()


@pytest.fixture
def server(emulator_server: Start) -> EmulatorServer:
    return emulator_server(Emulator())


def _env(server: EmulatorServer) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "k"}


def _refused(
    run: Run, cli_env: dict[str, str | None], server: EmulatorServer, *args: str, **kw: object
) -> str:
    """``claudechat ask ARGS`` ends with exit 2 having stored and sent nothing; its stderr."""
    result = run("ask", *args, env=_env(server), **kw)
    assert result.exit_code == 2
    assert _stored(cli_env) == 0 and server.emulator.requests == []
    return result.stderr


@pytest.mark.parametrize(
    "data",
    [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", b"caf\xe9 au lait", b"text\x00with a NUL"],
)
def test_binary_stdin_is_a_usage_error_and_nothing_is_stored(
    run: Run, cli_env: dict[str, str | None], server: EmulatorServer, data: bytes
) -> None:
    lines = _refused(run, cli_env, server, input=data).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: stdin ")
    assert "binary input cannot be sent" in lines[0]


def test_a_lone_surrogate_in_the_arguments_is_a_usage_error(
    run: Run, cli_env: dict[str, str | None], server: EmulatorServer
) -> None:
    stderr = _refused(run, cli_env, server, "bad \udcff byte")
    assert "not valid Unicode" in stderr and "internal error" not in stderr


def test_max_tokens_over_the_models_cap_is_a_usage_error_and_nothing_is_stored(
    run: Run, cli_env: dict[str, str | None], server: EmulatorServer
) -> None:
    stderr = _refused(run, cli_env, server, "--max-tokens", "200000", "hello")
    assert stderr.strip() == (
        "error: max_tokens 200,000 is over claude-sonnet-4-6's output limit of 128,000 tokens"
    )


def test_a_budget_too_small_for_the_prompt_creates_no_conversation(
    run: Run, cli_env: dict[str, str | None], server: EmulatorServer
) -> None:
    stderr = _refused(run, cli_env, server, "--budget", "10", "hello")
    assert "does not fit the budget of 10 input tokens" in stderr


def test_a_large_prompt_is_refused_without_a_terminal_unless_yes(
    run: Run, cli_env: dict[str, str | None], server: EmulatorServer
) -> None:
    big = "All work and no play makes Jack a dull boy. " * 12_000  # ~130k tokens
    refused = _refused(run, cli_env, server, input=big)
    assert "error: not sent: the prompt is about " in refused
    assert "pass --yes" in refused

    sent = run("ask", "--yes", input=big, env=_env(server))
    assert sent.exit_code == 0, sent.output
    assert _stored(cli_env) == 1 and len(server.emulator.requests) == 1


def test_the_thresholds_are_configurable(
    run: Run, cli_env: dict[str, str | None], server: EmulatorServer
) -> None:
    assert run("config", "set", "confirm_tokens", "50").exit_code == 0
    refused = run("ask", "a prompt of well over fifty tokens " * 10, env=_env(server))
    assert refused.exit_code == 2 and "not sent" in refused.stderr
    assert run("config", "set", "confirm_tokens", "1000000").exit_code == 0
    assert run("config", "set", "confirm_usd", "0.000001").exit_code == 0
    costly = run("ask", "--json", "a prompt of well over fifty tokens " * 10, env=_env(server))
    assert costly.exit_code == 2 and "not sent" in costly.stderr
    assert server.emulator.requests == []
    assert run("config", "set", "confirm_usd", "free").exit_code == 2
    assert run("config", "unset", "confirm_usd").exit_code == 0
    small = run("ask", "--json", "short", env=_env(server))
    assert small.exit_code == 0 and json.loads(small.stdout)["reply"]


def test_max_tokens_filling_an_unknown_models_window_says_so(run: Run) -> None:
    result = run("ask", "-m", "claude-future-9", "--max-tokens", "200000", "hi")
    assert result.exit_code == 2
    assert "--max-tokens 200,000 leaves no room for input" in result.stderr
    assert "budget of -" not in result.stderr  # no negative budget in the message


def test_a_conversation_answered_turn_by_turn_gets_no_merge_note(run: Run) -> None:
    assert run("ask", "first").exit_code == 0
    again = run("ask", "-c", "second")
    assert again.exit_code == 0 and "note:" not in again.stderr
