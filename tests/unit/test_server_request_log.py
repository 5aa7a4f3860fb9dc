"""The request log: one JSON line per request, with an id, and no secret in it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import httpx2
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from prometheus_client.parser import text_string_to_metric_families

from claudechat.server.metrics import ServiceMetrics
from claudechat.server.request_log import LOGGER_NAME, RequestLog, log_to_stream

UPSTREAM_KEY = "sk-ant-api03-UPSTREAMSECRETdoNotLeak0123456789"
BEARER = "cc_0123abcd_ThisIsTheUsersSecretApiKeyValue0123456789ab"
COOKIE = "claudechat_session=SessionTokenSecretValue0123456789"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """The request log's lines as `claudechat serve` prints them; the logger restored after."""
    out = io.StringIO()
    logger = logging.getLogger(LOGGER_NAME)
    handler = log_to_stream(out)
    yield out
    logger.removeHandler(handler)
    logger.propagate, logger.level = True, logging.NOTSET


def make_app(metrics: ServiceMetrics) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/auth/login")
    async def login(request: Request) -> dict[str, str]:
        body = await request.json()
        request.state.user_id = body["username"]
        return {"ok": "yes"}

    @app.get("/v1/conversations/{cid}")
    async def conversation(cid: str, request: Request) -> dict[str, str]:
        request.state.user_id = "alice"
        return {"id": cid}

    @app.get("/v1/conversations/{cid}/stream")
    async def stream(cid: str) -> StreamingResponse:
        async def events() -> object:
            for n in range(3):
                yield f"id: {n}\ndata: {{}}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")  # type: ignore[arg-type]

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"upstream refused key {UPSTREAM_KEY}")

    app.add_middleware(RequestLog, metrics=metrics)
    return app


def drive(app: FastAPI) -> list[httpx2.Response]:
    async def run() -> list[httpx2.Response]:
        transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
        headers = {"authorization": f"Bearer {BEARER}", "cookie": COOKIE}
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as client:
            return [
                await client.post(
                    "/v1/auth/login",
                    json={"username": "bob", "password": PASSWORD},
                    headers={"x-request-id": "req-from-proxy.1"},
                ),
                await client.get("/v1/conversations/c123?q=" + PASSWORD.replace(" ", "+")),
                await client.get(
                    "/v1/conversations/c9/stream",
                    headers={"x-request-id": "bad id\twith tab " + BEARER},
                ),
                await client.get("/boom"),
                await client.get("/nowhere"),
            ]

    return asyncio.run(run())


def test_one_json_line_per_request_with_id_route_status_and_user(log_output: io.StringIO) -> None:
    metrics = ServiceMetrics()
    responses = drive(make_app(metrics))
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert [(x["method"], x["route"], x["status"], x["user_id"]) for x in lines] == [
        ("POST", "/v1/auth/login", 200, "bob"),
        ("GET", "/v1/conversations/{cid}", 200, "alice"),
        ("GET", "/v1/conversations/{cid}/stream", 200, None),
        ("GET", "/boom", 500, None),
        ("GET", "unmatched", 404, None),
    ]
    assert lines[0]["request_id"] == "req-from-proxy.1"
    assert lines[3]["error"] == "RuntimeError"
    ids = [x["request_id"] for x in lines]
    assert len(set(ids)) == 5 and all(x["duration_ms"] >= 0 for x in lines)
    assert [r.headers.get("x-request-id") for r in responses[:3]] == ids[:3]
    assert responses[2].text.count("id: ") == 3  # the stream passed through whole
    counted = {
        (s.labels["route"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(metrics.render()[0].decode())
        for s in family.samples
        if s.name == "claudechat_http_requests_total"
    }
    assert counted[("/v1/conversations/{cid}", "200")] == 1 and counted[("unmatched", "404")] == 1


def test_no_secret_reaches_any_log(
    log_output: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    logging.getLogger(LOGGER_NAME).propagate = True  # every server-side logger, caplog sees
    with caplog.at_level(logging.DEBUG):
        drive(make_app(ServiceMetrics()))
    server_side = [r for r in caplog.records if not r.name.startswith("httpx")]  # not the client
    text = log_output.getvalue() + "\n".join(r.getMessage() for r in server_side)
    assert text.count('"event":"request"') >= 5
    for secret in (
        UPSTREAM_KEY,
        BEARER,
        "SessionTokenSecretValue",
        PASSWORD,
        "horse",
        "Bearer",
        "claudechat_session",
    ):
        assert secret not in text
