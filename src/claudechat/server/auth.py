"""Who a request is: builtin auth (API keys, cookie sessions with CSRF), a pluggable
``auth`` callable, or no auth at all on a loopback address.

``principal`` is the FastAPI dependency every authenticated route uses; ``scoped_store``
hands the route a store view limited to that user's conversations.
"""

from __future__ import annotations

import hmac
import inspect
import time
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request

from ..credentials import csrf_token, key_hash
from ..store.accounts import last_use_due
from ..store.base import LOCAL_USER, Store
from ..store.scoped import ScopedStore
from .errors import ApiError
from .state import Principal, ServerState, server_state

__all__ = [
    "CSRF_HEADER",
    "LOOPBACK_HOSTS",
    "SESSION_COOKIE",
    "ScopedStoreDep",
    "Who",
    "principal",
    "scoped_store",
    "session_hash",
]

SESSION_COOKIE = "claudechat_session"
CSRF_HEADER = "X-CSRF-Token"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def principal(
    request: Request, state: Annotated[ServerState, Depends(server_state)]
) -> Principal:
    """The authenticated user of the request, or 401 / 403."""
    if state.auth is not None:
        found = await _custom(request, state)
    elif state.settings.auth_mode == "none":
        _check_local_request(request)
        found = Principal(LOCAL_USER, "none")
    else:
        found = await _builtin_auth(request, state)
    request.state.user_id = found.user_id  # for the request log
    return found


async def _custom(request: Request, state: ServerState) -> Principal:
    """The pluggable auth callable's user id (sync or async); the user is created on first
    sight so that limits and usage apply to it."""
    assert state.auth is not None
    answer = state.auth(request)
    user_id = await answer if inspect.isawaitable(answer) else answer
    if not user_id:
        raise ApiError(401, "authentication required")
    if not isinstance(user_id, str):
        raise ApiError(500, "the auth callable must return a user id string or None")
    state.store.ensure_user(user_id)
    return Principal(user_id, "custom")


def _check_local_request(request: Request) -> None:
    """No-auth mode: only a loopback Host (against DNS rebinding) and only JSON bodies on
    POSTs (a web page's form or simple fetch cannot send one without a CORS preflight,
    which the service does not answer; PATCH and DELETE always need one)."""
    host = (request.headers.get("host") or "").lower()
    name = host.split("]")[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]
    if name not in LOOPBACK_HOSTS:
        raise ApiError(403, f"host {host[:100]!r} is not allowed without authentication")
    if request.method == "POST":
        kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise ApiError(400, "a POST must be sent with Content-Type: application/json")


def session_hash(token: str) -> str:
    """What the store keeps of a session token (its SHA-256, as of an API key)."""
    return key_hash(token)


async def _builtin_auth(request: Request, state: ServerState) -> Principal:
    """Builtin auth, read on the event loop when the store's reads never wait (a SQLite
    file): a visit to a worker thread costs more than the read, and under load its wait
    for a thread and for the interpreter lock comes before every turn's first token. In a
    worker thread otherwise, and when a key's last use is due to be written (once a
    minute per key)."""
    if getattr(state.store, "reads_never_wait", False):
        found = _builtin(request, state, record_use=False)
        if found is not None:
            return found
    found = await anyio.to_thread.run_sync(_builtin, request, state)
    assert found is not None  # the lookup that records a use always decides
    return found


def _builtin(request: Request, state: ServerState, *, record_use: bool = True) -> Principal | None:
    """Builtin auth: a bearer API key, else the session cookie (with CSRF on writes). Only
    reads the store with ``record_use`` false: None when a key's last use is due."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(401, "the Authorization header must be 'Bearer <API key>'")
        found = state.store.api_key_user(key_hash(key.strip()), record_use=record_use)
        if found is None:
            raise ApiError(401, "the API key is not valid (unknown or revoked)")
        if not record_use and last_use_due(found[1].last_used_at, time.time()):
            return None  # to the store, whose clock decides, with the write if it is due
        return Principal(found[0].id, "key")
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise ApiError(401, "authentication required: an API key (Authorization: Bearer) "
                            "or a session from POST /v1/auth/login")  # fmt: skip
    user = state.store.session_user(session_hash(token))
    if user is None:
        raise ApiError(401, "the session has expired or was signed out")
    if request.method in UNSAFE_METHODS:
        given = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(given.encode(), csrf_token(token).encode()):
            raise ApiError(403, f"a cookie session's {request.method} needs the {CSRF_HEADER} "
                                "header from the login answer", type="csrf_failed")  # fmt: skip
    return Principal(user.id, "session", token)


Who = Annotated[Principal, Depends(principal)]


async def scoped_store(who: Who, state: Annotated[ServerState, Depends(server_state)]) -> Store:
    """The store as the authenticated user may see it: only their conversations (a
    coroutine: see server_state)."""
    return ScopedStore(state.store, who.user_id)


ScopedStoreDep = Annotated[Store, Depends(scoped_store)]
