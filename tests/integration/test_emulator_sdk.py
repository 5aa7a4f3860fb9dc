"""The emulator driven through the real anthropic SDK: replies, streaming, counting, models."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest
from chats import PREFILL_MODELS

from claudechat.testing import Emulator, EmuReply, EmuRequest, count_tokens_text

MODEL = "claude-opus-5"


def make_client(emu: Emulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test", http_client=emu.http_client(), max_retries=0)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(message: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": [block.to_dict() for block in message.content]}


def test_default_reply_says_what_it_received() -> None:
    emu = Emulator()
    client = make_client(emu)
    first = client.messages.create(model=MODEL, max_tokens=200, messages=[user("Hi there")])
    messages = [user("Hi there"), assistant(first), user("And now?")]
    reply = client.messages.create(model=MODEL, max_tokens=200, messages=messages)
    text = reply.content[0].text  # type: ignore[union-attr]
    total = emu.count_request_tokens({"model": MODEL, "messages": messages})
    assert text == (
        f"Emulator reply #2: received 3 messages (2 turns), {total} input tokens. "
        'You said: "And now?"'
    )
    assert reply.id.startswith("msg_") and reply.stop_reason == "end_turn"
    assert reply.usage.input_tokens == total
    assert reply.usage.output_tokens == count_tokens_text(text, MODEL)


def test_requests_are_recorded_with_path_headers_and_body() -> None:
    emu = Emulator()
    make_client(emu).messages.create(model=MODEL, max_tokens=10, messages=[user("x")])
    recorded = emu.requests[-1]
    assert recorded.method == "POST" and recorded.path == "/v1/messages"
    assert recorded.headers["authorization"] == "Bearer test"
    assert recorded.body["messages"] == [user("x")]


def test_stream_yields_word_sized_text_deltas_and_the_same_message() -> None:
    emu = Emulator(script=["one two three four five six"])
    client = make_client(emu)
    with client.messages.stream(model=MODEL, max_tokens=100, messages=[user("go")]) as stream:
        deltas = [e.delta.text for e in stream if e.type == "content_block_delta"]  # type: ignore[union-attr]
        final = stream.get_final_message()
    assert deltas == ["one ", "two ", "three ", "four ", "five ", "six"]
    assert final.content[0].text == "one two three four five six"  # type: ignore[union-attr]
    assert final.usage.input_tokens > 0 and final.usage.output_tokens == 6 * 13 // 10 + 1


def test_stream_raw_frames_follow_the_api_order() -> None:
    emu = Emulator(script=[[{"type": "text", "text": "ok"}, {"type": "tool_use", "name": "f"}]])
    client = make_client(emu)
    events = list(
        client.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=[user("go")],
            stream=True,
            tools=[{"name": "f", "input_schema": {"type": "object"}}],
        )
    )
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert events[0].message.usage.output_tokens == 1  # type: ignore[union-attr]
    assert kinds.count("content_block_start") == 2 == kinds.count("content_block_stop")
    assert events[-2].delta.stop_reason == "tool_use"  # type: ignore[union-attr]


def test_script_items_then_default() -> None:
    emu = Emulator(script=["first", EmuReply("second", stop_reason="refusal")])
    client = make_client(emu)
    texts = []
    for _ in range(3):
        reply = client.messages.create(model=MODEL, max_tokens=100, messages=[user("q")])
        texts.append((reply.content[0].text, reply.stop_reason))  # type: ignore[union-attr]
    assert texts[:2] == [("first", "end_turn"), ("second", "refusal")]
    assert texts[2][0].startswith("Emulator reply #3")


def test_reply_function_sees_the_request_and_tool_use_round_trips() -> None:
    seen: list[EmuRequest] = []

    def reply(request: EmuRequest) -> list[dict[str, Any]] | str:
        seen.append(request)
        if isinstance(request.messages[-1]["content"], list):
            return "The weather is sunny."
        return [{"type": "tool_use", "name": "weather", "input": {"city": "Paris"}}]

    emu = Emulator(reply=reply)
    client = make_client(emu)
    tools = [{"name": "weather", "input_schema": {"type": "object"}}]
    first = client.messages.create(
        model=MODEL, max_tokens=100, tools=tools, system="Be brief.", messages=[user("Paris?")]
    )
    assert first.stop_reason == "tool_use"
    use = first.content[0]
    assert use.type == "tool_use" and use.input == {"city": "Paris"} and use.id.startswith("toolu_")
    second = client.messages.create(
        model=MODEL,
        max_tokens=100,
        tools=tools,
        system="Be brief.",
        messages=[
            user("Paris?"),
            assistant(first),
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sun"}],
            },
        ],
    )
    assert second.content[0].text == "The weather is sunny."  # type: ignore[union-attr]
    assert seen[0].last_user_text == "Paris?" and seen[0].tools[0]["name"] == "weather"
    assert seen[0].system == [{"type": "text", "text": "Be brief."}]
    assert seen[1].input_tokens == second.usage.input_tokens


def test_streamed_tool_use_input_is_reassembled() -> None:
    big = {"query": "a fairly long query string", "limit": 10, "nested": {"k": [1, 2, 3]}}
    emu = Emulator(script=[[{"type": "tool_use", "id": "toolu_1", "name": "search", "input": big}]])
    with make_client(emu).messages.stream(
        model=MODEL,
        max_tokens=500,
        messages=[user("s")],
        tools=[{"name": "search", "input_schema": {"type": "object"}}],
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].input == big  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"


def test_thinking_block_is_signed_and_round_trips() -> None:
    emu = Emulator()
    client = make_client(emu)
    kwargs: Any = {"model": MODEL, "max_tokens": 2000, "thinking": {"type": "adaptive"}}
    with client.messages.stream(messages=[user("think")], **kwargs) as stream:
        first = stream.get_final_message()
    assert [b.type for b in first.content] == ["thinking", "text"]
    history = [user("think"), assistant(first), user("again")]
    again = client.messages.create(messages=history, **kwargs)
    assert again.content[0].type == "thinking"
    content = assistant(first)["content"]
    content[0]["thinking"] += " (edited)"
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature` in `thinking` block"):
        client.messages.create(
            messages=[user("think"), {"role": "assistant", "content": content}, user("x")], **kwargs
        )


def test_max_tokens_truncates_and_zero_prewarms() -> None:
    emu = Emulator(script=["alpha beta gamma delta epsilon"])
    client = make_client(emu)
    cut = client.messages.create(model="claude-haiku-4-5", max_tokens=3, messages=[user("q")])
    assert cut.content[0].text == "alpha beta gamma"  # type: ignore[union-attr]
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 3
    warm = client.messages.create(model=MODEL, max_tokens=0, messages=[user("q")])
    assert warm.content == [] and warm.usage.output_tokens == 0


def test_stop_sequences() -> None:
    emu = Emulator(script=["keep this STOP drop that"])
    reply = make_client(emu).messages.create(
        model=MODEL, max_tokens=100, messages=[user("q")], stop_sequences=["STOP"]
    )
    assert reply.content[0].text == "keep this "  # type: ignore[union-attr]
    assert (reply.stop_reason, reply.stop_sequence) == ("stop_sequence", "STOP")


def test_prefill_is_continued_on_older_models() -> None:
    emu = Emulator(reply=lambda r: f"continuing after {r.prefill!r}")
    reply = make_client(emu).messages.create(
        model=PREFILL_MODELS[0],
        max_tokens=100,
        messages=[user("Pick A or B"), {"role": "assistant", "content": "The answer is ("}],
    )
    assert reply.content[0].text == "continuing after 'The answer is ('"  # type: ignore[union-attr]


def test_count_tokens_matches_usage_and_models_retrieve() -> None:
    emu = Emulator()
    client = make_client(emu)
    messages = [user("How many tokens is this?")]
    counted = client.messages.count_tokens(model=MODEL, messages=messages, system="sys")
    created = client.messages.create(model=MODEL, max_tokens=5, messages=messages, system="sys")
    assert counted.input_tokens == created.usage.input_tokens
    assert client.models.retrieve("claude-opus-5").max_input_tokens == 1_000_000
    assert client.models.retrieve("claude-sonnet-4-6").max_input_tokens == 1_000_000
    assert client.models.retrieve("claude-haiku-4-5").max_input_tokens == 200_000
    assert client.models.retrieve("some-unknown-model").max_input_tokens == 200_000
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.get("/v1/nothing/here", cast_to=object)
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert caught.value.request_id and caught.value.request_id.startswith("req_")


def test_async_client_create_and_stream() -> None:
    async def run() -> tuple[str, str]:
        emu = Emulator(script=["async one", "async two"])
        async with anthropic.AsyncAnthropic(
            api_key="t", http_client=emu.async_http_client(), max_retries=0
        ) as client:
            made = await client.messages.create(model=MODEL, max_tokens=50, messages=[user("a")])
            async with client.messages.stream(
                model=MODEL, max_tokens=50, messages=[user("b")]
            ) as stream:
                final = await stream.get_final_message()
        return made.content[0].text, final.content[0].text  # type: ignore[union-attr]

    assert asyncio.run(run()) == ("async one", "async two")


def test_beta_path_is_served() -> None:
    emu = Emulator(script=["beta!"])
    client = make_client(emu)
    reply = client.beta.messages.create(
        model=MODEL, max_tokens=50, messages=[user("b")], betas=["context-management-2025-06-27"]
    )
    assert reply.content[0].text == "beta!"  # type: ignore[union-attr]
    assert "context-management-2025-06-27" in emu.requests[-1].headers["anthropic-beta"]
