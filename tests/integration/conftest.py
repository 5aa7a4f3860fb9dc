"""Fixtures for the conversation tests: chats over the emulator, of one kind or both.

A test that takes ``make_chat`` runs twice, against ``Chat`` and against ``AsyncChat``
(behind Chat's API, see ``chats.BlockingAsyncChat``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chats import CHAT_KINDS, SONNET, ChatKind, ChatMaker, sdk_client

from claudechat import AsyncChat
from claudechat.store.memory import MemoryStore
from claudechat.store.sqlite import SQLiteStore
from claudechat.testing import Emulator


@pytest.fixture(params=CHAT_KINDS)
def chat_kind(request: pytest.FixtureRequest) -> ChatKind:
    """Which chat a test runs against: "sync" (Chat) or "async" (AsyncChat)."""
    kind: ChatKind = request.param
    return kind


@pytest.fixture
def make_chat(chat_kind: ChatKind) -> Iterator[ChatMaker]:
    """Builds the chats of the test's kind: ``make_chat(emu, model, **kw)``."""
    maker = ChatMaker(chat_kind)
    yield maker
    maker.close()


@pytest.fixture
def make_sync_chat() -> ChatMaker:
    """Builds Chats only, for the tests about Chat's own API."""
    return ChatMaker("sync")


@pytest.fixture
def make_async_chat() -> Callable[..., AsyncChat]:
    """Builds plain AsyncChats (``make_async_chat(emu, model, **kw)``), to be awaited."""

    def make(emu: Emulator, model: str = SONNET, **kw: Any) -> AsyncChat:
        kw.setdefault("store", MemoryStore())
        return AsyncChat(model, client=sdk_client(emu, asynchronous=True), **kw)

    return make


@pytest.fixture(name="sdk_client")
def sdk_client_fixture() -> Callable[..., Any]:
    """``sdk_client(emu, asynchronous=False)``: an SDK client over the emulator, no retries."""
    return sdk_client


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    """A SQLite store in a fresh file, for the tests that read back what a chat stored."""
    return SQLiteStore(tmp_path / "chat.db")
