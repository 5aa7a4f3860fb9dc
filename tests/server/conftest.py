"""Fixtures of the service tests: a real uvicorn on 127.0.0.1 (service.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from service import Member, Service, add_member, start_service


@pytest.fixture
def local_service(tmp_path: Path) -> Iterator[Service]:
    """The service in no-auth mode (every request is the local user)."""
    service = start_service(tmp_path / "chats.db", auth_mode="none")
    try:
        yield service
    finally:
        service.stop()


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
