"""The service's own upstream client, over real HTTP: a service configured from the
environment (an API base URL, no client given) streams through the SDK's aiohttp client,
one copy per pool, built when the app starts and closed when it stops; retries, a dropped
stream and an unreachable API behave as with the SDK's default client."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
import uvicorn
from service import WAIT, Event, sse

from claudechat.server import ServerSettings, create_app
from claudechat.server.app import UPSTREAM_POOLS
from claudechat.store import SQLiteStore
from claudechat.testing import Emulator, EmulatorServer, Fault, serve
from claudechat.testing._service import free_port


class Served:
    """``create_app`` under uvicorn in a thread, its upstream the API at ``base_url``."""

    def __init__(
        self, db: Path, base_url: str, monkeypatch: pytest.MonkeyPatch, **settings: Any
    ) -> None:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-upstream-http-test")
        self.store = SQLiteStore(db)
        self.app = create_app(
            store=self.store, settings=ServerSettings(auth_mode="none", **settings)
        )
        self.state = self.app.state.claudechat
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        for _ in range(int(WAIT * 100)):
            if self.server.started or not self.thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert self.server.started, "uvicorn did not start"
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def client(self) -> httpx2.Client:
        return httpx2.Client(base_url=self.url, timeout=WAIT)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(WAIT)
        self.store.close()


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


def test_turns_stream_through_the_sdks_aiohttp_client_closed_at_shutdown(
    tmp_path: Path, upstream: tuple[Emulator, EmulatorServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator, server = upstream
    served = Served(tmp_path / "a.db", server.url, monkeypatch)
    try:
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
    finally:
        served.stop()
    assert served.state.pools == ()
    assert all(p._client.is_closed for p in pools)


def test_the_sdks_retries_work_through_it(
    tmp_path: Path, upstream: tuple[Emulator, EmulatorServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator, server = upstream
    served = Served(tmp_path / "r.db", server.url, monkeypatch)
    try:
        with served.client() as c:
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
    finally:
        served.stop()


def test_a_stream_dropped_upstream_keeps_the_partial_reply_and_the_next_turn_works(
    tmp_path: Path, upstream: tuple[Emulator, EmulatorServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator, server = upstream
    # no thinking: the drop comes after three words of text (thinking would come first)
    served = Served(tmp_path / "d.db", server.url, monkeypatch, thinking="off")
    try:
        with served.client() as c:
            cid = _conversation(c)
            emulator.inject(Fault.drop(after_events=6))
            events = _turn(c, cid, "a long answer please, with many words in it")
            names = [e.name for e in events]
            assert names[0] == "start" and "delta" in names and names[-1] == "error"
            arrived = "".join(e.data["text"] for e in events if e.name == "delta")
            stored = c.get(f"/v1/conversations/{cid}/messages").json()["data"]
            assert [m["role"] for m in stored] == ["user", "assistant"]
            assert stored[-1]["status"] == "partial" and stored[-1]["text"] == arrived
            again = _turn(c, cid, "again")
            assert [e.name for e in again][-1] == "done"
    finally:
        served.stop()


def test_an_unreachable_api_is_an_upstream_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = Served(tmp_path / "u.db", f"http://127.0.0.1:{free_port()}", monkeypatch)
    try:
        with served.client() as c:
            cid = _conversation(c)
            events = _turn(c, cid, "anyone there?")
            assert [e.name for e in events] == ["start", "error"]
            error = events[-1].data["error"]
            assert error["type"] == "upstream_error"
            assert "no answer from the upstream API" in error["message"]
            stored = c.get(f"/v1/conversations/{cid}/messages").json()["data"]
            assert [m["role"] for m in stored] == ["user"]  # stored before it was sent
    finally:
        served.stop()
