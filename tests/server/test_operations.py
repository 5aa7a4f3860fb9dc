"""Spend limits, metrics and the request log, in the app: a refused turn reaches neither the
store nor the model, a settled turn shows in the spend and /metrics, the log names the user."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic import Anthropic
from prometheus_client.parser import text_string_to_metric_families

from claudechat import Chat
from claudechat.credentials import new_api_key
from claudechat.server import ServerSettings, create_app
from claudechat.server.request_log import LOGGER_NAME, log_to_stream
from claudechat.store.accounts import Limits
from claudechat.store.sqlite import SQLiteStore
from claudechat.testing import Emulator

MODEL = "claude-sonnet-4-6"


class Clock:
    """The store's and the app's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 5, 20, 10, 0, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now


@dataclass
class App:
    client: httpx2.AsyncClient
    store: SQLiteStore
    emulator: Emulator
    user_id: str
    clock: Clock
    log: io.StringIO

    def turn(self, cid: str, text: str = "hello") -> httpx2.Response:
        body = {"content": text, "stream": False}
        return self.run(self.client.post(f"/v1/conversations/{cid}/messages", json=body))

    def run(self, call: Any) -> httpx2.Response:
        response: httpx2.Response = asyncio.get_event_loop().run_until_complete(call)
        return response


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    clock, out = Clock(), io.StringIO()
    store = SQLiteStore(tmp_path / "chat.db", clock=clock)
    user = store.add_user("alice")
    key = new_api_key()
    store.add_api_key(user.id, key_hash=key.hash, prefix=key.prefix)
    emulator = Emulator()
    upstream = anthropic.AsyncAnthropic(api_key="upstream-secret-key-123",
                                        http_client=emulator.async_http_client(), max_retries=0)  # fmt: skip
    settings = ServerSettings(client=upstream, clock=clock, model=MODEL, max_tokens=1000)
    asgi = create_app(store=store, settings=settings)
    handler = log_to_stream(out)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=asgi), base_url="http://t",
                                headers={"authorization": f"Bearer {key.plaintext}"})  # fmt: skip
    try:
        yield App(client, store, emulator, user.id, clock, out)
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
        asyncio.set_event_loop(None)
        logging.getLogger(LOGGER_NAME).removeHandler(handler)
        store.close()


def new_conversation(app: App) -> str:
    answer = app.run(app.client.post("/v1/conversations", json={"title": "t"}))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def metric(app: App, name: str, **labels: str) -> float:
    text = app.run(app.client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise AssertionError(f"no sample {name} {labels}")


def test_the_served_app_warms_up_before_it_freezes(tmp_path: Path) -> None:
    """In a fresh process (what a first turn loads is loaded once per process): turns
    through the app that `claudechat serve` builds leave next to nothing for a full
    collection to walk. Without the warm-up, the tokenizer's tables (some 70,000 dicts)
    and the SDK's pydantic schemas (some 10,000) were loaded by the first turn."""
    import subprocess
    import sys

    code = """
import asyncio, gc, sys
import httpx2
from claudechat.server.factory import app_from_env
app = app_from_env({"CLAUDECHAT_SERVE_STORE": sys.argv[1], "CLAUDECHAT_SERVE_AUTH": "none"})

async def turns():
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            cid = (await c.post("/v1/conversations", json={"title": "t"})).json()["id"]
            for n in range(2):
                body = {"content": f"question {n}", "stream": n == 1}
                r = await c.post(f"/v1/conversations/{cid}/messages", json=body)
                assert r.status_code == 200, r.text

asyncio.run(turns())
gc.collect()
print(len(gc.get_objects()))
"""
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}  # the emulator
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "chat.db")], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[-1]) < 8_000, out.stdout


def test_spend_limit_reached_refuses_before_the_store_and_the_model_until_the_next_day(
    app: App,
) -> None:
    cid = new_conversation(app)
    assert app.turn(cid).status_code == 200
    spent = app.store.spend_since(app.user_id, 0)
    assert spent > 0  # the exact cost was settled
    earlier = app.store.reserve_spend(app.user_id, 0.99, conversation_id=cid)
    app.store.settle_spend(earlier, 0.99)  # the day's earlier turns
    app.store.set_limits(app.user_id, Limits(usd_per_day=1.0))
    requests, stored = len(app.emulator.requests), len(app.store.all_messages(cid))
    refused = app.turn(cid, "one more")
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["type"] == "spend_limit" and "daily spend limit" in error["message"]
    assert "2026-05-21 00:00 UTC" in error["message"]
    assert len(app.emulator.requests) == requests  # nothing sent upstream
    assert len(app.store.all_messages(cid)) == stored  # nothing stored
    assert app.store.spend_since(app.user_id, 0) == pytest.approx(spent + 0.99)
    # A turn that cannot run is refused for what it is, not for the spend it would need.
    empty = new_conversation(app)
    nothing = app.run(app.client.post(f"/v1/conversations/{empty}/retry", json={}))
    assert nothing.status_code == 400 and "nothing to retry" in nothing.json()["error"]["message"]
    app.clock.now += 14 * 3600  # past midnight UTC
    assert app.turn(cid, "next day").status_code == 200


def test_usage_counts_the_services_turns_and_everything_billed_in_the_users_conversations(
    app: App,
) -> None:
    cid = new_conversation(app)
    served = app.turn(cid).json()["cost_usd"]
    assert served > 0
    # a turn sent by the library on the same store, into the same conversation
    library = Chat.resume(cid, store=app.store,
                          client=Anthropic(api_key="k", http_client=app.emulator.http_client()))  # fmt: skip
    direct = library.send("from the library").cost_usd
    assert direct is not None and direct > 0
    usage = app.run(app.client.get("/v1/usage")).json()
    assert usage["today_usd"] == pytest.approx(served)  # the spend the limits count
    assert usage["total_usd"] == pytest.approx(served)
    assert usage["conversations_usd"] == pytest.approx(served + direct)
    assert usage["conversations_usd"] == pytest.approx(
        app.run(app.client.get(f"/v1/conversations/{cid}/cost")).json()["cost_usd"]
    )


def test_concurrent_streams_limit_answers_429_naming_it(app: App) -> None:
    first, second = new_conversation(app), new_conversation(app)
    app.store.set_limits(app.user_id, Limits(concurrent_streams=1))
    app.store.claim_turn(first, "another-worker", ttl=60)  # a turn running elsewhere
    refused = app.turn(second)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limited"
    assert "1 of 1 concurrent streams" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"] == "2"  # when to ask again
    assert app.store.all_messages(second) == []
    app.store.release_turn(first, "another-worker")
    assert app.turn(second).status_code == 200


def test_metrics_count_the_turn_its_tokens_and_cost_and_the_requests(app: App) -> None:
    cid = new_conversation(app)
    reply = app.turn(cid).json()
    assert metric(app, "claudechat_turns_total", outcome="ok") == 1
    assert metric(app, "claudechat_tokens_total", kind="output") == reply["usage"]["output_tokens"]
    assert metric(app, "claudechat_cost_usd_total") == pytest.approx(reply["cost_usd"])
    assert metric(app, "claudechat_active_streams") == 0
    assert metric(app, "claudechat_http_requests_total", route="/v1/conversations/{cid}/messages",
                  method="POST", status="200") == 1  # fmt: skip
    assert app.run(app.client.get(f"/v1/conversations/{cid}/nothing")).status_code == 404
    assert metric(app, "claudechat_http_requests_total", route="unmatched", method="GET",
                  status="404") == 1  # fmt: skip


def test_metrics_time_each_turn_from_its_request_to_running_and_to_its_first_text(
    app: App,
) -> None:
    from claudechat.testing import Fault

    cid = new_conversation(app)
    before = time.perf_counter()
    assert app.turn(cid).status_code == 200
    elapsed = time.perf_counter() - before
    assert metric(app, "claudechat_turn_open_seconds_count") == 1
    assert metric(app, "claudechat_first_token_seconds_count") == 1
    opened = metric(app, "claudechat_turn_open_seconds_sum")
    first = metric(app, "claudechat_first_token_seconds_sum")
    assert 0 < opened < first < elapsed  # the same request's arrival, marked before its body
    app.store.claim_turn(cid, "another-worker", ttl=60)  # refused (409): neither is observed
    assert app.turn(cid).status_code == 409
    app.store.release_turn(cid, "another-worker")
    app.emulator.inject(Fault.status_error(500))  # failed before any text: opened only
    assert app.turn(cid).status_code == 502
    assert metric(app, "claudechat_turn_open_seconds_count") == 2
    assert metric(app, "claudechat_first_token_seconds_count") == 1
    assert metric(app, "claudechat_turn_open_seconds_bucket", le="+Inf") == 2


def test_the_request_log_names_the_user_and_never_a_key(app: App) -> None:
    cid = new_conversation(app)
    app.turn(cid)
    app.run(app.client.get("/v1/conversations", headers={"authorization": "Bearer wrong"}))
    lines = [json.loads(line) for line in app.log.getvalue().splitlines()]
    assert [(x["route"], x["status"], x["user_id"]) for x in lines] == [
        ("/v1/conversations", 201, app.user_id),
        ("/v1/conversations/{cid}/messages", 200, app.user_id),
        ("/v1/conversations", 401, None),
    ]
    text = app.log.getvalue()
    assert "upstream-secret-key-123" not in text and "cc_" not in text and "wrong" not in text


def test_the_served_app_leaves_start_up_out_of_the_collectors_way(tmp_path: Path) -> None:
    """A full collection under load walks only what the turns made: the app `claudechat
    serve` builds freezes what start-up made (an app built by create_app to be mounted in
    another does not touch the host's collector)."""
    from claudechat.server.factory import app_from_env

    env = {"CLAUDECHAT_SERVE_STORE": str(tmp_path / "chat.db"), "ANTHROPIC_API_KEY": "k"}
    gc.unfreeze()
    try:
        create_app(store=SQLiteStore(tmp_path / "mounted.db"), settings=ServerSettings())
        assert gc.get_freeze_count() == 0
        app_from_env(env)
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
        logging.getLogger(LOGGER_NAME).handlers.clear()


def test_a_warm_up_that_fails_is_logged_and_the_worker_starts_all_the_same(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import claudechat.testing
    from claudechat.server.chats import warm_up

    def broken(**_: Any) -> Any:
        raise RuntimeError("no emulator today")

    monkeypatch.setattr(claudechat.testing, "offline_client", broken)
    with caplog.at_level(logging.WARNING, logger="claudechat.server"):
        warm_up(ServerSettings())
    assert "the warm-up turn failed (RuntimeError: no emulator today)" in caplog.text
