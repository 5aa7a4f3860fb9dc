"""The service's own upstream client, over real HTTP: a service configured from the
environment (an API base URL, no client given) streams through the SDK's aiohttp client,
one copy per pool, built when the app starts and closed when it stops; retries, a dropped
stream, a client gone mid-reply, a shutdown mid-reply and an unreachable API behave as with
the SDK's default client."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
import uvicorn
from service import WAIT, Event, run_uvicorn, sse

from claudechat.server import ServerSettings, create_app
from claudechat.server.app import UPSTREAM_POOLS
from claudechat.server.state import ServerState
from claudechat.store import SQLiteStore
from claudechat.testing import Emulator, EmulatorServer, Fault, serve
from claudechat.testing._service import free_port


@dataclass
class Served:
    """``create_app`` under uvicorn in a thread, its upstream built from the environment."""

    url: str
    store: SQLiteStore
    state: ServerState
    server: uvicorn.Server
    thread: threading.Thread

    def client(self) -> httpx2.Client:
        return httpx2.Client(base_url=self.url, timeout=WAIT)

    def stop(self) -> None:
        """Stop uvicorn (the app's shutdown runs) and wait for it."""
        self.server.should_exit = True
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "uvicorn did not stop"


Start = Callable[..., Served]


@pytest.fixture
def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Start]:
    """``start(base_url, **settings)``: a service whose upstream is the API at ``base_url``
    (stopped at the end of the test if it still runs)."""
    started: list[Served] = []

    def start(base_url: str, **settings: Any) -> Served:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-upstream-http-test")
        store = SQLiteStore(tmp_path / f"s{len(started)}.db")
        app = create_app(store=store, settings=ServerSettings(auth_mode="none", **settings))
        url, server, thread = run_uvicorn(app)
        started.append(Served(url, store, app.state.claudechat, server, thread))
        return started[-1]

    yield start
    for served in started:
        if served.thread.is_alive():
            served.stop()
        served.store.close()


@pytest.fixture
def upstream() -> Iterator[tuple[Emulator, EmulatorServer]]:
    emulator = Emulator()
    with serve(emulator) as server:
        yield emulator, server


def _turn(client: httpx2.Client, cid: str, text: str) -> list[Event]:
    body = {"content": text, "stream": True}
    with client.stream("POST", f"/v1/conversations/{cid}/messages", json=body) as r:
        assert r.status_code == 200, r.read()
        return list(sse(r))


def _conversation(client: httpx2.Client) -> str:
    r = client.post("/v1/conversations", json={})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _stored(client: httpx2.Client, cid: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = client.get(f"/v1/conversations/{cid}/messages").json()["data"]
    return data


def test_turns_stream_through_the_sdks_aiohttp_client_closed_at_shutdown(
    start: Start, upstream: tuple[Emulator, EmulatorServer]
) -> None:
    emulator, server = upstream
    served = start(server.url)
    pools = served.state.pools
    assert len(pools) == UPSTREAM_POOLS
    assert all(isinstance(p._client, anthropic.DefaultAioHttpClient) for p in pools)
    with served.client() as c:
        cid = _conversation(c)
        for n in range(3):
            events = _turn(c, cid, f"question {n}")
            assert [e.name for e in events][-1] == "done"
            text = "".join(e.data["text"] for e in events if e.name == "delta")
            assert f'You said: "question {n}"' in text
            assert events[-2].data["message"]["text"] == text
    assert len(emulator.requests) == 3  # over HTTP, one request a turn
    served.stop()
    assert served.state.pools == ()
    assert all(p._client.is_closed for p in pools)


def test_the_sdks_retries_work_through_it(
    start: Start, upstream: tuple[Emulator, EmulatorServer]
) -> None:
    emulator, server = upstream
    with start(server.url).client() as c:
        cid = _conversation(c)
        emulator.inject(Fault.status_error(529, retry_after=0))
        events = _turn(c, cid, "after one overload")
        assert [e.name for e in events][-1] == "done"
        assert len(emulator.requests) == 2  # the 529, then the retry that answered
        for _ in range(3):  # the client's retries (2), then the error
            emulator.inject(Fault.status_error(500, retry_after=0))
        events = _turn(c, cid, "after three failures")
        assert [e.name for e in events] == ["start", "error"]
        assert events[-1].data["error"]["type"] == "upstream_error"


def test_a_stream_dropped_upstream_keeps_the_partial_reply_and_the_next_turn_works(
    start: Start, upstream: tuple[Emulator, EmulatorServer]
) -> None:
    emulator, server = upstream
    # no thinking: the drop comes after three words of text (thinking would come first)
    with start(server.url, thinking="off").client() as c:
        cid = _conversation(c)
        emulator.inject(Fault.drop(after_events=6))
        events = _turn(c, cid, "a long answer please, with many words in it")
        names = [e.name for e in events]
        assert names[0] == "start" and "delta" in names and names[-1] == "error"
        arrived = "".join(e.data["text"] for e in events if e.name == "delta")
        stored = _stored(c, cid)
        assert [m["role"] for m in stored] == ["user", "assistant"]
        assert stored[-1]["status"] == "partial" and stored[-1]["text"] == arrived
        again = _turn(c, cid, "again")
        assert [e.name for e in again][-1] == "done"


def _slow_upstream(seconds_a_word: float = 0.02) -> EmulatorServer:
    """An emulator server streaming a word every 20 ms (a reply takes about a second)."""
    return serve(Emulator(), token_delay=seconds_a_word)


def test_a_client_gone_mid_reply_leaves_the_reply_to_finish_and_be_stored(
    start: Start,
) -> None:
    with _slow_upstream() as server, start(server.url, thinking="off").client() as c:
        cid = _conversation(c)
        body = {"content": "leave early", "stream": True}
        with c.stream("POST", f"/v1/conversations/{cid}/messages", json=body) as r:
            first = [e.name for _, e in zip(range(3), sse(r), strict=False)]
        assert first == ["start", "delta", "delta"]  # then the client goes away
        with c.stream("GET", f"/v1/conversations/{cid}/stream") as r:  # the rest, reattached
            rest = list(sse(r))
        assert rest[-1].name == "done"
        stored = _stored(c, cid)
    assert stored[-1]["status"] == "complete" and 'You said: "leave early"' in stored[-1]["text"]


def _leave_after_first_text(c: httpx2.Client, cid: str, content: str) -> None:
    """Send ``content`` streamed and go away once the reply's first text has arrived."""
    body = {"content": content, "stream": True}
    with c.stream("POST", f"/v1/conversations/{cid}/messages", json=body) as r:
        events = sse(r)
        assert [next(events).name, next(events).name] == ["start", "delta"]


def test_a_shutdown_mid_reply_keeps_the_partial_reply_and_closes_the_pools(
    start: Start,
) -> None:
    with _slow_upstream(0.1) as server:  # a reply of some five seconds
        served = start(server.url, thinking="off", shutdown_grace_seconds=0.2)
        pools = served.state.pools
        with served.client() as c:
            cid = _conversation(c)
            _leave_after_first_text(c, cid, "cut me at shutdown")
        served.stop()  # the client has gone; the grace runs out mid-reply
        assert all(p._client.is_closed for p in pools)
        branch = served.store.branch(cid)
    assert [m.role for m in branch] == ["user", "assistant"]
    assert branch[-1].status == "partial" and branch[-1].text


def test_a_shutdown_lets_a_reply_finish_within_the_grace_before_the_pools_close(
    start: Start,
) -> None:
    with _slow_upstream() as server:
        served = start(server.url, thinking="off", shutdown_grace_seconds=30)
        with served.client() as c:
            cid = _conversation(c)
            _leave_after_first_text(c, cid, "finish me")
        served.stop()  # the reply still reads through its pool until it ends
        branch = served.store.branch(cid)
    assert branch[-1].status == "complete" and 'You said: "finish me"' in branch[-1].text


def test_an_unreachable_api_is_an_upstream_error(start: Start) -> None:
    with start(f"http://127.0.0.1:{free_port()}").client() as c:
        cid = _conversation(c)
        events = _turn(c, cid, "anyone there?")
        assert [e.name for e in events] == ["start", "error"]
        error = events[-1].data["error"]
        assert error["type"] == "upstream_error"
        assert "no answer from the upstream API" in error["message"]
        assert [m["role"] for m in _stored(c, cid)] == ["user"]  # stored before it was sent
