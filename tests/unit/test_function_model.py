"""The test models shipped for users: the exact request reaches the test function; scripted
replies, tool rounds, streaming and the async twins behave like a real model."""

from __future__ import annotations

import asyncio

import pytest

from claudechat import AsyncChat, Chat, UserError
from claudechat.models.base import Request
from claudechat.store.memory import MemoryStore
from claudechat.testing import (
    AsyncScriptedModel,
    FunctionModel,
    ScriptedModel,
    count_tokens_text,
)


def test_the_function_sees_the_exact_request_a_chat_sends() -> None:
    seen: list[Request] = []

    def answer(request: Request) -> str:
        seen.append(request)
        return f"you said {request.messages[-1]['content'][0]['text']}"

    chat = Chat(FunctionModel(answer), system="Be brief.", store=MemoryStore())
    assert chat.send("hello").text == "you said hello"
    chat.send("again")
    assert seen[1].system[0]["text"] == "Be brief."
    assert [m["role"] for m in seen[1].messages] == ["user", "assistant", "user"]
    assert seen[1].messages[1]["content"][0]["text"] == "you said hello"


def test_usage_counts_tokens_by_the_emulator_rule() -> None:
    model = ScriptedModel(["four words of reply"])
    reply = Chat(model, store=MemoryStore()).send("hi")
    assert reply.usage.output_tokens == count_tokens_text("four words of reply", model.name)
    assert reply.usage.input_tokens == model.count_tokens(model.requests[0]) > 0


def test_a_scripted_model_runs_out_with_a_clear_error() -> None:
    chat = Chat(ScriptedModel(["only one"]), store=MemoryStore())
    chat.send("one")
    with pytest.raises(UserError, match="no reply left"):
        chat.send("two")


def test_a_tool_use_answer_runs_the_tool_and_continues() -> None:
    def weather(city: str) -> str:
        """Weather for a city."""
        return f"sunny in {city}"

    model = ScriptedModel(
        [
            [{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}}],
            "It is sunny.",
        ]
    )
    reply = Chat(model, tools=[weather], store=MemoryStore()).send("Weather?")
    assert reply.text == "It is sunny."
    result = model.requests[1].messages[-1]["content"][0]
    assert result["type"] == "tool_result" and "sunny in Oslo" in str(result["content"])


def test_streaming_yields_the_reply_in_pieces() -> None:
    chat = Chat(ScriptedModel(["one two three"]), store=MemoryStore())
    pieces = list(chat.stream("go"))
    assert pieces == ["one ", "two ", "three"]
    assert chat.last_reply is not None and chat.last_reply.text == "one two three"


def test_the_async_twin_answers_an_async_chat() -> None:
    async def run() -> str:
        chat = AsyncChat(AsyncScriptedModel(["async reply"]), store=MemoryStore())
        return (await chat.send("hi")).text

    assert asyncio.run(run()) == "async reply"
