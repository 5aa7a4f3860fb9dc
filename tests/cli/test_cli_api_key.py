"""keys set / path / rm: the Anthropic API key kept in the system keyring when there is
one, else in a 0600 file in the config directory; never in the database; the environment
wins."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import pytest
from click.testing import Result
from keyring.backend import KeyringBackend
from keyring.backends import fail

from claudechat.testing import Emulator, EmulatorServer

Run = Callable[..., Result]
KEY = "sk-ant-test-Zq9xKEEPME"


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in this process."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.items[(service, username)]


@pytest.fixture
def no_keyring() -> Iterator[None]:
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(before)


def _file(cli_env: dict[str, str | None]) -> Path:
    return Path(str(cli_env["CLAUDECHAT_CONFIG"])).parent / "anthropic-api-key"


@pytest.mark.usefixtures("no_keyring")
def test_without_a_keyring_the_key_goes_to_a_0600_file_and_is_used(
    run: Run, emulator_server: Callable[..., EmulatorServer], cli_env: dict[str, str | None]
) -> None:
    server = emulator_server(Emulator(api_key=KEY))
    assert run("keys", "path").stdout.startswith("no API key stored")
    stored = run("keys", "set", "--stdin", input=KEY + "\n")
    assert stored.exit_code == 0, stored.output
    path = _file(cli_env)
    assert stored.stdout == f"API key stored in {path}\n" and KEY not in stored.output
    assert path.read_text() == KEY + "\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert run("keys", "path").stdout == f"{path}\n"

    env = {"ANTHROPIC_BASE_URL": server.url}
    answered = run("ask", "hello", env=env)
    assert answered.exit_code == 0, answered.output
    assert "emulator" not in answered.stderr
    assert KEY.encode() not in Path(str(cli_env["CLAUDECHAT_DB"])).read_bytes()

    wrong = run("ask", "hello", env={**env, "ANTHROPIC_API_KEY": "sk-wrong"})  # the env wins
    assert wrong.exit_code == 2 and "authentication failed" in wrong.stderr
    assert run("keys", "path", env={"ANTHROPIC_API_KEY": "x"}).stdout == (
        "the environment (ANTHROPIC_API_KEY)\n"
    )

    removed = run("keys", "rm")
    assert removed.stdout == f"removed the API key from {path}\n" and not path.exists()
    assert run("keys", "rm").stderr == "no API key was stored\n"


def test_with_a_keyring_the_key_goes_there(
    run: Run, memory_keyring: MemoryKeyring, cli_env: dict[str, str | None]
) -> None:
    stored = run("keys", "set", input=KEY + "\n")
    assert stored.exit_code == 0, stored.output
    assert stored.stdout.startswith("API key stored in the system keyring (")
    assert memory_keyring.items == {("claudechat", "anthropic-api-key"): KEY}
    assert not _file(cli_env).exists()
    assert run("keys", "path").stdout.startswith("the system keyring (")
    assert run("keys", "rm").exit_code == 0 and memory_keyring.items == {}


@pytest.mark.usefixtures("no_keyring")
@pytest.mark.parametrize("bad", ["", "two words"])
def test_a_bad_key_is_refused(run: Run, bad: str) -> None:
    result = run("keys", "set", "--stdin", input=bad + "\n")
    assert result.exit_code == 2 and result.stderr.startswith("error: ")


def test_the_service_key_commands_stay_in_the_group(run: Run) -> None:
    listing = run("keys", "--help").stdout
    for name in ("create", "list", "revoke", "set", "path", "rm"):
        assert f"  {name} " in listing
