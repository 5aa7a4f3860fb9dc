"""The Anthropic API key kept for the CLI: in the system keyring when there is one (the
``keyring`` package), else in a 0600 file in the configuration directory; never in the
database. ``ANTHROPIC_API_KEY`` in the environment still wins."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import PRIVATE_MODE, config_path
from ..errors import ConfigError, UserError

__all__ = [
    "KeyPlace",
    "check_key",
    "env_key",
    "key_file",
    "read_key",
    "remove_key",
    "store_key",
    "where",
]

SERVICE = "claudechat"
ACCOUNT = "anthropic-api-key"


@dataclass(frozen=True, slots=True)
class KeyPlace:
    """Where the key is kept: ``kind`` "environment", "keyring" or "file", and its name."""

    kind: str
    name: str

    def __str__(self) -> str:
        return {"environment": "the environment ({})", "keyring": "the system keyring ({})",
                "file": "{}"}[self.kind].format(self.name)  # fmt: skip


def key_file(env: Mapping[str, str] | None = None) -> Path:
    """The file that holds the key where no keyring is available."""
    return config_path(env).parent / "anthropic-api-key"


def _keyring() -> Any:
    """The system keyring backend, or None when there is none (headless, no service)."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        return None
    return backend


def _backend_name(backend: Any) -> str:
    return str(getattr(backend, "name", type(backend).__name__))


def check_key(key: str) -> str:
    """The key without surrounding blanks; UserError for one that cannot be a key."""
    key = key.strip()
    if not key:
        raise UserError("no key given")
    if any(c.isspace() or not c.isprintable() for c in key):
        raise UserError("an API key is one word of printable characters")
    return key


def env_key(env: Mapping[str, str]) -> str | None:
    """``ANTHROPIC_API_KEY`` of ``env`` (None when unset or empty); ConfigError for one that
    is blank or has spaces or newlines around it, which the API would refuse anyway."""
    given = env.get("ANTHROPIC_API_KEY")
    if given is not None and given != given.strip():
        what = "is blank" if not given.strip() else "has spaces or newlines around it"
        raise ConfigError(f"ANTHROPIC_API_KEY {what}: set it to the key alone, or unset it")
    return given or None


def store_key(key: str, env: Mapping[str, str] | None = None) -> KeyPlace:
    """Keep the key in the keyring (or the 0600 file); returns where it went."""
    key = check_key(key)
    backend = _keyring()
    if backend is not None:
        backend.set_password(SERVICE, ACCOUNT, key)
        key_file(env).unlink(missing_ok=True)  # one place only
        return KeyPlace("keyring", _backend_name(backend))
    path = key_file(env)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    with open(fd, "w", encoding="utf-8") as file:
        os.fchmod(fd, PRIVATE_MODE)
        file.write(key + "\n")
    return KeyPlace("file", str(path))


def read_key(env: Mapping[str, str] | None = None) -> str | None:
    """The kept key (keyring first, then the file); None when none is kept."""
    backend = _keyring()
    if backend is not None:
        found = backend.get_password(SERVICE, ACCOUNT)
        if found:
            return str(found)
    try:
        text = key_file(env).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def where(env: Mapping[str, str]) -> KeyPlace | None:
    """Where the key the CLI uses comes from (the environment first); None: nowhere."""
    if env.get("ANTHROPIC_API_KEY"):
        return KeyPlace("environment", "ANTHROPIC_API_KEY")
    backend = _keyring()
    if backend is not None and backend.get_password(SERVICE, ACCOUNT):
        return KeyPlace("keyring", _backend_name(backend))
    path = key_file(env)
    return KeyPlace("file", str(path)) if path.is_file() else None


def remove_key(env: Mapping[str, str] | None = None) -> list[KeyPlace]:
    """Remove the kept key from the keyring and the file; where it was removed from."""
    removed: list[KeyPlace] = []
    backend = _keyring()
    if backend is not None and backend.get_password(SERVICE, ACCOUNT):
        backend.delete_password(SERVICE, ACCOUNT)
        removed.append(KeyPlace("keyring", _backend_name(backend)))
    path = key_file(env)
    if path.is_file():
        path.unlink()
        removed.append(KeyPlace("file", str(path)))
    return removed
