"""The floor under ``bench/serve.py``: the least a Python service on claudechat's stack does
between a user and the API, run under the same users as ``claudechat serve``.

An ASGI app of some 100 lines, on the same uvicorn (uvloop, httptools) and the same SDK
client (``anthropic.DefaultAioHttpClient``): it takes a JSON body, keeps the conversation
in a dict, calls the API with the whole history and writes each text delta as a
server-sent event at once, then ``done``. No framework, no authentication, no spend check,
no context policy, no token counting, no recall, no metrics. With ``FLOOR_DB`` set, it
also commits the user message to SQLite (WAL, ``synchronous=FULL``: it waits for the disk)
in a worker thread before the call, and the reply after it, as claudechat does.

What ``claudechat serve`` adds over this floor is the cost of its features; what this
floor adds over the direct SDK calls is the cost of one more process and HTTP hop on the
machine (and, with the commit, of one wait for the disk before sending).

    FLOOR_UPSTREAM=http://127.0.0.1:8001 [FLOOR_DB=/tmp/floor.db] \\
        python -m uvicorn --app-dir bench --factory serve_floor:create
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sqlite3
import threading
from typing import Any

import anthropic

Scope = dict[str, Any]
Message = dict[str, Any]


def create() -> Floor:
    """The app, configured from ``FLOOR_UPSTREAM`` and ``FLOOR_DB``."""
    return Floor(os.environ["FLOOR_UPSTREAM"], os.environ.get("FLOOR_DB") or None)


class Floor:
    """Conversations in memory (and in SQLite with ``db``), turns streamed from the API."""

    def __init__(self, upstream: str, db: str | None) -> None:
        self.upstream = upstream
        self.client: anthropic.AsyncAnthropic | None = None
        self.histories: dict[str, list[Message]] = {}
        self.models: dict[str, str] = {}
        self.ids = itertools.count(1)
        self.conn: sqlite3.Connection | None = None
        self.write_lock = threading.Lock()
        if db is not None:
            self.conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.execute("CREATE TABLE IF NOT EXISTS messages "
                              "(conversation TEXT, role TEXT, text TEXT)")  # fmt: skip

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if path == "/healthz":
            await answer(send, 200, {"ok": True})
        elif path == "/v1/conversations":
            cid = f"c{next(self.ids)}"
            self.histories[cid] = []
            self.models[cid] = json.loads(body)["model"]
            await answer(send, 201, {"id": cid})
        elif path.endswith("/messages"):
            await self.turn(path.split("/")[3], json.loads(body)["content"], send)
        else:
            await answer(send, 404, {"error": {"type": "not_found", "message": path}})

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client = anthropic.AsyncAnthropic(
                    api_key="bench", base_url=self.upstream,
                    http_client=anthropic.DefaultAioHttpClient(),
                )  # fmt: skip
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def turn(self, cid: str, text: str, send: Any) -> None:
        """Store the user message (with a database), stream the reply, store it."""
        assert self.client is not None
        history = self.histories[cid]
        history.append({"role": "user", "content": text})
        if self.conn is not None:
            await asyncio.to_thread(self.commit, cid, "user", text)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"),
                                (b"cache-control", b"no-cache")]})  # fmt: skip
        seq, pieces = 0, []
        stream = await self.client.messages.create(model=self.models[cid], max_tokens=1024,
                                                   messages=history, stream=True)  # fmt: skip
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                seq += 1
                pieces.append(event.delta.text)
                await send({"type": "http.response.body", "more_body": True,
                            "body": frame(seq, "delta", {"text": event.delta.text})})  # fmt: skip
        reply = "".join(pieces)
        history.append({"role": "assistant", "content": reply})
        if self.conn is not None:
            await asyncio.to_thread(self.commit, cid, "assistant", reply)
        await send({"type": "http.response.body", "body": frame(seq + 1, "done", {})})

    def commit(self, cid: str, role: str, text: str) -> None:
        """One message in its own transaction, on disk when this returns."""
        assert self.conn is not None
        with self.write_lock:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("INSERT INTO messages VALUES (?, ?, ?)", (cid, role, text))
            self.conn.execute("COMMIT")


def frame(seq: int, name: str, data: dict[str, Any]) -> bytes:
    return f"id: {seq}\nevent: {name}\ndata: {json.dumps(data)}\n\n".encode()


async def answer(send: Any, status: int, data: dict[str, Any]) -> None:
    body = json.dumps(data).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
