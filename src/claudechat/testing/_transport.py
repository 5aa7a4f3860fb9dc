"""An httpx2 transport (sync and async) that hands every request to a handler.

The handler is a plain callable, ``(method, target, headers, body) -> EmuResponse``, as
with httpx's ``MockTransport(handler)``: `Emulator.transport` hands it its own ``handle``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2

from ._faults import ConnectionDropped

__all__ = ["EmuResponse", "EmulatorTransport", "Handler"]


@dataclass
class EmuResponse:
    """A response as the handler produces it: status, headers, bytes or a byte iterator."""

    status: int
    headers: dict[str, str]
    body: bytes | Iterator[bytes]

    def json(self) -> Any:
        """The decoded JSON body (only for non-streamed bodies)."""
        assert isinstance(self.body, bytes), "streamed body"
        return json.loads(self.body)


Handler = Callable[[str, str, dict[str, str], bytes], EmuResponse]
"""Answers one request: method, target (path and query), headers, body."""

_DROPPED = "peer closed connection without sending complete message body (incomplete chunked read)"


class _SyncBody(httpx2.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks
        except ConnectionDropped as error:
            raise httpx2.RemoteProtocolError(_DROPPED) from error


class _AsyncBody(httpx2.AsyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            for chunk in self._chunks:
                yield chunk
        except ConnectionDropped as error:
            raise httpx2.RemoteProtocolError(_DROPPED) from error


def _target(request: httpx2.Request) -> str:
    return request.url.raw_path.decode("ascii")


class EmulatorTransport(httpx2.BaseTransport, httpx2.AsyncBaseTransport):
    """Answers httpx2 requests from ``handler``; a dropped connection raises as httpx2 would."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    def _answer(self, request: httpx2.Request) -> EmuResponse:
        return self.handler(
            request.method, _target(request), dict(request.headers), request.content
        )

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Answer a request from a sync client."""
        request.read()
        answer = self._answer(request)
        body = answer.body
        if isinstance(body, bytes):
            return httpx2.Response(answer.status, headers=answer.headers, content=body)
        return httpx2.Response(answer.status, headers=answer.headers, stream=_SyncBody(body))

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Answer a request from an async client."""
        await request.aread()
        answer = self._answer(request)
        body = answer.body
        if isinstance(body, bytes):
            return httpx2.Response(answer.status, headers=answer.headers, content=body)
        return httpx2.Response(answer.status, headers=answer.headers, stream=_AsyncBody(body))
