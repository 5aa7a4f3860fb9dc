"""Exit codes and one-line errors: 0 ok, 1 API error, 2 usage/config (bad key), 130 interrupted."""

from __future__ import annotations

from collections.abc import Callable

import click
import pytest
from click.testing import Result

from claudechat.cli.exits import describe, exit_code
from claudechat.errors import (
    AuthError,
    ConcurrentUpdate,
    ConfigError,
    ConversationNotFound,
    ModelError,
    Overloaded,
    StreamInterrupted,
    UserError,
)
from claudechat.testing import Emulator, EmulatorServer, Fault

Run = Callable[..., Result]
Start = Callable[..., EmulatorServer]


def test_an_invalid_api_key_is_one_line_and_exit_2(run: Run, emulator_server: Start) -> None:
    server = emulator_server(Emulator(api_key="right"))
    env = {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "wrong"}
    result = run("ask", "hello", env=env)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: authentication failed: invalid x-api-key")
    assert lines[0].endswith("— check ANTHROPIC_API_KEY")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("key", "said"),
    [("   ", "is blank"), ("right\n", "has spaces or newlines around it"),
     (" right", "has spaces or newlines around it")],
)  # fmt: skip
def test_a_blank_or_padded_api_key_is_refused_before_anything_is_stored_or_sent(
    run: Run, emulator_server: Start, cli_env: dict[str, str | None], key: str, said: str
) -> None:
    emulator = Emulator(api_key="right")
    server = emulator_server(emulator)
    result = run("ask", "hello", env={"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": key})
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == f"error: ANTHROPIC_API_KEY {said}: set it to the key alone, or unset it"
    )
    assert emulator.requests == []
    listed = run("list")
    assert listed.exit_code == 0 and "hello" not in listed.stdout


def test_the_right_key_talks_to_the_server_without_the_emulator_notice(
    run: Run, emulator_server: Start
) -> None:
    server = emulator_server(Emulator(api_key="right", script=["From the server."]))
    result = run(
        "ask", "hello", env={"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "right"}
    )
    assert result.exit_code == 0
    assert result.stdout == "From the server.\n"
    assert "emulator" not in result.stderr
    headers = server.emulator.requests[-1].headers
    presented = headers.get("x-api-key") or headers["authorization"].removeprefix("Bearer ")
    assert presented == "right"


def test_an_api_error_is_exit_1_and_the_user_message_is_kept(
    run: Run, emulator_server: Start
) -> None:
    emulator = Emulator()
    emulator.inject(Fault.status(400, message="something the API refused"))
    server = emulator_server(emulator)
    env = {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "k"}
    result = run("ask", "keep this question", env=env)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: something the API refused (status 400, request req_emu_000000000001)",
        "note: your message is stored without a reply: the next ask -c sends it",
    ]
    listed = run("list", env=env).stdout
    assert "keep this question" in listed  # stored before the call
    again = run("ask", "-c", "and this one", env=env)
    assert again.exit_code == 0
    assert "the message before this one had got no reply; both were sent together" in again.stderr
    sent = [b["text"] for b in emulator.requests[-1].body["messages"][-1]["content"]]
    assert sent == ["keep this question", "and this one"]  # merged, and the user was told


def test_debug_shows_the_traceback(run: Run, emulator_server: Start) -> None:
    server = emulator_server(Emulator(api_key="right"))
    env = {
        "ANTHROPIC_BASE_URL": server.url,
        "ANTHROPIC_API_KEY": "wrong",
        "CLAUDECHAT_DEBUG": "1",
    }
    result = run("ask", "hello", env=env)
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "claudechat.errors.AuthError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: authentication failed")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["ask", "--budget", "lots", "hi"], {}, "error: budget must be a positive whole number"),
        (["ask", "hi"], {"CLAUDECHAT_BUDGET": "-1"}, "error: CLAUDECHAT_BUDGET: budget must be"),
        (["ask", "--cid", "nope", "hi"], {}, "error: not found: no conversation 'nope'"),
        (["ask", "hi"], {"CLAUDECHAT_STORE": "mongodb://x"}, "error: unknown store mongodb://"),
        (["ask", "--max-tokens", "0", "hi"], {}, "error: max_tokens must be a positive"),
        (["frobnicate"], {}, "Error: No such command 'frobnicate'."),
        (["ask", "--strategy", "yolo", "hi"], {}, "Error: Invalid value for '--strategy'"),
    ],
)
def test_usage_and_configuration_errors_exit_2(
    run: Run, args: list[str], env: dict[str, str], message: str
) -> None:
    result = run(*args, env=env)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_broken_config_file_is_exit_2(run: Run, cli_env: dict[str, str | None]) -> None:
    from pathlib import Path

    path = Path(str(cli_env["CLAUDECHAT_CONFIG"]))
    path.parent.mkdir(parents=True)
    path.write_text("model = [")
    result = run("ask", "hi")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: the config file {path} is not valid TOML")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (AuthError("bad key", status=401), 2),
        (UserError("bad"), 2),
        (ConfigError("bad"), 2),
        (ConversationNotFound("no conversation x"), 2),
        (click.UsageError("bad"), 2),
        (ModelError("boom", status=500), 1),
        (Overloaded("busy", status=529), 1),
        (StreamInterrupted("cut"), 1),
        (ConcurrentUpdate("moved"), 1),
        (RuntimeError("bug"), 1),
        (KeyboardInterrupt(), 130),
        (click.Abort(), 130),
    ],
)
def test_exit_code_mapping(error: BaseException, code: int) -> None:
    assert exit_code(error) == code


def test_describe_is_one_line() -> None:
    assert (
        describe(ModelError("a\nb", status=500, request_id="r1")) == "a b (status 500, request r1)"
    )
    assert describe(RuntimeError("x")).startswith("internal error (RuntimeError): x")


def test_a_bad_key_ends_a_chat_with_exit_2(run: Run, emulator_server: Start) -> None:
    server = emulator_server(Emulator(api_key="right"))
    env = {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "wrong"}
    result = run("chat", input="hello\n", env=env)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: authentication failed")


def test_ctrl_c_during_ask_exits_130_and_keeps_the_partial(
    cli_env: dict[str, str | None], gated_emulator: Emulator
) -> None:
    import json
    import os
    import signal
    import subprocess
    import sys

    from claudechat.testing import serve

    server = serve(gated_emulator, "127.0.0.1", 0)
    env = {k: v for k, v in os.environ.items() if k not in cli_env}
    env.update({k: v for k, v in cli_env.items() if v is not None})
    env.update({"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "k"})
    command = [sys.executable, "-m", "claudechat"]
    proc = subprocess.Popen(
        [*command, "ask", "Tell me a long story"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.read(10) == b"once once "  # streaming has begun
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130
        assert err.decode().strip().splitlines() == ["interrupted"]
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()
    listed = subprocess.run(
        [*command, "list", "--json"], env=env, capture_output=True, text=True, check=True
    )
    cid = json.loads(listed.stdout.splitlines()[0])["id"]
    shown = subprocess.run(
        [*command, "show", cid, "--json"], env=env, capture_output=True, text=True, check=True
    )
    statuses = [m["status"] for m in json.loads(shown.stdout)["messages"]]
    assert statuses == ["complete", "partial"]
