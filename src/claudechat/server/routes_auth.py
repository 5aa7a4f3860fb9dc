"""Sign-in for builtin auth (a cookie session, with its CSRF token), and the caller's usage.

``POST /v1/auth/login`` sets the ``claudechat_session`` cookie (HttpOnly, SameSite=Strict,
Path=/; Secure over https unless the settings say otherwise) and answers the CSRF token
that every cookie-authenticated write must send back in ``X-CSRF-Token``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ..accounting import store_cost_report
from ..credentials import csrf_token, hash_password, new_session_token, verify_password
from ..errors import UserNotFound
from ..store.accounts import User
from ..store.scoped import ScopedStore
from .auth import SESSION_COOKIE, Who, session_hash
from .bodies import LoginBody
from .errors import ApiError, error_body
from .settings import ServerSettings
from .state import ServerState, State
from .views import user_json

__all__ = ["router", "usage_windows"]

router = APIRouter()


@cache
def _dummy_hash() -> str:
    """A hash to check a password against when the user does not exist, so that a wrong
    name takes as long to refuse as a wrong password."""
    return hash_password("no such user: a password nobody has")


def _user_for_login(state: ServerState, body: LoginBody) -> User:
    store = state.store
    try:
        user: User | None = store.user_by_name(body.username)
    except UserNotFound:
        user = None
    stored = store.password_hash(user.id) if user is not None else None
    if user is None or stored is None:
        verify_password(_dummy_hash(), body.password)
        raise ApiError(401, "wrong username or password")
    if not verify_password(stored, body.password):
        raise ApiError(401, "wrong username or password")
    return user


def _too_many_logins(wait: int) -> JSONResponse:
    """429 rate_limited, with the seconds to wait in Retry-After."""
    body = error_body("rate_limited", "too many failed sign-ins for this user or from this "
                                      f"address: try again in {wait} s")  # fmt: skip
    return JSONResponse(body, status_code=429, headers={"Retry-After": str(wait)})


def _secure(request: Request, settings: ServerSettings) -> bool:
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    return request.url.scheme == "https"


@router.post("/v1/auth/login")
async def login(request: Request, state: State, body: LoginBody) -> JSONResponse:
    """Check a name and password; start a cookie session and answer its CSRF token. After
    too many failures for the name or the client address: 429 with Retry-After."""
    if state.auth is not None or state.settings.auth_mode != "builtin":
        raise ApiError(400, "sign-in is only for builtin auth")
    address = request.client.host if request.client is not None else None
    wait = state.logins.retry_after(body.username, address)
    if wait is not None:
        return _too_many_logins(wait)
    try:  # argon2 takes tens of milliseconds of CPU: not on the event loop
        user = await anyio.to_thread.run_sync(_user_for_login, state, body)
    except ApiError:
        state.logins.failed(body.username, address)
        raise
    state.logins.succeeded(body.username)
    token, token_hash = new_session_token()
    expires = state.settings.clock() + state.settings.session_seconds
    state.store.add_session(user.id, token_hash=token_hash, expires_at=expires)
    response = JSONResponse({"user": user_json(user), "csrf_token": csrf_token(token),
                             "emulator": state.emulated})  # fmt: skip
    response.set_cookie(SESSION_COOKIE, token, max_age=int(state.settings.session_seconds),
                        path="/", httponly=True, samesite="strict",
                        secure=_secure(request, state.settings))  # fmt: skip
    return response


@router.post("/v1/auth/logout", status_code=204)
def logout(who: Who, state: State) -> Response:
    """End the cookie session (an API key has none: nothing happens)."""
    response = Response(status_code=204)
    if who.session_token is not None:
        state.store.delete_session(session_hash(who.session_token))
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/v1/auth/session")
def session(who: Who, state: State) -> dict[str, Any]:
    """The signed-in user, the CSRF token of a cookie session (None otherwise), and whether
    replies come from the built-in emulator (the web chat says so in a banner)."""
    user = state.store.get_user(who.user_id)
    token = csrf_token(who.session_token) if who.session_token is not None else None
    return {"user": user_json(user), "csrf_token": token, "emulator": state.emulated}


def usage_windows(now: float) -> tuple[float, float]:
    """The start of the current UTC day and month, as timestamps."""
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp(), day.replace(day=1).timestamp()


def _billed_in_conversations(store: ScopedStore) -> float | None:
    """What the API billed for everything in the user's conversations, however it was sent
    (this service, the CLI or the library on the same store); the spend figures above count
    the service's turns only, as the limits do."""
    ids = [info.conversation.id for info in store.iter_conversations()]
    return store_cost_report(store, ids, origins=store.store).cost_usd


@router.get("/v1/usage")
def usage(who: Who, state: State, all: bool = False, conversations: bool = True) -> dict[str, Any]:
    """The caller's spend today and this month (UTC) against their limits; ``all=true``
    (admins only) every user's. ``conversations=false`` leaves out ``conversations_usd``
    (None), which reads every message of the user's conversations (the web chat's gauge
    asks after each turn for the spend alone)."""
    store = state.store
    user = store.get_user(who.user_id)
    day, month = usage_windows(state.settings.clock())
    if all:
        if not user.is_admin:
            raise ApiError(403, "only an admin may see every user's usage")
        today, this_month = store.spend_by_user(day), store.spend_by_user(month)
        total = store.spend_by_user(0.0)
        users = [{"user": user_json(u), "today_usd": today.get(u.id, 0.0),
                  "month_usd": this_month.get(u.id, 0.0), "total_usd": total.get(u.id, 0.0)}
                 for u in store.list_users()]  # fmt: skip
        return {"data": users}
    return {
        "user": user_json(user),
        "today_usd": store.spend_since(user.id, day),
        "month_usd": store.spend_since(user.id, month),
        "total_usd": store.spend_since(user.id, 0.0),
        "conversations_usd": _billed_in_conversations(ScopedStore(store, user.id))
        if conversations
        else None,
        "limits": user_json(user)["limits"],
        "day_starts_at": day,
        "month_starts_at": month,
    }
