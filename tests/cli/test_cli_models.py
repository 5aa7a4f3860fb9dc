"""``claudechat models``, ``-m`` aliases and "did you mean" for near misses of a model name."""

from __future__ import annotations

import json
from collections.abc import Callable

from emulated import sent_bodies, server_env

from claudechat.testing import EmulatorServer
from conftest import Run


def test_models_lists_the_api_models_offline_on_the_emulator(run: Run) -> None:
    result = run("models")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["model", "window", "output", "$/MTok", "in", "/", "out",
                                "cache", "read", "status"]  # fmt: skip
    opus = next(line for line in lines if line.startswith("claude-opus-5-5 "))
    assert opus.split() == ["claude-opus-5-5", "1M", "128K", "4", "/", "20", "0.2", "active"]
    sonnet45 = next(line for line in lines if line.startswith("claude-sonnet-4-5 "))
    assert sonnet45.endswith("deprecated, retires 2026-11-30")
    assert "from the Models API" in lines
    assert lines[-1].startswith("aliases: ") and "sonnet = claude-sonnet-5-5" in lines[-1]
    assert "claude-mythos-preview" not in result.stdout
    assert "claude-mythos-preview" in run("models", "--all").stdout


def test_models_falls_back_to_the_table_when_the_api_does_not_answer(
    run: Run, emulator_server: Callable[..., EmulatorServer]
) -> None:
    server = emulator_server()
    env = {**server_env(server), "ANTHROPIC_BASE_URL": server.url + "/not-here"}
    data = json.loads(run("models", "--json", env=env).stdout)
    assert data["source"].startswith("the capability table (the Models API did not answer")
    assert {m["source"] for m in data["models"]} == {"table"}
    offline = json.loads(run("models", "--json", "--offline").stdout)
    assert offline["source"] == "the capability table"


def test_m_takes_an_alias_and_refuses_a_near_miss(
    run: Run, emulator_server: Callable[..., EmulatorServer]
) -> None:
    server = emulator_server()
    env = server_env(server)
    assert run("ask", "-m", "haiku", "hello", env=env).exit_code == 0
    assert sent_bodies(server)[-1]["model"] == "claude-haiku-5-5"
    bad = run("ask", "-m", "claude-sonet-4-6", "hello", env=env)
    assert bad.exit_code == 2
    assert "unknown model 'claude-sonet-4-6'; did you mean 'claude-sonnet-4-6'?" in bad.output
    assert len(sent_bodies(server)) == 1  # nothing was sent
    typo_env = run("ask", "hello", env={**env, "CLAUDECHAT_MODEL": "claude-opus-4.8"})
    assert typo_env.exit_code == 2 and "CLAUDECHAT_MODEL: unknown model" in typo_env.output


def test_config_aliases_and_near_misses(
    run: Run, emulator_server: Callable[..., EmulatorServer]
) -> None:
    refused = run("config", "set", "model", "claude-sonet-4-6")
    assert refused.exit_code == 2 and "did you mean 'claude-sonnet-4-6'" in refused.output
    assert run("config", "set", "aliases.fast", "claude-haiku-4-5").exit_code == 0
    assert run("config", "set", "aliases.sonnet", "claude-sonnet-4-6").exit_code == 0
    assert run("config", "set", "aliases.x", "claude-hiaku-4-5").exit_code == 2
    assert run("config", "set", "model", "fast").exit_code == 0
    server = emulator_server()
    env = server_env(server)
    assert run("ask", "hello", env=env).exit_code == 0
    assert sent_bodies(server)[-1]["model"] == "claude-haiku-4-5"
    assert run("ask", "-m", "sonnet", "again", env=env).exit_code == 0
    assert sent_bodies(server)[-1]["model"] == "claude-sonnet-4-6"  # the config's own wins
    aliases = json.loads(run("models", "--json", "--offline").stdout)["aliases"]
    assert aliases["fast"] == "claude-haiku-4-5" and aliases["sonnet"] == "claude-sonnet-4-6"
    assert run("config", "get", "aliases.fast").stdout == "claude-haiku-4-5\n"
    assert 'aliases.fast = "claude-haiku-4-5"  # file' in run("config", "get").stdout
    assert run("config", "unset", "aliases.fast").exit_code == 0
    assert "fast" not in json.loads(run("models", "--json", "--offline").stdout)["aliases"]


def test_repl_model_takes_an_alias_and_suggests_for_a_typo() -> None:
    from test_cli_session import Harness

    h = Harness()
    out = h("/model claude-hauku-4-5")
    assert "did you mean 'claude-haiku-4-5'?" in out
    h("/model haiku")
    h("hello")
    assert h.emulator.requests[-1].body["model"] == "claude-haiku-5-5"
