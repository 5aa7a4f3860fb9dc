"""The emulator as a loopback HTTP server, driven by the SDK through `base_url`."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest

from claudechat.testing import Emulator, EmulatorServer, Fault, serve
from claudechat.testing._server import run_server

MODEL = "claude-opus-5"
ARGS: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hello over http"}],
}


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    running = serve(Emulator(script=["one two three four five six seven"]), port=0)
    yield running
    running.shutdown()


def make_client(server: EmulatorServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="t", base_url=server.url, max_retries=0)


def test_create_stream_and_count_over_http(server: EmulatorServer) -> None:
    assert server.url.startswith("http://127.0.0.1:") and server.port > 0
    with make_client(server) as client:
        made = client.messages.create(**ARGS)
        assert made.content[0].text == "one two three four five six seven"  # type: ignore[union-attr]
        with client.messages.stream(**ARGS) as stream:
            pieces = list(stream.text_stream)
        assert len(pieces) > 3 and "".join(pieces).startswith("Emulator reply #2")
        counted = client.messages.count_tokens(model=MODEL, messages=ARGS["messages"])
        assert counted.input_tokens == made.usage.input_tokens
    assert [r.path for r in server.emulator.requests] == [
        "/v1/messages",
        "/v1/messages",
        "/v1/messages/count_tokens",
    ]


def test_errors_and_faults_over_http(server: EmulatorServer) -> None:
    with make_client(server) as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            client.messages.create(model=MODEL, max_tokens=5, messages=[])
        assert caught.value.request_id is not None
        server.emulator.inject(Fault.status(529))
        with pytest.raises(anthropic.OverloadedError):
            client.messages.create(**ARGS)
        server.emulator.inject(Fault.drop(after_events=5))
        with pytest.raises(httpx2.RemoteProtocolError), client.messages.stream(**ARGS) as stream:
            stream.get_final_message()
        server.emulator.inject(Fault.drop(after_events=1))
        with pytest.raises(anthropic.APIConnectionError):
            client.messages.create(**ARGS)
        assert client.messages.create(**ARGS).content  # the server survived the drops


def test_async_client_over_http(server: EmulatorServer) -> None:
    async def run() -> str:
        client = anthropic.AsyncAnthropic(api_key="t", base_url=server.url, max_retries=0)
        async with client, client.messages.stream(**ARGS) as stream:
            return "".join([piece async for piece in stream.text_stream])

    assert asyncio.run(run()) == "one two three four five six seven"


def test_run_server_serves_until_stopped() -> None:
    out = io.StringIO()
    stop = threading.Event()
    replies: list[str] = []

    def use_it(running: EmulatorServer) -> None:
        with make_client(running) as client:
            replies.append(client.messages.create(**ARGS).content[0].text)  # type: ignore[union-attr]
        stop.set()

    run_server(0, out=out, stop=stop, on_ready=use_it, script=["served"])
    assert replies == ["served"]
    assert "claudechat emulator listening on http://127.0.0.1:" in out.getvalue()


def test_token_delay_waits_before_each_streamed_piece() -> None:
    waits: list[float] = []
    words = "one two three four five six seven"
    running = serve(Emulator(script=[words, words]), token_delay=0.02, sleep=waits.append)
    try:
        with make_client(running) as client:
            client.messages.create(**ARGS)
            assert waits == []  # a reply that is not streamed arrives at once
            with client.messages.stream(**ARGS) as stream:
                pieces = list(stream.text_stream)
    finally:
        running.shutdown()
    assert "".join(pieces) == words
    assert waits == [0.02] * len(pieces)


def test_token_delay_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="token_delay"):
        serve(Emulator(), token_delay=-1)
