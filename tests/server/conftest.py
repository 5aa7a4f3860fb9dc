"""Fixtures of the service tests: a real uvicorn on 127.0.0.1 (service.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from service import Service, start_service

from claudechat.credentials import hash_password, new_api_key


@pytest.fixture
def local_service(tmp_path: Path) -> Iterator[Service]:
    """The service in no-auth mode (every request is the local user)."""
    service = start_service(tmp_path / "chats.db", auth_mode="none")
    try:
        yield service
    finally:
        service.stop()


@dataclass(frozen=True)
class Member:
    """A user of the builtin-auth service and their API key."""

    id: str
    name: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def add_member(service: Service, name: str, *, password: str | None = None) -> Member:
    """A user with an API key (and a password when given), made in the service's store."""
    store = service.store
    hashed = hash_password(password) if password is not None else None
    user = store.add_user(name, password_hash=hashed)
    key = new_api_key()
    store.add_api_key(user.id, key_hash=key.hash, prefix=key.prefix)
    return Member(user.id, name, key.plaintext)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """The service with builtin auth."""
    service = start_service(tmp_path / "chats.db")
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def alice(service: Service) -> Member:
    return add_member(service, "alice", password="correct horse")


@pytest.fixture
def bob(service: Service) -> Member:
    return add_member(service, "bob")
