"""Fixtures for CLI tests: an isolated environment (temporary database, config and data
directories, no API key: the built-in emulator answers) and a CliRunner helper."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from claudechat.cli import cli
from claudechat.testing import Emulator, EmulatorServer, EmuRequest, EmuResponse, serve
from claudechat.testing._faults import ConnectionDropped

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
    "CLAUDECHAT_THREADS",
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


class GatedEmulator(Emulator):
    """Streams the first long reply a few words at a time, then waits for ``gate``."""

    def __init__(self) -> None:
        super().__init__(reply=self._answer)
        self.gate = threading.Event()
        self.stories = 0
        self._gated = False

    def _answer(self, request: EmuRequest) -> str:
        if "long story" in request.last_user_text:
            self.stories += 1
            return "once " * 400 if self.stories == 1 else "Retried answer: GAMMA"
        return "First answer: ALPHA"

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> EmuResponse:
        response = super().handle(method, path, headers, body)
        if self.stories == 1 and not self._gated and not isinstance(response.body, bytes):
            self._gated = True
            response.body = self._hold(response.body)
        return response

    def _hold(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for n, chunk in enumerate(chunks):
            if n == 12:
                self.gate.wait(timeout=30)
                raise ConnectionDropped("the client went away")  # closed quietly
            yield chunk


@pytest.fixture
def gated_emulator() -> Iterator[GatedEmulator]:
    """An emulator whose first "long story" reply stops after a few words until
    ``gate`` is set (set again at teardown)."""
    emulator = GatedEmulator()
    yield emulator
    emulator.gate.set()


@pytest.fixture
def server(emulator_server: Callable[..., EmulatorServer]) -> EmulatorServer:
    """An emulator server whose recorded requests a test can read."""
    return emulator_server(Emulator())
