"""``create_app``: the ASGI service over a store, an upstream client and an auth scheme.

    app = create_app(store=SQLiteStore("chats.db"))          # builtin auth (keys, sessions)
    app = create_app(store=store, auth=lambda request: ...)  # your own auth: a user id

Every failure answers ``{"error": {"type", "message"}}`` (errors.py). Turns run as tasks the
app owns (runs.py); at shutdown they get ``shutdown_grace_seconds`` to finish, then are
cancelled, keeping what arrived as a partial reply. The grace starts at the server's
termination signal (SIGTERM, Ctrl-C), while the clients are still connected, so that a
stopped turn's stream ends as a cancelled one does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

from fastapi import FastAPI

from ..errors import UserError
from ..store.accounts import ServiceStore
from ..store.base import Store
from .errors import BodyLimit, install_error_handlers
from .kept_chats import KeptChats
from .login_limit import LoginThrottle
from .operations import install_operations
from .runs import RunRegistry
from .semantic import semantic_embedder
from .settings import ServerSettings
from .state import AuthCallable, ServerState
from .web import install_web

__all__ = ["create_app", "upstream_client"]


def create_app(
    *,
    store: Store | None = None,
    auth: AuthCallable | None = None,
    settings: ServerSettings | None = None,
) -> FastAPI:
    """The service app. ``store``: the conversation store (the default SQLite file when
    None); ``auth``: a callable giving a request's user id (None = builtin auth, or none
    with ``settings.auth_mode="none"``); ``settings``: see ServerSettings."""
    settings = settings or ServerSettings()
    if store is None:
        from ..store import open_store

        store = open_store()
    if not isinstance(store, ServiceStore):
        raise UserError("the service needs a store with accounts (SQLiteStore, PostgresStore "
                        f"or MemoryStore), not {type(store).__name__}")  # fmt: skip
    client, emulated = upstream_client(settings)
    runs = RunRegistry(store, grace_seconds=settings.shutdown_grace_seconds)
    logins = LoginThrottle(per_user=settings.login_failures_per_user,
                           per_address=settings.login_failures_per_address,
                           window_seconds=settings.login_window_seconds, clock=settings.clock)  # fmt: skip
    chats = KeptChats(keep=settings.kept_chats, most_messages=settings.kept_messages)
    state = ServerState(settings, store, client, runs, auth=auth, emulated=emulated,
                        logins=logins, chats=chats,
                        embedder=semantic_embedder(settings.semantic))  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The turns' store writes and context steps run in the loop's default executor
        # (chat/offload.py): its few threads (CPU count + 4) would queue a busy worker's.
        workers = ThreadPoolExecutor(max_workers=TURN_THREADS, thread_name_prefix="claudechat")
        asyncio.get_running_loop().set_default_executor(workers)
        # The upstream pools live as long as the app serves, in the loop that serves it:
        # closed at the end (after the turns), new ones if the app is started again.
        state.pools = upstream_pools(settings, client, emulated)
        restore = on_termination(runs.begin_shutdown)
        try:
            yield
        finally:
            restore()
            await runs.shutdown()
            state.chats.clear()  # they hold the pools closed next
            pools, state.pools = state.pools, ()
            for pool in pools:
                await pool.close()

    app = FastAPI(
        title="claudechat",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.claudechat = state
    install_error_handlers(app)
    _include_routes(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                       message_bytes=settings.max_message_bytes)  # fmt: skip
    install_operations(app, state)  # spend limits, metrics, request log
    install_web(app)  # the web chat at /, and the security headers of every answer
    return app


def _include_routes(app: FastAPI) -> None:
    from . import routes_auth, routes_conversations, routes_misc, routes_turns

    for module in (routes_misc, routes_auth, routes_conversations, routes_turns):
        for route in module.router.routes:  # flat, so app.routes lists every route
            app.router.routes.append(route)


TURN_THREADS = 64  # worker threads for the turns' store writes and context steps
UPSTREAM_POOLS = 8  # connection pools to the upstream API, conversations spread over them


def upstream_pools(settings: ServerSettings, client: Any, emulated: bool) -> tuple[Any, ...]:
    """Copies of the upstream client the service builds itself, each with a connection pool
    of its own (models/anthropic.py: ``pooled_copies``); none for a client given in the
    settings (the embedding app owns its pool) or the in-process emulator (no pool)."""
    if settings.client is not None or emulated:
        return ()
    from ..models.anthropic import pooled_copies

    return tuple(pooled_copies(client, UPSTREAM_POOLS))


def upstream_client(
    settings: ServerSettings, env: Mapping[str, str] | None = None
) -> tuple[Any, bool]:
    """The AsyncAnthropic client and whether it is the built-in emulator: the settings'
    client, else from the environment (the emulator when neither a key nor a base URL is
    set, as the CLI does)."""
    if settings.client is not None:
        return settings.client, False
    from ..models.anthropic import make_client

    env = os.environ if env is None else env
    if not (env.get("ANTHROPIC_API_KEY") or env.get("ANTHROPIC_BASE_URL")):
        from ..testing import Emulator

        http = Emulator().async_http_client()
        return make_client(api_key="emulator", http_client=http, asynchronous=True), True
    key = env.get("ANTHROPIC_API_KEY") or None
    token = env.get("ANTHROPIC_AUTH_TOKEN") or None
    client = make_client(
        api_key=key if key or token else "not-set",
        auth_token=token,
        base_url=env.get("ANTHROPIC_BASE_URL") or None,
        asynchronous=True,
    )
    return client, False


def on_termination(begin: Callable[[], None]) -> Callable[[], None]:
    """Call ``begin`` in the serving loop when the process is asked to stop (SIGTERM or
    SIGINT), before the server's own handler (uvicorn's, which then waits for the open
    responses: the turns must end first for their streams to end whole); returns what
    puts the handlers back. Only the main thread can set signal handlers: an app served
    in another thread (tests, an embedding program) keeps its server's shutdown as it is."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handle(sig: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(begin)
        before = previous[signal.Signals(sig)]
        if callable(before):
            before(sig, frame)
        else:  # the default action (or none): as if this handler had never been set
            signal.signal(sig, signal.SIG_DFL if before is None else before)
            signal.raise_signal(sig)

    for sig in previous:
        signal.signal(sig, handle)

    def restore() -> None:
        for sig, before in previous.items():
            if signal.getsignal(sig) is handle:
                signal.signal(sig, before)

    return restore
