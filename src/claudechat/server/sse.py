"""Server-sent events: a turn's events as ``text/event-stream`` frames."""

from __future__ import annotations

import json
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
    data = json.dumps(event.data, ensure_ascii=False)
    return f"id: {event.seq}\nevent: {event.name}\ndata: {data}\n\n".encode()


class EventStream(StreamingResponse):
    """A streaming response that only writes: it ends when its events end (the turn's end),
    without the task that Starlette starts per response to listen for a disconnect (and
    cancels after, which costs more than the writes of a short reply). A client that goes
    away only stops reading: the server drops writes to a closed connection (uvicorn), or
    they fail (ClientDisconnect, as Starlette answers a server of ASGI spec 2.4)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.stream_response(send)
        except OSError as err:
            raise ClientDisconnect() from err
        if self.background is not None:
            await self.background()


def event_stream(batches: AsyncIterator[list[RunEvent]]) -> StreamingResponse:
    """A streaming response writing each batch of events at once (an empty one: a
    keep-alive comment); a client that goes away only stops reading."""

    async def frames() -> AsyncIterator[bytes]:
        async for batch in batches:
            yield b"".join(frame(event) for event in batch) if batch else KEEP_ALIVE

    return EventStream(frames(), media_type="text/event-stream", headers=HEADERS)
