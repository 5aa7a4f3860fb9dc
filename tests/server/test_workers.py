"""Two workers on one SQLite file: a turn running on one is seen, stopped and reattached
from the other, and app shutdown lets a turn finish or keeps its partial reply."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import pytest
from service import WAIT, Service, sse, start_service

from claudechat.server import routes_turns


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Service, Service]]:
    """Two services (workers) sharing one SQLite file, no auth."""
    first = start_service(tmp_path / "shared.db", auth_mode="none")
    second = start_service(tmp_path / "shared.db", auth_mode="none")
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def _start_held_turn(service: Service, cid: str, text: str) -> Iterator[object]:
    """Start a streamed turn whose upstream is held mid-reply; yields once it is held."""
    service.gate.hold()
    with (
        service.client() as c,
        c.stream("POST", f"/v1/conversations/{cid}/messages", json={"content": text}) as r,
    ):
        events = sse(r)
        assert next(events).name == "start"
        assert service.gate.reached.wait(WAIT)
        yield events


def test_a_turn_on_another_worker_is_409_then_stopped_from_here(
    two: tuple[Service, Service],
) -> None:
    first, second = two
    with first.client() as a, second.client() as b:
        cid = a.post("/v1/conversations", json={}).json()["id"]
        held = _start_held_turn(first, cid, "long one")
        events = next(held)
        busy = b.post(f"/v1/conversations/{cid}/messages", json={"content": "x"})
        assert busy.status_code == 409 and busy.json()["error"]["type"] == "conflict"
        assert b.post(f"/v1/conversations/{cid}/cancel", json={}).json() == {"stopped": True}
        rest = list(events)  # type: ignore[call-overload]
        assert rest[-1].name == "done"
        held.close()
        stored = b.get(f"/v1/conversations/{cid}/messages").json()["data"]
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[-1]["status"] == "partial" and stored[-1]["text"]


def test_a_turn_on_another_worker_shows_as_running_until_it_ends(
    two: tuple[Service, Service],
) -> None:
    """``turn_running`` tells a reply being written (saved as partial as it streams) from a
    stopped one, on whichever worker the turn runs."""
    first, second = two
    with first.client() as a, second.client() as b:
        cid = a.post("/v1/conversations", json={}).json()["id"]
        assert b.get(f"/v1/conversations/{cid}").json()["turn_running"] is False
        held = _start_held_turn(first, cid, "long one")
        events = next(held)
        assert b.get(f"/v1/conversations/{cid}").json()["turn_running"] is True
        assert b.get(f"/v1/conversations/{cid}/messages").json()["turn_running"] is True
        assert b.post(f"/v1/conversations/{cid}/cancel", json={}).json() == {"stopped": True}
        assert list(events)[-1].name == "done"  # type: ignore[call-overload]
        held.close()
        page = b.get(f"/v1/conversations/{cid}/messages?limit=10").json()
        conv = a.get(f"/v1/conversations/{cid}").json()
    assert page["data"][-1]["status"] == "partial"
    assert page["turn_running"] is False and conv["turn_running"] is False


def test_settings_and_deletion_wait_for_a_turn_on_another_worker(
    two: tuple[Service, Service],
) -> None:
    first, second = two
    with first.client() as a, second.client() as b:
        cid = a.post("/v1/conversations", json={"title": "kept"}).json()["id"]
        held = _start_held_turn(first, cid, "long one")
        events = next(held)
        patched = b.patch(f"/v1/conversations/{cid}", json={"title": "changed", "budget": 4096})
        assert patched.status_code == 409 and patched.json()["error"]["type"] == "conflict"
        renamed = b.patch(f"/v1/conversations/{cid}", json={"title": "renamed meanwhile"})
        assert renamed.status_code == 200  # a title alone: as claudechat rename, at any time
        assert a.patch(f"/v1/conversations/{cid}", json={"title": "kept"}).status_code == 200
        deleted = b.delete(f"/v1/conversations/{cid}")
        assert deleted.status_code == 409
        first.gate.release()
        assert [e.name for e in events][-1] == "done"  # type: ignore[attr-defined]
        held.close()
        conv = b.get(f"/v1/conversations/{cid}").json()
        assert conv["title"] == "kept"  # the refused change changed nothing
        assert b.patch(f"/v1/conversations/{cid}", json={"title": "changed"}).is_success
        assert b.post(f"/v1/conversations/{cid}/messages",
                      json={"content": "next", "stream": False}).is_success  # fmt: skip
        assert b.delete(f"/v1/conversations/{cid}").status_code == 204
        assert a.get(f"/v1/conversations/{cid}").status_code == 404


def test_reattach_on_another_worker_gets_the_stored_reply(two: tuple[Service, Service]) -> None:
    first, second = two
    with first.client() as a, second.client() as b:
        cid = a.post("/v1/conversations", json={}).json()["id"]
        held = _start_held_turn(first, cid, "elsewhere")
        next(held)
        with b.stream("GET", f"/v1/conversations/{cid}/stream") as r:
            assert r.status_code == 200
            first.gate.release()
            events = list(sse(r))
        held.close()
    assert [e.name for e in events] == ["message", "done"]
    message = events[0].data["message"]
    assert message["status"] == "complete" and 'You said: "elsewhere"' in message["text"]


def test_reattach_with_last_event_id_on_another_worker_numbers_the_reply_after_it(
    two: tuple[Service, Service],
) -> None:
    """The client saw the first worker's events up to N: the second numbers the stored
    reply after N (numbered from 1 instead, a client past event 2 got nothing at all)."""
    first, second = two
    with first.client() as a, second.client() as b:
        cid = a.post("/v1/conversations", json={}).json()["id"]
        held = _start_held_turn(first, cid, "seen up to here")
        next(held)
        headers = {"Last-Event-ID": "57"}
        with b.stream("GET", f"/v1/conversations/{cid}/stream", headers=headers) as r:
            first.gate.release()
            events = list(sse(r))
        held.close()
    assert [(e.id, e.name) for e in events] == [(58, "message"), (59, "done")]
    assert 'You said: "seen up to here"' in events[0].data["message"]["text"]


def test_reattach_on_another_worker_after_the_turn_ended_gets_the_stored_reply(
    two: tuple[Service, Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the worker that ran it would, for as long as it keeps the turn's events; after
    that, and for a turn that stored no reply, 404."""
    import claudechat.server.routes_turns as routes

    first, second = two
    with first.client() as a, second.client() as b:
        cid = a.post("/v1/conversations", json={}).json()["id"]
        a.post(f"/v1/conversations/{cid}/messages", json={"content": "over", "stream": False})
        with b.stream("GET", f"/v1/conversations/{cid}/stream") as r:
            assert r.status_code == 200
            events = list(sse(r))
        assert [e.name for e in events] == ["message", "done"]
        assert 'You said: "over"' in events[0].data["message"]["text"]
        monkeypatch.setattr(routes, "KEEP_SECONDS", 0.0)
        late = b.get(f"/v1/conversations/{cid}/stream")
    assert late.status_code == 404 and late.json()["error"]["type"] == "not_found"


def test_shutdown_lets_a_turn_finish_within_the_grace(tmp_path: Path) -> None:
    service = start_service(tmp_path / "s.db", auth_mode="none", shutdown_grace_seconds=30)
    with service.client() as c:
        cid = c.post("/v1/conversations", json={}).json()["id"]
    held = _start_held_turn(service, cid, "finish me")
    next(held)
    held.close()  # the client goes away
    service.gate.release()
    service.stop()
    reopened = service.store.__class__(service.store.path)
    try:
        branch = reopened.branch(cid)
    finally:
        reopened.close()
    assert branch[-1].status == "complete" and 'You said: "finish me"' in branch[-1].text


def _branch_once_stopped(service: Service, cid: str) -> list[Any]:
    """Stop uvicorn (the app's shutdown runs, the upstream left as it is), then the
    conversation's branch as the store holds it."""
    service.server.should_exit = True
    service.thread.join(WAIT)
    assert not service.thread.is_alive()
    service.stop()
    reopened = service.store.__class__(service.store.path)
    try:
        return reopened.branch(cid)
    finally:
        reopened.close()


def test_shutdown_after_the_grace_keeps_the_partial_reply(tmp_path: Path) -> None:
    service = start_service(tmp_path / "g.db", auth_mode="none", shutdown_grace_seconds=0.2)
    with service.client() as c:
        cid = c.post("/v1/conversations", json={}).json()["id"]
    held = _start_held_turn(service, cid, "cut me")
    next(held)
    held.close()
    branch = _branch_once_stopped(service, cid)  # the upstream stays held: the grace runs out
    assert [m.role for m in branch] == ["user", "assistant"]
    assert branch[-1].status == "partial" and branch[-1].text


def test_once_the_shutdown_begins_a_new_turn_is_refused_and_the_running_one_ends(
    tmp_path: Path,
) -> None:
    service = start_service(tmp_path / "d.db", auth_mode="none", shutdown_grace_seconds=30)
    with service.client() as c:
        running, other = (c.post("/v1/conversations", json={}).json()["id"] for _ in range(2))
        held = _start_held_turn(service, running, "finish me")
        events = next(held)
        runs = service.app.state.claudechat.runs
        loop = runs.running(running).task.get_loop()
        asyncio.run_coroutine_threadsafe(_begin(runs), loop).result(WAIT)  # the signal
        refused = c.post(
            f"/v1/conversations/{other}/messages", json={"content": "too late"}, timeout=10
        )  # a turn let through would be held upstream: no answer
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["type"] == "unavailable"
        assert "shutting down" in refused.json()["error"]["message"]
        assert refused.headers["retry-after"] == "5"
        assert c.get(f"/v1/conversations/{other}/messages").json()["data"] == []
        service.gate.release()
        assert list(events)[-1].name == "done"  # type: ignore[call-overload]
        held.close()
        stored = c.get(f"/v1/conversations/{running}/messages").json()["data"]
    service.stop()
    assert stored[-1]["status"] == "complete" and 'You said: "finish me"' in stored[-1]["text"]


async def _begin(runs: Any) -> None:
    """What the termination signal does: the shutdown begins, its grace counted from now."""
    runs.begin_shutdown()


def test_a_turn_opened_as_the_shutdown_began_gets_the_grace_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signal comes while a turn is being opened (its request past the check): the
    turn is waited for within the grace, as the ones already running, not cut at the end."""
    service = start_service(tmp_path / "late.db", auth_mode="none", shutdown_grace_seconds=30)
    runs = service.app.state.claudechat.runs
    opening = routes_turns._open_turn

    def open_as_the_signal_comes(*args: Any) -> Any:
        opened = opening(*args)
        anyio.from_thread.run_sync(runs.begin_shutdown)
        while not runs._draining.done():  # nothing ran yet: the drain found no turn
            time.sleep(0.01)
        return opened

    monkeypatch.setattr(routes_turns, "_open_turn", open_as_the_signal_comes)
    with service.client() as c:
        cid = c.post("/v1/conversations", json={}).json()["id"]
    held = _start_held_turn(service, cid, "late one")
    next(held)
    held.close()  # the client goes away; the reply is held upstream
    threading.Timer(0.5, service.gate.opened.set).start()  # it goes on after the app's end began
    branch = _branch_once_stopped(service, cid)
    assert branch[-1].status == "complete" and 'You said: "late one"' in branch[-1].text
