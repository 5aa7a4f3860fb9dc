"""`claudechat emulate` under malformed, oversized, slow and endless input, over raw sockets."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from claudechat.testing import Emulator, EmulatorServer, serve
from claudechat.testing._server import KEEP_BYTES, KEEP_REQUESTS, run_server

SAFETY = 30.0  # a socket timeout so a regression fails instead of hanging the suite
GOOD = json.dumps(
    {
        "model": "claude-sonnet-4-6",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}],
    }
).encode()


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    running = serve(Emulator(), read_timeout=0.5, max_body=1024 * 1024)
    yield running
    running.shutdown()


def _exchange(server: EmulatorServer, data: bytes) -> bytes:
    """Send ``data`` on a new connection; everything the server sends until it closes."""
    with socket.create_connection((server.host, server.port), timeout=SAFETY) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _answer(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def _post(headers: str, body: bytes = b"") -> bytes:
    return (
        f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode()
        + body
    )


@pytest.mark.parametrize(
    "headers",
    [
        "Content-Length: -1\r\n",
        "Content-Length: abc\r\n",
        "Content-Length: \xb2\r\n",
        "",  # missing
        "Transfer-Encoding: chunked\r\n",
    ],
    ids=["negative", "letters", "superscript-digit", "missing", "chunked"],
)
def test_a_bad_content_length_is_a_400_in_the_apis_error_shape(
    server: EmulatorServer, headers: str
) -> None:
    status, body = _answer(_exchange(server, _post(headers, b"{}")))
    assert status == 400
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "Content-Length" in body["error"]["message"] or "Transfer" in body["error"]["message"]


def test_a_body_over_the_cap_is_a_413_request_too_large(server: EmulatorServer) -> None:
    status, body = _answer(_exchange(server, _post("Content-Length: 2000000\r\n")))
    assert status == 413
    assert body["error"]["type"] == "request_too_large"


@pytest.mark.parametrize("depth", [990, 100_000])
def test_deeply_nested_json_is_a_400_and_the_server_keeps_serving(
    server: EmulatorServer, depth: int
) -> None:
    nested = b'{"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": ' + b"[" * depth
    nested += b"]" * depth + b"}"
    status, body = _answer(_exchange(server, _post(f"Content-Length: {len(nested)}\r\n", nested)))
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    client = anthropic.Anthropic(api_key="t", base_url=server.url, max_retries=0)
    with client:
        reply = client.messages.create(
            model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
    assert reply.content[0].type == "text"


def test_a_half_sent_body_is_timed_out_with_a_408_and_closed(server: EmulatorServer) -> None:
    half = _post(f"Content-Length: {len(GOOD)}\r\n", GOOD[:10])
    with socket.create_connection((server.host, server.port), timeout=SAFETY) as sock:
        sock.sendall(half)  # and then nothing more: the server must not wait forever
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    status, body = _answer(raw)
    assert status == 408 and body["error"]["type"] == "timeout_error"


def test_many_stalled_clients_are_all_disconnected(server: EmulatorServer) -> None:
    socks = [
        socket.create_connection((server.host, server.port), timeout=SAFETY) for _ in range(20)
    ]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(
                b"POST /v1/messages HTTP/1.1\r\n" if i % 2 else _post("Content-Length: 99\r\n")
            )
        for sock in socks:
            while sock.recv(65536):  # the server closes each one (408, or nothing mid-headers)
                pass
    finally:
        for sock in socks:
            sock.close()
    assert _answer(_exchange(server, _post(f"Content-Length: {len(GOOD)}\r\n", GOOD)))[0] == 200


def test_the_server_behind_claudechat_emulate_keeps_a_bounded_request_log() -> None:
    stop = threading.Event()
    ready: list[EmulatorServer] = []
    started = threading.Event()

    def on_ready(running: EmulatorServer) -> None:
        ready.append(running)
        started.set()

    thread = threading.Thread(
        target=run_server, args=(0,), kwargs={"stop": stop, "on_ready": on_ready, "out": _Null()}
    )
    thread.start()
    try:
        assert started.wait(SAFETY)
        running = ready[0]
        big = b"x" * (1024 * 1024)  # not JSON: answered 400, recorded all the same
        for _ in range(KEEP_BYTES // len(big) + 4):
            assert (
                _answer(_exchange(running, _post(f"Content-Length: {len(big)}\r\n", big)))[0] == 400
            )
        kept = running.emulator.requests
        assert sum(len(r.raw) for r in kept) <= KEEP_BYTES
        assert kept[-1].number == KEEP_BYTES // len(big) + 4  # the newest are the ones kept
        for _ in range(KEEP_REQUESTS + 5):
            _exchange(running, _post(f"Content-Length: {len(GOOD)}\r\n", GOOD))
        assert len(running.emulator.requests) == KEEP_REQUESTS
    finally:
        stop.set()
        thread.join()


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def test_an_emulator_keeps_the_newest_requests_up_to_its_caps() -> None:
    emu = Emulator(keep_requests=3)
    client = anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=0)
    for i in range(10):
        client.messages.create(
            model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": f"{i}"}]
        )
    assert [r.number for r in emu.requests] == [8, 9, 10]
    assert [r.body["messages"][0]["content"] for r in emu.requests] == ["7", "8", "9"]
