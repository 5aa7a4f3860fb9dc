"""Every failure has one shape, ``{"error": {"type", "message"}}``, with its status."""

from __future__ import annotations

import socket

from service import Service


def _error(response: object) -> tuple[int, str, str]:
    status = response.status_code  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    return status, error["type"], error["message"]


def test_unknown_route_and_method(local_service: Service) -> None:
    with local_service.client() as c:
        assert _error(c.get("/v1/nothing"))[:2] == (404, "not_found")
        assert _error(c.put("/v1/conversations", json={}))[:2] == (405, "method_not_allowed")


def test_invalid_json_and_missing_field_name_the_problem(local_service: Service) -> None:
    with local_service.client() as c:
        cid = c.post("/v1/conversations", json={}).json()["id"]
        status, kind, message = _error(c.post(f"/v1/conversations/{cid}/messages", json={}))
        assert (status, kind) == (422, "validation_error") and "content" in message
        bad = c.post(f"/v1/conversations/{cid}/messages", content=b"{not json",
                     headers={"content-type": "application/json"})  # fmt: skip
        assert _error(bad)[:2] == (422, "validation_error")
        typo = c.post(f"/v1/conversations/{cid}/messages", json={"content": "x", "strem": 1})
        status, kind, message = _error(typo)
        assert (status, kind) == (422, "validation_error") and "strem" in message
        assert c.get(f"/v1/conversations/{cid}/messages").json()["data"] == []


def test_text_no_store_could_keep_and_a_non_boolean_stream_are_422(
    local_service: Service,
) -> None:
    """A lone surrogate (valid JSON, not valid Unicode) or a NUL is named before anything is
    stored; the connection stays usable. ``stream`` takes true or false only."""
    with local_service.client() as c:
        cid = c.post("/v1/conversations", json={}).json()["id"]
        url = f"/v1/conversations/{cid}/messages"
        lone = c.post(url, content=b'{"content": "hi \\ud800"}',
                      headers={"content-type": "application/json"})  # fmt: skip
        status, kind, message = _error(lone)
        assert (status, kind) == (422, "validation_error"), message
        assert "content" in message and "lone surrogate" in message
        blocks = {"content": [{"type": "text", "text": "a\x00b"}]}
        status, kind, message = _error(c.post(url, json=blocks))
        assert (status, kind) == (422, "validation_error") and "NUL" in message
        for loose in ("yes", 1):
            status, kind, message = _error(c.post(url, json={"content": "x", "stream": loose}))
            assert (status, kind) == (422, "validation_error") and "stream" in message
        assert c.get(url).json()["data"] == []


def test_a_body_over_the_limit_is_413(local_service: Service) -> None:
    with local_service.client() as c:
        cid = c.post("/v1/conversations", json={}).json()["id"]
        big = {"content": "x" * 1_100_000}
        status, kind, _ = _error(c.post(f"/v1/conversations/{cid}/messages", json=big))
        assert (status, kind) == (413, "payload_too_large")
        assert c.get(f"/v1/conversations/{cid}/messages").json()["data"] == []


def test_a_large_body_is_refused_before_it_is_sent_whole(local_service: Service) -> None:
    """A Content-Length over the limit is answered at once: the server reads no body."""
    host, port = local_service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"POST /v1/conversations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{")  # fmt: skip
        received = b""
        while b"payload_too_large" not in received and (chunk := s.recv(65536)):
            received += chunk
        answer = received.decode()
    assert answer.startswith("HTTP/1.1 413") and "payload_too_large" in answer


def test_a_prompt_over_the_budget_is_400_and_nothing_is_stored(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from service import start_service

    service = start_service(tmp_path / "b.db", auth_mode="none", budget=2000)
    try:
        with service.client() as c:
            cid = c.post("/v1/conversations", json={}).json()["id"]
            r = c.post(f"/v1/conversations/{cid}/messages",
                       json={"content": "word " * 5000, "stream": False})  # fmt: skip
            status, kind, message = _error(r)
            assert (status, kind) == (400, "invalid_request") and "budget" in message
            assert c.get(f"/v1/conversations/{cid}/messages").json()["data"] == []
            assert service.emulator.requests == []
    finally:
        service.stop()


def test_a_chunked_body_over_the_limit_is_413(local_service: Service) -> None:
    """Without a Content-Length, the body is counted as it arrives."""
    host, port = local_service.url.removeprefix("http://").split(":")
    chunk = b"x" * 65536
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"POST /v1/conversations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        received = b""
        for _ in range(40):  # 2.6 MB offered; the answer comes after about 1 MB
            try:
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                break  # the server answered and closed the connection
        while b"payload_too_large" not in received and (data := s.recv(65536)):
            received += data
    assert received.startswith(b"HTTP/1.1 413") and b"payload_too_large" in received
