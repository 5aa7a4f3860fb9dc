"""The pieces the service tests share: a real uvicorn on 127.0.0.1 over a SQLite file and
the emulator, a gate that holds an upstream stream mid-reply, and an SSE reader."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import uvicorn

from claudechat.credentials import hash_password, new_api_key
from claudechat.server import AuthCallable, ServerSettings, create_app
from claudechat.store import SQLiteStore
from claudechat.testing import Emulator

WAIT = 30.0  # the longest a test waits for something that should happen at once


class Gate:
    """Holds the next upstream reply stream after ``after`` chunks of text until ``release()``;
    ``reached`` is set when a stream is held there."""

    def __init__(self) -> None:
        self.after: int | None = None
        self.marker = b'"text_delta"'
        self.opened = threading.Event()
        self.reached = threading.Event()

    def hold(self, after: int = 3, *, of: str = "text") -> None:
        """Hold the next streams after ``after`` chunks of text (a thinking block may come
        before them), or of thinking with ``of="thinking"``."""
        self.opened.clear()
        self.reached.clear()
        self.after = after
        self.marker = f'"{of}_delta"'.encode()

    def release(self) -> None:
        """Let held streams go on, and stop holding new ones."""
        self.after = None
        self.opened.set()


class _HeldBody(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, gate: Gate, after: int) -> None:
        self.inner, self.gate, self.after, self.marker = inner, gate, after, gate.marker

    async def __aiter__(self) -> AsyncIterator[bytes]:
        texts, held = 0, False
        async for chunk in self.inner:
            if texts == self.after and not held:
                held = True
                self.gate.reached.set()
                while not self.gate.opened.is_set():
                    await asyncio.sleep(0.01)
            texts += self.marker in chunk  # count the chunks of the held kind only
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class GatedTransport(httpx2.AsyncBaseTransport):
    """The emulator's transport, with streams held by a Gate when it says so."""

    def __init__(self, emulator: Emulator, gate: Gate) -> None:
        self.inner = emulator.transport()
        self.gate = gate

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        after = self.gate.after
        if after is None or "text/event-stream" not in response.headers.get("content-type", ""):
            return response
        held = _HeldBody(response.stream, self.gate, after)
        return httpx2.Response(response.status_code, headers=response.headers, stream=held)


def upstream(emulator: Emulator, gate: Gate) -> anthropic.AsyncAnthropic:
    """An AsyncAnthropic client answered by the emulator through the gate."""
    http = httpx2.AsyncClient(transport=GatedTransport(emulator, gate))
    return anthropic.AsyncAnthropic(api_key="test", http_client=http, max_retries=0)


@dataclass
class Service:
    """A running service: its URL, store, emulator and gate."""

    url: str
    store: SQLiteStore
    emulator: Emulator
    gate: Gate
    server: uvicorn.Server
    thread: threading.Thread
    app: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, **headers: str) -> httpx2.Client:
        """An HTTP client for the service with these default headers."""
        return httpx2.Client(base_url=self.url, headers=headers, timeout=WAIT)

    def stop(self) -> None:
        """Stop uvicorn (the app's shutdown runs) and wait for its thread."""
        self.gate.release()
        self.server.should_exit = True
        self.thread.join(WAIT)
        self.store.close()


def start_service(db: Path, *, auth: AuthCallable | None = None, **settings: Any) -> Service:
    """uvicorn on 127.0.0.1 on a free port, serving create_app over a SQLite file."""
    emulator, gate = Emulator(), Gate()
    store = SQLiteStore(db)
    options: dict[str, Any] = {"client": upstream(emulator, gate), **settings}
    app = create_app(store=store, auth=auth, settings=ServerSettings(**options))
    url, server, thread = run_uvicorn(app)
    return Service(url, store, emulator, gate, server, thread, app)


def run_uvicorn(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    """``app`` under uvicorn on 127.0.0.1 on a free port, in a thread: its URL, the server
    (``should_exit = True`` stops it, the app's shutdown included) and the thread."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(int(WAIT * 100)):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}", server, thread


@dataclass(frozen=True)
class Event:
    """One server-sent event."""

    id: int
    name: str
    data: dict[str, Any]


def sse(response: httpx2.Response) -> Iterator[Event]:
    """The events of a text/event-stream response, as they arrive."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
            continue
        if "data" in fields:
            yield Event(int(fields.get("id", "0")), fields.get("event", "message"),
                        json.loads(fields["data"]))  # fmt: skip
        fields = {}


@dataclass(frozen=True)
class Member:
    """A user of the builtin-auth service and their API key."""

    id: str
    name: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def add_member(service: Service, name: str, *, password: str | None = None) -> Member:
    """A user with an API key (and a password when given), made in the service's store."""
    store = service.store
    hashed = hash_password(password) if password is not None else None
    user = store.add_user(name, password_hash=hashed)
    key = new_api_key()
    store.add_api_key(user.id, key_hash=key.hash, prefix=key.prefix)
    return Member(user.id, name, key.plaintext)
