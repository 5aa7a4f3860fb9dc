"""Injected faults surface as the SDK's own exceptions."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest

from claudechat.testing import Emulator, Fault

MODEL = "claude-opus-5"
ARGS: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hello there"}],
}


def make_client(emu: Emulator, retries: int = 0) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=retries)


def test_rate_limit_with_retry_after() -> None:
    emu = Emulator()
    emu.inject(Fault.status(429, retry_after=0))
    with pytest.raises(anthropic.RateLimitError) as caught:
        make_client(emu).messages.create(**ARGS)
    error = caught.value
    assert error.response.headers["retry-after"] == "0"
    assert error.type == "rate_limit_error" and error.request_id is not None
    assert make_client(emu).messages.create(**ARGS).content  # the fault was consumed


@pytest.mark.parametrize(
    ("status", "exception", "kind"),
    [
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
    ],
)
def test_status_faults(status: int, exception: type[anthropic.APIStatusError], kind: str) -> None:
    emu = Emulator()
    emu.inject(Fault.status(status))
    with pytest.raises(exception) as caught:
        make_client(emu).messages.create(**ARGS)
    assert caught.value.status_code == status and caught.value.type == kind
    assert isinstance(caught.value, anthropic.APIStatusError)


def test_sdk_retries_transient_faults_then_succeeds() -> None:
    emu = Emulator(script=["finally"])
    emu.inject(Fault.status(529, retry_after_ms=1))
    emu.inject(Fault.status(500, retry_after_ms=1))
    reply = make_client(emu, retries=2).messages.create(**ARGS)
    assert reply.content[0].text == "finally"  # type: ignore[union-attr]
    assert [r.headers["x-stainless-retry-count"] for r in emu.requests] == ["0", "1", "2"]


def test_spend_limit_is_not_retried() -> None:
    emu = Emulator()
    emu.inject(Fault.spend_limit())
    with pytest.raises(anthropic.RateLimitError) as caught:
        make_client(emu, retries=2).messages.create(**ARGS)
    assert caught.value.error_code == "enforced_spend_limit_reached"
    assert "retry-after" not in caught.value.response.headers
    assert len(emu.requests) == 1


def test_midstream_error_event() -> None:
    emu = Emulator(script=["many words in this reply so the stream has events"])
    emu.inject(Fault.midstream_error(after_events=4))
    seen = []
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        make_client(emu).messages.stream(**ARGS) as stream,
    ):
        for event in stream:
            seen.append(event.type)
    assert caught.value.status_code == 200
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert seen[:1] == ["message_start"] and "message_stop" not in seen


def test_dropped_stream_raises_the_transport_error_and_keeps_partial_text() -> None:
    emu = Emulator(script=["alpha beta gamma delta epsilon zeta eta theta"])
    emu.inject(Fault.drop(after_events=6))
    text = []
    with (
        pytest.raises(httpx2.RemoteProtocolError),
        make_client(emu).messages.stream(**ARGS) as stream,
    ):
        text.extend(stream.text_stream)
    assert "".join(text) == "alpha beta gamma "  # start, ping, block start, 3 deltas


def test_dropped_non_streaming_response_is_a_connection_error() -> None:
    emu = Emulator()
    emu.inject(Fault.drop(after_events=1))
    with pytest.raises(anthropic.APIConnectionError):
        make_client(emu).messages.create(**ARGS)


def test_garbage_body() -> None:
    emu = Emulator()
    emu.inject(Fault.garbage())
    with pytest.raises(json.JSONDecodeError):
        make_client(emu).messages.create(**ARGS)
    emu.inject(Fault.garbage())
    with (
        pytest.raises(AssertionError),  # the SDK's stream saw no message_start
        make_client(emu).messages.stream(**ARGS) as stream,
    ):
        stream.get_final_message()


def test_faults_keyed_by_request_number() -> None:
    emu = Emulator()
    emu.inject(Fault.status(500), at_request=2)
    client = make_client(emu)
    client.messages.create(**ARGS)
    with pytest.raises(anthropic.InternalServerError):
        client.messages.create(**ARGS)
    client.messages.create(**ARGS)


def test_cleared_faults_are_never_served() -> None:
    emu = Emulator(script=["fine"])
    emu.inject(Fault.status(500))
    emu.inject(Fault.status(529), at_request=7)
    emu.clear_faults()
    reply = make_client(emu).messages.create(**ARGS)
    assert reply.content[0].text == "fine"  # type: ignore[union-attr]
