"""A real SDK client whose HTTP goes to the built-in emulator: the library offline."""

from __future__ import annotations

from typing import Any

from .emulator import Emulator


def offline_client(emulator: Emulator | None = None, *, asynchronous: bool = False) -> Any:
    """An ``anthropic.Anthropic`` (or ``AsyncAnthropic``) client answered by ``emulator`` (a
    new one by default), for ``Chat(client=...)`` with no key and no network."""
    from ..models.anthropic import make_client

    emulator = emulator or Emulator()
    http = emulator.async_http_client() if asynchronous else emulator.http_client()
    return make_client(api_key="offline", http_client=http, asynchronous=asynchronous)
