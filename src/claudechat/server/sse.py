"""Server-sent events: a turn's events as ``text/event-stream`` frames."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse

from .runs import RunEvent

__all__ = ["IDLE_SECONDS", "event_stream", "frame"]

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
IDLE_SECONDS = 15.0  # a comment line this often keeps proxies from closing a quiet stream
KEEP_ALIVE = b": keep-alive\n\n"


def frame(event: RunEvent) -> bytes:
    """One event as an SSE frame: ``id``, ``event`` and one ``data`` line of JSON."""
    data = json.dumps(event.data, ensure_ascii=False)
    return f"id: {event.seq}\nevent: {event.name}\ndata: {data}\n\n".encode()


def event_stream(events: AsyncIterator[RunEvent | None]) -> StreamingResponse:
    """A streaming response of the events (None: a keep-alive comment); a client that goes
    away only stops reading."""

    async def frames() -> AsyncIterator[bytes]:
        async for event in events:
            yield KEEP_ALIVE if event is None else frame(event)

    return StreamingResponse(frames(), media_type="text/event-stream", headers=HEADERS)
