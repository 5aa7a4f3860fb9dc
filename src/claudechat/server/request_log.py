"""One JSON log line per request, with a request id, and the request metrics.

`RequestLog` is plain ASGI middleware (not Starlette's BaseHTTPMiddleware, which would buffer
server-sent events). The line is built from named fields only — request id, method, route
template, status, duration, user id — so headers, cookies, bodies, query strings and the
upstream key cannot reach the log: nothing copies them there.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TextIO

from .metrics import ServiceMetrics

__all__ = ["LOGGER_NAME", "REQUEST_ID_HEADER", "RequestLog", "log_to_stream", "request_id_of"]

LOGGER_NAME = "claudechat.server.requests"
REQUEST_ID_HEADER = "x-request-id"
_GOOD_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def request_id_of(scope: Scope) -> str:
    """The request id: the client's (or proxy's) ``X-Request-ID`` when it is a plain token,
    else a new one; a malformed header is not echoed into logs."""
    for name, value in scope.get("headers") or []:
        if name.lower() == REQUEST_ID_HEADER.encode():
            given = str(value.decode("latin-1"))
            if _GOOD_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The matched route's template (``/v1/conversations/{cid}``), so that ids make neither
    log noise nor new metric series; ``unmatched`` for a path no route knows."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestLog:
    """ASGI middleware: sets ``scope["state"]["request_id"]`` and the ``X-Request-ID`` response
    header, counts the request in ``metrics`` and logs it when the response ends. The user id
    is read from ``scope["state"]["user_id"]`` (``request.state.user_id``), set by the auth."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServiceMetrics | None = None,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.logger = logger or logging.getLogger(LOGGER_NAME)
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        request_id = request_id_of(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["received"] = time.perf_counter()  # for the turns' latency metrics
        status = 500  # what the client sees when the app fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                message["headers"] = [*headers, (b"x-request-id", request_id.encode())]
            await send(message)

        error: str | None = None
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as exc:
            error = type(exc).__name__  # the type only: a message may quote request data
            raise
        finally:
            self._record(scope, request_id, status, self.clock() - started, error)

    def _record(
        self, scope: Scope, request_id: str, status: int, seconds: float, error: str | None
    ) -> None:
        route, method = route_of(scope), str(scope.get("method", ""))
        if self.metrics is not None:
            self.metrics.observe_request(route, method, status)
        line: dict[str, Any] = {
            "event": "request",
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "user_id": scope.get("state", {}).get("user_id"),
        }
        if error is not None:
            line["error"] = error
        level = logging.ERROR if status >= 500 else logging.INFO
        self.logger.log(level, json.dumps(line, separators=(",", ":")))


def log_to_stream(stream: TextIO | None = None) -> logging.Handler:
    """Print the request log's JSON lines, one per line, on ``stream`` (stderr by default),
    for ``claudechat serve``; an embedding app routes the ``claudechat.server.requests``
    logger its own way instead."""
    logger = logging.getLogger(LOGGER_NAME)
    if stream is None:  # once per process: a worker that builds its app twice logs once
        for known in logger.handlers:
            if getattr(known, "claudechat_stderr", False):
                return known
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.claudechat_stderr = stream is None  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler
