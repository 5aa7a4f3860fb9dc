"""Server-sent events: a turn's events as ``text/event-stream`` frames."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from .runs import RunEvent

__all__ = ["GATHER_SECONDS", "IDLE_SECONDS", "event_stream", "frame"]

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
IDLE_SECONDS = 15.0  # a comment line this often keeps proxies from closing a quiet stream
GATHER_SECONDS = 0.02  # text arriving this soon after the last write goes in the next one
KEEP_ALIVE = b": keep-alive\n\n"


def frame(event: RunEvent) -> bytes:
    """One event as an SSE frame: ``id``, ``event`` and one ``data`` line of JSON."""
    return f"id: {event.seq}\nevent: {event.name}\ndata: {event.json}\n\n".encode()


class EventStream(StreamingResponse):
    """A streaming response that writes its events until they end (the turn's end) or the
    client goes away (it only stops reading: the turn goes on). What Starlette's streaming
    response does, with two plain tasks instead of an anyio task group, whose cancellation
    formats the repr of the task (more time than the writes of a short reply)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        writer = loop.create_task(self._write(send))
        listener = loop.create_task(_listen(receive, writer))
        try:
            await writer
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if me is not None and me.cancelling():  # this request is cancelled, not the writer
                raise
        finally:
            listener.cancel()
        if self.background is not None:
            await self.background()

    async def _write(self, send: Send) -> None:
        try:
            await self.stream_response(send)
        except OSError as err:  # a server of ASGI spec 2.4 says a client went away so
            raise ClientDisconnect() from err


async def _listen(receive: Receive, writer: asyncio.Task[None]) -> None:
    """Stop the writer when the client disconnects."""
    while (await receive())["type"] != "http.disconnect":
        pass
    writer.cancel()


def event_stream(batches: AsyncIterator[list[RunEvent]]) -> StreamingResponse:
    """A streaming response writing each batch of events at once (an empty one: a
    keep-alive comment); a client that goes away only stops reading."""

    async def frames() -> AsyncIterator[bytes]:
        async for batch in batches:
            yield b"".join(frame(event) for event in batch) if batch else KEEP_ALIVE

    return EventStream(frames(), media_type="text/event-stream", headers=HEADERS)
