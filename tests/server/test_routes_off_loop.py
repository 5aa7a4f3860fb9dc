"""The store is read and written off the event loop: a route that touches it runs in a
worker thread, so a slow read, a commit waiting for the disk or a large export never holds
the other streams of the worker. Table-driven over the app's own route list, as the
isolation tests are: a new route must either be a plain function or say why it may run on
the loop."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from claudechat.server import ServerSettings, create_app
from claudechat.store.memory import MemoryStore
from claudechat.testing import offline_client

# The coroutine routes, and why each may run on the loop.
ON_LOOP = {
    ("GET", "/healthz"): "no I/O",
    ("GET", "/v1/models"): "the capability table, in memory",
    ("POST", "/v1/auth/login"): "argon2 and the store in a worker thread (anyio.to_thread)",
    ("POST", "/v1/conversations/import"): "reads the body, stores it in a worker thread",
    ("POST", "/v1/conversations/{cid}/messages"): "a turn: its store work in a worker thread",
    ("POST", "/v1/conversations/{cid}/retry"): "a turn: its store work in a worker thread",
    ("POST", "/v1/conversations/{cid}/messages/{mid}/edit"): "a turn: the same",
    ("GET", "/v1/conversations/{cid}/stream"): "follows a turn; the store in a worker thread",
    ("POST", "/v1/conversations/{cid}/cancel"): "awaits the turn; the store in a worker thread",
    ("GET", "/metrics"): "prometheus-client's figures",
    ("GET", "/"): "the web chat's page, held in memory",
    ("GET", "/static/{version}/{name}"): "an asset, held in memory",
    ("GET", "/static/{name}"): "an asset, held in memory",
    ("GET", "/v1/info"): "the settings",
    ("POST", "/v1/render"): "Markdown to HTML, no store",
}


class Recording(MemoryStore):
    """A memory store noting each public call made on a thread running an event loop."""

    def __init__(self) -> None:
        super().__init__()
        self.on_loop: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if name.startswith("_") or not callable(value) or name == "on_loop":
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                asyncio.get_running_loop()
                super(Recording, self).__getattribute__("on_loop").append(name)
            except RuntimeError:  # a worker thread
                pass
            return value(*args, **kwargs)

        return call


def _routes() -> Iterator[tuple[str, str, Any]]:
    app = create_app(store=MemoryStore(), settings=ServerSettings(auth_mode="none"))
    for route in app.routes:
        if isinstance(route, APIRoute):
            for method in sorted(route.methods):
                yield method, route.path, route.endpoint


def test_every_coroutine_route_says_why_it_may_run_on_the_loop() -> None:
    coroutines = {(m, p) for m, p, endpoint in _routes() if inspect.iscoroutinefunction(endpoint)}
    assert coroutines - ON_LOOP.keys() == set(), "a coroutine route that may touch the store"
    assert ON_LOOP.keys() - coroutines == set(), "listed here, but no longer a coroutine"


@pytest.fixture
def served() -> Iterator[tuple[TestClient, Recording]]:
    store = Recording()
    settings = ServerSettings(auth_mode="none", client=offline_client(asynchronous=True))
    app = create_app(store=store, settings=settings)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, store


def test_conversation_routes_touch_the_store_only_in_worker_threads(
    served: tuple[TestClient, Recording],
) -> None:
    client, store = served
    created = client.post("/v1/conversations", json={"title": "t"})
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    reply = client.post(
        f"/v1/conversations/{cid}/messages", json={"content": "hi", "stream": False}
    )
    assert reply.status_code == 200, reply.text
    mid, asked = reply.json()["message"]["id"], reply.json()["user_message"]["id"]
    store.on_loop.clear()  # what the routes below do
    calls = [
        ("POST", f"/v1/conversations/{cid}/messages", {"content": "and now?"}),  # streamed
        ("POST", f"/v1/conversations/{cid}/retry", {"stream": False}),
        ("POST", f"/v1/conversations/{cid}/messages/{asked}/edit", {"content": "hi there"}),
        ("GET", "/v1/conversations", None),
        ("GET", f"/v1/conversations/{cid}", None),
        ("PATCH", f"/v1/conversations/{cid}", {"title": "renamed"}),
        ("GET", f"/v1/conversations/{cid}/messages", None),
        ("GET", f"/v1/conversations/{cid}/tree", None),
        ("GET", f"/v1/conversations/{cid}/branches", None),
        ("GET", f"/v1/conversations/{cid}/export", None),
        ("GET", f"/v1/conversations/{cid}/cost", None),
        ("POST", f"/v1/conversations/{cid}/checkout", {"message_id": mid}),
        ("POST", f"/v1/conversations/{cid}/fork", {"message_id": mid}),
        ("GET", "/v1/search?q=hi", None),
        ("GET", "/v1/usage", None),
        ("GET", "/v1/auth/session", None),
        ("POST", f"/v1/conversations/{cid}/cancel", {}),
        ("POST", f"/v1/conversations/{cid}/undo", {}),
        ("DELETE", f"/v1/conversations/{cid}", None),
    ]
    for method, path, body in calls:
        r = client.request(method, path, json=body)
        assert r.status_code < 400, (method, path, r.text)
    exported = client.get("/v1/conversations").json()["data"][0]["id"]
    empty = client.post("/v1/conversations", json={}).json()["id"]
    no_turn = client.get(f"/v1/conversations/{empty}/stream")  # none ran: 404, read in a thread
    assert no_turn.status_code == 404, no_turn.text
    r = client.get(f"/v1/conversations/{exported}/export")
    imported = client.post("/v1/conversations/import?again=true", content=r.content,
                           headers={"content-type": "application/json"})  # fmt: skip
    assert imported.status_code == 201, imported.text
    assert store.on_loop == []
