"""Without a key the library says how to go on (set a key, or the emulator); it never falls
back to simulated replies by itself. The README's offline example runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from claudechat import AsyncChat, AuthError, Chat, UserError
from claudechat.testing import Emulator, offline_client

README = Path(__file__).resolve().parents[2] / "README.md"
_AUTH_ENV = [
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_PROFILE",
    "ANTHROPIC_IDENTITY_TOKEN",
    "ANTHROPIC_IDENTITY_TOKEN_FILE",
]


def _no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _AUTH_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no credentials profile on disk either
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))


@pytest.mark.parametrize("cls", [Chat, AsyncChat])
def test_no_key_and_no_base_url_is_an_auth_error_naming_both_ways_out(
    cls: type[Chat] | type[AsyncChat], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_credentials(monkeypatch, tmp_path)
    with pytest.raises(AuthError) as caught:
        cls("claude-sonnet-4-6")
    message = str(caught.value)
    assert "ANTHROPIC_API_KEY" in message and "offline_client(" in message


def test_a_key_in_the_environment_is_enough(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    assert Chat("claude-sonnet-4-6").model.name == "claude-sonnet-4-6"


def test_offline_client_runs_a_chat_on_the_emulator(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_credentials(monkeypatch, tmp_path)
    emu = Emulator(script=["Hello from the emulator."])
    reply = Chat("claude-sonnet-4-6", client=offline_client(emu)).send("Hi")
    assert reply.text == "Hello from the emulator."
    assert [r.path for r in emu.requests] == ["/v1/messages"]


def _offline_examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [b for b in blocks if "from claudechat.testing import" in b]


def test_the_readme_has_an_offline_example() -> None:
    assert _offline_examples()


@pytest.mark.parametrize("code", _offline_examples())
def test_the_readme_offline_examples_run_as_written(code: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _AUTH_ENV}
    env["HOME"] = env["XDG_CONFIG_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.strip() or "assert" in code  # it prints, or checks, something


def test_a_sync_client_for_async_chat_is_refused_before_anything_is_sent() -> None:
    emu = Emulator()
    with pytest.raises(UserError, match="async client"):
        AsyncChat("claude-sonnet-4-6", client=offline_client(emu))
    with pytest.raises(UserError, match="sync client"):
        Chat("claude-sonnet-4-6", client=offline_client(emu, asynchronous=True))
    assert emu.requests == []


def test_async_chat_without_a_key_names_the_async_offline_client(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_credentials(monkeypatch, tmp_path)
    with pytest.raises(AuthError, match=r"offline_client\(asynchronous=True\)"):
        AsyncChat("claude-sonnet-4-6")
