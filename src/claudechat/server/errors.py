"""The service's one error shape, ``{"error": {"type", "message"}}``, for every failure.

``ApiError`` is raised by the service's own code; the library's typed errors, FastAPI's
validation errors (422, naming the field) and Starlette's 404 / 405 are turned into the
same shape by the handlers ``install_error_handlers`` registers. ``BodyLimit`` refuses a
body over the configured size (413) before it is read whole.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import (
    AttachmentRejected,
    ClaudeChatError,
    ConcurrentUpdate,
    ConversationNotFound,
    ModelError,
    StoreError,
    UserError,
)

__all__ = ["ApiError", "BodyLimit", "error_body", "error_for", "install_error_handlers"]

log = logging.getLogger("claudechat.server")

_STATUS_TYPES = {
    400: "invalid_request",
    401: "authentication_failed",
    402: "spend_limit",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    501: "not_implemented",
    502: "upstream_error",
    503: "unavailable",
}


class ApiError(Exception):
    """A failure answered with ``status`` and the error shape (``type`` defaults by status)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type or _STATUS_TYPES.get(status, "internal_error")
        self.message = message
        self.headers = dict(headers or {})


def error_body(type: str, message: str) -> dict[str, Any]:
    """The JSON of an error: ``{"error": {"type", "message"}}``."""
    return {"error": {"type": type, "message": message}}


# The refusals of the spend check (server/limits.py), by name: 402 and 429.
_SERVICE_REFUSALS = {"SpendLimitExceeded": 402, "TooManyStreams": 429}
# A user at their concurrent streams: when to ask again (a streamed reply takes seconds).
STREAMS_RETRY_AFTER = "2"


def error_for(err: BaseException) -> ApiError:
    """The ApiError for any exception: the library's typed errors by kind, others 500."""
    if isinstance(err, ApiError):
        return err
    refusal = _SERVICE_REFUSALS.get(type(err).__name__)
    if refusal is not None and isinstance(err, ClaudeChatError):
        wait = {"Retry-After": STREAMS_RETRY_AFTER} if refusal == 429 else None
        return ApiError(refusal, str(err), headers=wait)
    if isinstance(err, ConversationNotFound):
        return ApiError(404, str(err))
    if isinstance(err, ConcurrentUpdate):
        return ApiError(409, f"a turn is in flight or the conversation changed: {err}")
    if isinstance(err, AttachmentRejected):  # a file of another type: 415; over a limit: 413
        return ApiError(415 if err.limit == "type" else 413, str(err))
    if isinstance(err, UserError):
        return ApiError(400, str(err))
    if isinstance(err, ModelError):
        return ApiError(502, f"the model API failed: {_upstream_text(err)}")
    if isinstance(err, StoreError):
        log.error("store failure: %s", err)
        return ApiError(500, "the conversation store failed; try again")
    if isinstance(err, ClaudeChatError):
        return ApiError(500, str(err))
    log.error("unexpected error", exc_info=(type(err), err, err.__traceback__))
    return ApiError(500, "internal error")


def _upstream_text(err: ModelError) -> str:
    """What to say of an upstream failure: its kind and status, never a credential."""
    kind = type(err).__name__
    if kind == "AuthError":
        return "the upstream API refused the server's credentials (status 401)"
    if kind == "ModelError" and err.status is None and err.error_type is None:
        # the SDK's connection errors and timeouts; their text names the upstream's address
        return "no answer from the upstream API (the connection failed or timed out)"
    status = f" (status {err.status})" if err.status is not None else ""
    return f"{err.error_type or kind}{status}"


def _respond(err: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(err.type, err.message), status_code=err.status, headers=err.headers or None
    )


def _field(loc: Sequence[Any]) -> str:
    """A validation error's location as a dotted field name ("body.content")."""
    return ".".join(str(part) for part in loc) or "request"


def install_error_handlers(app: FastAPI) -> None:
    """Answer every failure with the error shape."""

    async def api_error(request: Request, err: Exception) -> JSONResponse:
        return _respond(error_for(err))

    async def validation(request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, RequestValidationError)
        problems = [f"{_field(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in err.errors()]
        return _respond(ApiError(422, "; ".join(problems) or "invalid request"))

    async def http_error(request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, StarletteHTTPException)
        detail = err.detail if isinstance(err.detail, str) else "request failed"
        if err.status_code == 404:
            detail = f"no route {request.method} {request.url.path}"
        elif err.status_code == 405:
            detail = f"method {request.method} is not allowed on {request.url.path}"
        response = _respond(ApiError(err.status_code, detail))
        for name, value in (err.headers or {}).items():
            response.headers[name] = value
        return response

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ClaudeChatError, api_error)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(Exception, api_error)


_NEW_MESSAGE = re.compile(r"^/v1/conversations/[^/]+/messages$")


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` (``message_bytes`` for a new
    message, which carries its attachments) gets 413 without being read whole (a
    Content-Length over the limit is refused at once; a chunked body at the first byte past
    it). Bodies under the limit are buffered and handed on unchanged."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, message_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.message_bytes = max_bytes if message_bytes is None else message_bytes

    def _limit(self, scope: Scope) -> int:
        if scope.get("method") == "POST" and _NEW_MESSAGE.match(scope.get("path", "")):
            return self.message_bytes
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        length = _content_length(scope)
        if length is not None and length > limit:
            await self._too_large(send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], then=receive), send)

    async def _too_large(self, send: Send, limit: int) -> None:
        body = json.dumps(
            error_body("payload_too_large", f"the request body is over {limit:,} bytes")
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close"),
                   (b"content-length", str(len(body)).encode())]  # fmt: skip
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(messages: list[Message], *, then: Receive | None = None) -> Receive:
    """A receive callable that hands out ``messages`` first, then the real ``receive``
    (a disconnect is still seen by a streaming response)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive
