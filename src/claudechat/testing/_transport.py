"""An httpx2 transport (sync and async) that hands every request to an Emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import httpx2

from ._faults import ConnectionDropped

if TYPE_CHECKING:
    from .emulator import Emulator, EmuResponse

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
    """Answers httpx2 requests from an `Emulator`; a dropped connection raises as httpx2 would."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def _answer(self, request: httpx2.Request) -> EmuResponse:
        return self.emulator.handle(
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
