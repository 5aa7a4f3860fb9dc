"""What one app holds for its lifetime, and the dependencies that hand it to endpoints.

Endpoints never see the raw store: ``scoped_store`` gives them a view limited to the
authenticated user's conversations, so a forgotten check cannot leak another's data.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from fastapi import Depends, Request

from ..context.engine import Budget
from ..store.accounts import ServiceStore, User
from ..usage import Usage
from .counters import TokenCounters
from .kept_chats import KeptChats
from .login_limit import LoginThrottle
from .settings import ServerSettings

if TYPE_CHECKING:
    from .runs import RunRegistry

__all__ = [
    "Admission",
    "AuthCallable",
    "Principal",
    "ServerState",
    "SpendCheck",
    "TurnMetrics",
    "UpperBound",
    "server_state",
]

AuthCallable = Callable[[Request], str | Awaitable[str | None] | None]
"""Pluggable authentication: the user id of a request, or None to refuse it (401)."""


class Admission(Protocol):
    """A turn let through by the spend check: settled with the exact cost when it ends."""

    def settle(self, exact_usd: float | None) -> None: ...


class SpendCheck(Protocol):
    """Spend limits and stream quotas (server/limits.py's SpendGuard): admits a turn that
    may cost up to ``upper_usd``, or raises the typed refusal (402 / 429)."""

    def admit(self, user: User, *, conversation_id: str, upper_usd: float) -> Admission: ...


UpperBound = Callable[[str, int, int, Budget], float]
"""The most a turn can cost: (model, prompt tokens, max_tokens, budget) -> USD."""


class TurnMetrics(Protocol):
    """What the turns report to the metrics (server/metrics.py's ServiceMetrics)."""

    def observe_turn(
        self, usage: Usage, cost_usd: float | None, outcome: Literal["ok", "partial", "error"]
    ) -> None: ...

    def turn_opened(self, seconds: float) -> None: ...

    def first_token(self, seconds: float) -> None: ...

    def stream_opened(self) -> None: ...

    def stream_closed(self) -> None: ...

    def upstream_error(self, error_type: str) -> None: ...


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
    spend: SpendCheck | None = None  # with upper_bound: limits checked before each turn
    upper_bound: UpperBound | None = None
    logins: LoginThrottle = field(default_factory=LoginThrottle)  # failed sign-ins, 429 past
    counters: TokenCounters = field(default_factory=TokenCounters)  # kept between turns
    chats: KeptChats = field(default_factory=KeptChats)  # kept between turns
    pools: tuple[Any, ...] = ()  # copies of ``client`` with pools of their own (see app.py)
    embedder: Any = None  # search by meaning, when configured (semantic.py)

    def client_for(self, conversation_id: str) -> Any:
        """The upstream client of a conversation's turns: always the same copy of it, so
        that its connections stay alive between turns."""
        if not self.pools:
            return self.client
        return self.pools[zlib.crc32(conversation_id.encode()) % len(self.pools)]


async def server_state(request: Request) -> ServerState:
    """The app's ServerState (set by create_app). A coroutine, as every dependency that
    does no I/O: FastAPI runs a plain function in a worker thread, a wait for a thread and
    for the interpreter lock on every request."""
    state: ServerState = request.app.state.claudechat
    return state


State = Annotated[ServerState, Depends(server_state)]
