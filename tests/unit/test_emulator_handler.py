"""The transport-independent handler: raw SSE framing, headers and error bodies."""

from __future__ import annotations

import json

from claudechat.testing import Emulator

BODY = {"model": "claude-opus-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


def post(emu: Emulator, path: str, body: object) -> tuple[int, dict[str, str], bytes]:
    answer = emu.handle("POST", path, {"x-api-key": "k"}, json.dumps(body).encode())
    raw = answer.body if isinstance(answer.body, bytes) else b"".join(answer.body)
    return answer.status, answer.headers, raw


def test_stream_is_framed_as_server_sent_events() -> None:
    status, headers, raw = post(Emulator(script=["a b"]), "/v1/messages", {**BODY, "stream": True})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    frames = raw.decode().split("\n\n")
    assert frames[-1] == ""
    names = [f.split("\n")[0] for f in frames[:-1]]
    assert names[:2] == ["event: message_start", "event: ping"]
    assert names[-2:] == ["event: message_delta", "event: message_stop"]
    for chunk in frames[:-1]:
        event, data = chunk.split("\n")
        assert data.startswith("data: ")
        assert json.loads(data[6:])["type"] == event.removeprefix("event: ")
    assert names.count("event: content_block_delta") == 2


def test_every_response_carries_a_request_id() -> None:
    emu = Emulator()
    ok = post(emu, "/v1/messages", BODY)
    bad = post(emu, "/v1/messages", {**BODY, "messages": []})
    missing = emu.handle("GET", "/v1/nowhere", {}, b"")
    assert ok[1]["request-id"] != bad[1]["request-id"]
    assert missing.status == 404 and missing.headers["request-id"].startswith("req_")
    assert missing.json() == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "Not found: GET /v1/nowhere"},
        "request_id": missing.headers["request-id"],
    }
    assert bad[0] == 400 and json.loads(bad[2])["request_id"] == bad[1]["request-id"]


def test_unparseable_body_and_beta_query() -> None:
    emu = Emulator()
    answer = emu.handle("POST", "/v1/messages?beta=true", {}, b"{not json")
    assert answer.status == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert emu.requests[-1].query == {"beta": "true"} and emu.requests[-1].path == "/v1/messages"


def test_replies_are_deterministic_across_emulators() -> None:
    first = post(Emulator(), "/v1/messages", {**BODY, "thinking": {"type": "adaptive"}})[2]
    second = post(Emulator(), "/v1/messages", {**BODY, "thinking": {"type": "adaptive"}})[2]
    assert first == second


def test_the_transport_hands_each_request_to_any_handler() -> None:
    import httpx2

    from claudechat.testing import EmulatorTransport, EmuResponse

    seen: list[tuple[str, str, bytes]] = []

    def handler(method: str, target: str, headers: dict[str, str], body: bytes) -> EmuResponse:
        seen.append((method, target, body))
        return EmuResponse(201, {"content-type": "text/plain"}, iter([b"one ", b"two"]))

    with httpx2.Client(transport=EmulatorTransport(handler), base_url="http://emu") as client:
        answer = client.post("/v1/anything?beta=true", content=b"ping")
    assert (answer.status_code, answer.text) == (201, "one two")
    assert seen == [("POST", "/v1/anything?beta=true", b"ping")]
