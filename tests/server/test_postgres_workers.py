"""Two service processes on one PostgreSQL database: a conversation driven through both.

``pg_workers`` starts ``claudechat serve`` twice (one worker each, as two machines would run
it) on one fresh database, upstream an emulator server whose streams the test can hold.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from claudechat.credentials import new_api_key
from claudechat.store.postgres import PostgresStore
from claudechat.testing import Emulator, EmuRequest, serve
from claudechat.testing._service import ServiceProcess

pytestmark = pytest.mark.postgres

SRC = Path(__file__).resolve().parents[2] / "src"
WAIT = 60.0
WORDS = ["lease", "turn", "stream", "reply", "store", "worker", "kept", "whole"]


def expected_reply(text: str) -> str:
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    return " ".join(rng.choices(WORDS, k=12)) + f" (answer to {text})"


def _answer(request: EmuRequest) -> str:
    return expected_reply(request.last_user_text)


class Hold:
    """The emulator's wait before each streamed word: free, or held until released."""

    def __init__(self) -> None:
        self.free = threading.Event()
        self.free.set()
        self.reached = threading.Event()

    def __call__(self, seconds: float) -> None:
        if not self.free.is_set():
            self.reached.set()
            self.free.wait(WAIT)


@dataclass
class Workers:
    """Two services on one database; ``key`` is alice's API key."""

    first: ServiceProcess
    second: ServiceProcess
    key: str
    conninfo: str
    hold: Hold

    def client(self, service: ServiceProcess) -> httpx2.Client:
        return httpx2.Client(base_url=service.url, timeout=WAIT,
                             headers={"authorization": f"Bearer {self.key}"})  # fmt: skip


@pytest.fixture
def pg_workers(pg_new_database: Any) -> Iterator[Workers]:
    """Two `claudechat serve` processes on one fresh PostgreSQL database."""
    conninfo = pg_new_database()
    with PostgresStore(conninfo) as store:
        user = store.add_user("alice")
        key = new_api_key()
        store.add_api_key(user.id, key_hash=key.hash, prefix=key.prefix)
    hold = Hold()
    emulator = serve(Emulator(reply=_answer), token_delay=0.001, sleep=hold)
    started: list[ServiceProcess] = []
    try:
        for _ in range(2):
            started.append(ServiceProcess(store=conninfo, upstream=emulator.url, src=SRC))
        for service in started:
            service.wait_ready()
        yield Workers(started[0], started[1], key.plaintext, conninfo, hold)
    finally:
        hold.free.set()
        for service in started:
            service.stop()
        emulator.shutdown()


def events(response: httpx2.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        elif "data" in fields:
            yield fields.get("event", "message"), json.loads(fields["data"])
            fields = {}


def streamed_text(client: httpx2.Client, cid: str, text: str) -> tuple[str, list[str]]:
    """Send ``text`` as a streamed turn; the reply's text and the event names."""
    names, pieces = [], []
    body = {"content": text, "stream": True}
    with client.stream("POST", f"/v1/conversations/{cid}/messages", json=body) as response:
        assert response.status_code == 200, response.read()
        for name, data in events(response):
            names.append(name)
            if name == "delta":
                pieces.append(data["text"])
    return "".join(pieces), names


def test_one_conversation_through_two_workers_loses_and_interleaves_nothing(
    pg_workers: Workers,
) -> None:
    with pg_workers.client(pg_workers.first) as one, pg_workers.client(pg_workers.second) as two:
        through_both(pg_workers, one, two)


def through_both(pg_workers: Workers, one: httpx2.Client, two: httpx2.Client) -> None:
    """A held turn on the first worker, refused and reattached on the second, then turns
    alternating between them: the branch holds every question and its own reply, whole."""
    cid = one.post("/v1/conversations", json={"title": "two workers"}).json()["id"]
    pg_workers.hold.free.clear()
    first: dict[str, Any] = {}
    sender = threading.Thread(target=lambda: first.update(
        zip(("text", "names"), streamed_text(one, cid, "question 0"), strict=True)))  # fmt: skip
    sender.start()
    assert pg_workers.hold.reached.wait(WAIT), "the first turn never reached the model"
    busy = two.post(f"/v1/conversations/{cid}/messages", json={"content": "x", "stream": False})
    assert busy.status_code == 409 and busy.json()["error"]["type"] == "conflict"
    reattached: list[tuple[str, dict[str, Any]]] = []
    attached = threading.Event()

    def reattach() -> None:
        with two.stream("GET", f"/v1/conversations/{cid}/stream") as response:
            attached.set()
            assert response.status_code == 200, response.read()
            reattached.extend(events(response))

    watcher = threading.Thread(target=reattach)
    watcher.start()
    # the turn is released only once the second worker has answered the reattach (while the
    # first still held the turn), or a reattach after the turn's end would find none running
    assert attached.wait(WAIT), "the reattach was never answered"
    pg_workers.hold.free.set()
    sender.join(WAIT)
    watcher.join(WAIT)
    assert first["text"] == expected_reply("question 0") and first["names"][-1] == "done"
    assert [name for name, _ in reattached][-2:] == ["message", "done"]
    assert reattached[-2][1]["message"]["text"] == expected_reply("question 0")
    for n in range(1, 5):  # the next turns alternate between the workers
        text, names = streamed_text(two if n % 2 else one, cid, f"question {n}")
        assert text == expected_reply(f"question {n}") and names[-1] == "done"
    branch = one.get(f"/v1/conversations/{cid}/messages").json()["data"]
    assert [(m["role"], m["text"], m["status"]) for m in branch] == [
        pair
        for n in range(5)
        for pair in (
            ("user", f"question {n}", "complete"),
            ("assistant", expected_reply(f"question {n}"), "complete"),
        )
    ]
    with PostgresStore(pg_workers.conninfo) as store:
        assert len(store.all_messages(cid)) == 10  # nothing off the branch, nothing twice


def test_several_workers_behind_one_port_share_the_database(pg_new_database: Any) -> None:
    conninfo = pg_new_database()
    with PostgresStore(conninfo) as store:
        user = store.add_user("bob")
        key = new_api_key()
        store.add_api_key(user.id, key_hash=key.hash, prefix=key.prefix)
    emulator = serve(Emulator(reply=_answer))
    try:
        with ServiceProcess(store=conninfo, upstream=emulator.url, workers=2, src=SRC) as server:
            assert len(server.pids()) >= 3  # uvicorn's supervisor and its two workers
            headers = {"authorization": f"Bearer {key.plaintext}"}
            with httpx2.Client(base_url=server.url, headers=headers, timeout=WAIT) as client:
                ids = {client.post("/v1/conversations", json={"title": f"c{n}"}).json()["id"]
                       for n in range(6)}  # fmt: skip
                for cid in ids:
                    text, _ = streamed_text(client, cid, f"hello {cid}")
                    assert text == expected_reply(f"hello {cid}")
                listed = client.get("/v1/conversations").json()["data"]
            printed = server.printed()
        assert {c["id"] for c in listed} == ids
        logged = [json.loads(line) for line in printed.splitlines() if line.startswith("{")]
        turns = [x for x in logged if x["route"] == "/v1/conversations/{cid}/messages"]
        assert len(turns) == 6 and {(x["status"], x["user_id"]) for x in turns} == {(200, user.id)}
        assert key.plaintext not in printed and "upstream-test-key" not in printed
    finally:
        emulator.shutdown()
