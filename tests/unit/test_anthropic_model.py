"""AnthropicModel: requests in, claudechat types out, SDK errors mapped (never leaked)."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import httpx2
import pytest

from claudechat import (
    AuthError,
    BadResponse,
    ContextOverflow,
    ModelError,
    Overloaded,
    RateLimited,
    StreamInterrupted,
)
from claudechat.models.anthropic import AnthropicModel, AsyncAnthropicModel, map_error
from claudechat.models.base import Done, Request, TextDelta, ThinkingDelta
from claudechat.testing import Emulator, Fault

MODEL = "claude-sonnet-4-6"
_REQUEST = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")


def status_error(
    status: int,
    error_type: str,
    message: str,
    headers: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> anthropic.APIStatusError:
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type, "message": message}}
    if details:
        body["error"]["details"] = details
    response = httpx2.Response(
        status,
        headers={"request-id": "req_123", **(headers or {})},
        json=body,
        request=_REQUEST,
    )
    return anthropic.APIStatusError(message, response=response, body=body)


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (401, "authentication_error", AuthError),
        (403, "permission_error", AuthError),
        (429, "rate_limit_error", RateLimited),
        (529, "overloaded_error", Overloaded),
        (500, "api_error", ModelError),
        (402, "billing_error", ModelError),
        (404, "not_found_error", ModelError),
        (413, "request_too_large", ContextOverflow),
        (200, "overloaded_error", Overloaded),  # the SDK's status for a mid-stream error event
    ],
)
def test_status_errors_map_to_their_claudechat_type(
    status: int, error_type: str, expected: type[Exception]
) -> None:
    err = map_error(status_error(status, error_type, "boom"))
    assert type(err) is expected
    assert isinstance(err, ModelError)
    assert err.status == status and err.request_id == "req_123" and err.error_type == error_type
    assert "boom" in str(err) and "req_123" in str(err)


def test_prompt_too_long_is_a_context_overflow_with_sizes() -> None:
    err = map_error(
        status_error(
            400, "invalid_request_error", "prompt is too long: 200082 tokens > 200000 maximum"
        )
    )
    assert isinstance(err, ContextOverflow)
    assert (err.tokens, err.limit, err.status) == (200082, 200000, 400)


def test_other_bad_requests_stay_model_errors() -> None:
    err = map_error(status_error(400, "invalid_request_error", "messages: roles must alternate"))
    assert type(err) is ModelError and err.status == 400


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "1"}, 0.25),  # the precise one wins
        ({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
        ({}, None),
    ],
)
def test_rate_limits_carry_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    err = map_error(status_error(429, "rate_limit_error", "slow down", headers))
    assert isinstance(err, RateLimited)
    assert err.retry_after == seconds


def test_connection_and_validation_errors() -> None:
    conn = map_error(anthropic.APIConnectionError(request=_REQUEST))
    assert type(conn) is ModelError and conn.status is None
    bad = map_error(
        anthropic.APIResponseValidationError(
            httpx2.Response(200, request=_REQUEST, content=b"{}"), body={}
        )
    )
    assert isinstance(bad, BadResponse)


def test_non_sdk_errors_pass_through_unchanged() -> None:
    err = KeyError("x")
    assert map_error(err) is err


# --- through the SDK and the emulator ---------------------------------------------------


def _model(emu: Emulator) -> AnthropicModel:
    return AnthropicModel(
        MODEL,
        client=anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=0),
    )


def _request(text: str = "hi", **kw: Any) -> Request:
    return Request(
        model=MODEL,
        max_tokens=kw.pop("max_tokens", 100),
        messages=[{"role": "user", "content": [{"type": "text", "text": text}]}],
        **kw,
    )


def test_create_returns_content_usage_and_ids() -> None:
    emu = Emulator(script=["Hello there"])
    response = _model(emu).create(_request())
    assert response.content == [{"type": "text", "text": "Hello there"}]
    assert response.stop_reason == "end_turn"
    assert response.id == "msg_emu_000000000001" and response.model == MODEL
    assert response.usage.requests == 1 and response.usage.input_tokens > 0


def test_stream_yields_text_then_done_and_thinking_deltas() -> None:
    emu = Emulator(
        script=[[{"type": "thinking", "thinking": "hmm ok"}, {"type": "text", "text": "a b c"}]]
    )
    events = list(
        _model(emu).stream(
            _request(thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2048)
        )
    )
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["a ", "b ", "c"]
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "hmm ok"
    done = events[-1]
    assert isinstance(done, Done)
    assert [b["type"] for b in done.response.content] == ["thinking", "text"]
    assert done.response.content[0]["signature"].startswith("EmuSig")


def test_a_cut_stream_raises_stream_interrupted_with_the_partial_reply() -> None:
    emu = Emulator(script=["one two three four five six"])
    emu.inject(Fault.drop(after_events=5))
    seen: list[str] = []
    with pytest.raises(StreamInterrupted) as info:
        for event in _model(emu).stream(_request()):
            if isinstance(event, TextDelta):
                seen.append(event.text)
    partial = info.value.partial
    assert partial is not None
    assert partial.content == [{"type": "text", "text": "".join(seen)}]
    assert partial.usage.input_tokens > 0  # billed: kept for the ledger
    assert isinstance(info.value.__cause__, Exception)


def test_diagnostics_and_temperature_travel_in_the_body() -> None:
    emu = Emulator()
    _model(emu).create(_request(diagnostics={"previous_message_id": "msg_x"}, temperature=0.5))
    body = emu.requests[0].body
    assert body["diagnostics"] == {"previous_message_id": "msg_x"}
    assert body["temperature"] == 0.5


def test_context_management_goes_through_the_beta_endpoint() -> None:
    emu = Emulator()
    edits = {"edits": [{"type": "clear_tool_uses_20250919"}]}
    _model(emu).create(_request(context_management=edits, betas=["context-management-2025-06-27"]))
    recorded = emu.requests[0]
    assert "context-management-2025-06-27" in recorded.headers["anthropic-beta"]
    assert recorded.body["context_management"] == edits


def test_count_tokens_matches_the_usage_of_the_same_request() -> None:
    emu = Emulator()
    model = _model(emu)
    request = _request("count these words please")
    assert model.count_tokens(request) == model.create(request).usage.input_tokens


def test_sdk_errors_never_leak() -> None:
    emu = Emulator()
    emu.inject(Fault.status(529))
    with pytest.raises(Overloaded) as info:
        _model(emu).create(_request())
    assert isinstance(info.value.__cause__, anthropic.APIStatusError)
    emu.inject(Fault.garbage())
    with pytest.raises(BadResponse):
        _model(emu).create(_request())
    emu.inject(Fault.garbage())
    with pytest.raises(BadResponse):
        list(_model(emu).stream(_request()))


def test_a_built_client_honours_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-from-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/prefix")
    model = AnthropicModel(MODEL)
    assert model.client.api_key == "sk-from-env"
    assert str(model.client.base_url).startswith("http://127.0.0.1:9/prefix")
    explicit = AnthropicModel(MODEL, api_key="sk-given", base_url="http://localhost:1")
    assert explicit.client.api_key == "sk-given"
    assert str(explicit.client.base_url).startswith("http://localhost:1")


def test_the_async_model_creates_streams_and_maps_errors() -> None:
    async def run() -> None:
        emu = Emulator(script=["async hello", "x y z"])
        model = AsyncAnthropicModel(
            MODEL,
            client=anthropic.AsyncAnthropic(
                api_key="t", http_client=emu.async_http_client(), max_retries=0
            ),
        )
        assert (await model.create(_request())).content[0]["text"] == "async hello"
        events = [e async for e in model.stream(_request())]
        assert [e.text for e in events if isinstance(e, TextDelta)] == ["x ", "y ", "z"]
        assert await model.count_tokens(_request()) > 0
        emu.inject(Fault.status(429, retry_after=2))
        with pytest.raises(RateLimited) as info:
            await model.create(_request())
        assert info.value.retry_after == 2.0

    asyncio.run(run())


@pytest.mark.parametrize(
    "block",
    [
        anthropic.types.TextBlock(type="text", text="plain", citations=None),
        anthropic.types.beta.BetaTextBlock(type="text", text="plain beta", citations=None),
        anthropic.types.TextBlock(
            type="text",
            text="cited",
            citations=[
                {
                    "type": "char_location",
                    "cited_text": "c",
                    "document_index": 0,
                    "document_title": None,
                    "start_char_index": 0,
                    "end_char_index": 1,
                }
            ],
        ),
        anthropic.types.TextBlock.model_validate(
            {"type": "text", "text": "new field", "future_field": {"a": 1}}
        ),
        anthropic.types.ToolUseBlock(
            type="tool_use", id="toolu_1", name="f", input={"b": 1, "a": 2}
        ),
        anthropic.types.ThinkingBlock(type="thinking", thinking="hm", signature="sig"),
    ],
)
def test_response_blocks_are_exactly_what_the_sdk_dumps(block: Any) -> None:
    from claudechat.models.anthropic import _block_dict

    expected = block.model_dump(mode="json", exclude_none=True)
    got = _block_dict(block)
    assert got == expected
    assert list(got) == list(expected)  # key order too: stored content is compared as JSON
