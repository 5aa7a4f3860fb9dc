"""Who a request is: builtin auth (API keys, cookie sessions with CSRF), a pluggable
``auth`` callable, or no auth at all on a loopback address.

``principal`` is the FastAPI dependency every authenticated route uses; ``scoped_store``
hands the route a store view limited to that user's conversations.
"""

from __future__ import annotations

import inspect
from typing import Annotated

from fastapi import Depends, Request

from ..store.base import Store
from .errors import ApiError
from .state import Principal, ServerState, server_state

__all__ = ["LOOPBACK_HOSTS", "principal", "scoped_store"]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
LOCAL_USER = "local"  # TEMP until accounts
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def principal(
    request: Request, state: Annotated[ServerState, Depends(server_state)]
) -> Principal:
    """The authenticated user of the request, or 401 / 403."""
    if state.auth is not None:
        return await _custom(request, state)
    if state.settings.auth_mode == "none":
        _check_local_request(request)
        return Principal(LOCAL_USER, "none")
    return _builtin(request, state)


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
    ensure = getattr(state.store, "ensure_user", None)
    if ensure is not None:
        ensure(user_id)
    return Principal(user_id, "custom")


def _check_local_request(request: Request) -> None:
    """No-auth mode: only a loopback Host (against DNS rebinding) and only JSON bodies on
    POSTs (a web page's form or simple fetch cannot send one without a CORS preflight,
    which the service does not answer; PATCH and DELETE always need one)."""
    host = (request.headers.get("host") or "").lower()
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    if name not in LOOPBACK_HOSTS:
        raise ApiError(403, f"host {host!r} is not allowed without authentication")
    if request.method == "POST":
        kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise ApiError(400, "a POST must be sent with Content-Type: application/json")


def _builtin(request: Request, state: ServerState) -> Principal:
    """Builtin auth: a bearer API key, else the session cookie (with CSRF on writes)."""
    raise ApiError(401, "authentication required")


Who = Annotated[Principal, Depends(principal)]


def scoped_store(who: Who, state: Annotated[ServerState, Depends(server_state)]) -> Store:
    """The store as the authenticated user may see it: only their conversations."""
    return state.store


ScopedStoreDep = Annotated[Store, Depends(scoped_store)]
