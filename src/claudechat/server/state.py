"""What one app holds for its lifetime, and the dependencies that hand it to endpoints.

Endpoints never see the raw store: ``scoped_store`` gives them a view limited to the
authenticated user's conversations, so a forgotten check cannot leak another's data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from ..store.accounts import ServiceStore
from .settings import ServerSettings

if TYPE_CHECKING:
    from .runs import RunRegistry

__all__ = ["AuthCallable", "Principal", "ServerState", "server_state"]

AuthCallable = Callable[[Request], str | Awaitable[str | None] | None]
"""Pluggable authentication: the user id of a request, or None to refuse it (401)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request is: the user id, how it was authenticated, and (for a cookie session)
    its token, from which the CSRF token is recomputed."""

    user_id: str
    via: str  # "key", "session", "none" (no-auth mode) or "custom"
    session_token: str | None = None


@dataclass(slots=True)
class ServerState:
    """The app's settings, store, upstream client, auth callable and running turns."""

    settings: ServerSettings
    store: ServiceStore  # the raw store: endpoints get a ScopedStore of it
    client: Any
    runs: RunRegistry
    auth: AuthCallable | None = None
    emulated: bool = False  # the upstream is the built-in emulator (no API key)
    extras: dict[str, Any] = field(default_factory=dict)


def server_state(request: Request) -> ServerState:
    """The app's ServerState (set by create_app)."""
    state: ServerState = request.app.state.claudechat
    return state


State = Annotated[ServerState, Depends(server_state)]
