"""Fixtures for CLI tests: an isolated environment (temporary database, config and data
directories, no API key: the built-in emulator answers) and a CliRunner helper."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from claudechat.cli import cli
from claudechat.testing import Emulator, EmulatorServer, serve

_CLEARED = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDECHAT_MODEL",
    "CLAUDECHAT_SYSTEM",
    "CLAUDECHAT_BUDGET",
    "CLAUDECHAT_STRATEGY",
    "CLAUDECHAT_STORE",
    "CLAUDECHAT_MAX_TOKENS",
    "CLAUDECHAT_CACHE_TTL",
    "CLAUDECHAT_SUMMARY_MODEL",
    "CLAUDECHAT_RECALL",
    "CLAUDECHAT_EMBEDDER",
    "CLAUDECHAT_DEBUG",
    "NO_COLOR",
    "EDITOR",
    "VISUAL",
)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str | None]:
    """The environment a CLI test runs in (None unsets a variable)."""
    env: dict[str, str | None] = {name: None for name in _CLEARED}
    env.update(
        {
            "CLAUDECHAT_DB": str(tmp_path / "chats.db"),
            "CLAUDECHAT_CONFIG": str(tmp_path / "config" / "config.toml"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "COLUMNS": "100",
        }
    )
    return env


Run = Callable[..., Result]


@pytest.fixture
def run(cli_env: dict[str, str | None]) -> Run:
    """``run("ask", "hi", input=..., env={...})``: invoke the CLI, stdout and stderr apart."""

    def invoke(
        *args: str, input: str | bytes | None = None, env: dict[str, Any] | None = None
    ) -> Result:
        runner = CliRunner()
        return runner.invoke(cli, list(args), input=input, env={**cli_env, **(env or {})})

    return invoke


@pytest.fixture
def emulator_server() -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulator servers on 127.0.0.1 (port 0); all are stopped afterwards."""
    servers: list[EmulatorServer] = []

    def start(emulator: Emulator | None = None) -> EmulatorServer:
        server = serve(emulator or Emulator(), "127.0.0.1", 0)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
