"""AsyncChat through the async SDK client and the emulator: send, stream, tools, faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from chats import HAIKU, assert_valid_request, message_requests

from claudechat import AsyncChat, Overloaded, StreamInterrupted, validate
from claudechat.testing import Emulator, EmuRequest, Fault


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def fetch(url: str) -> dict[str, Any]:
    """Fetch a page (a coroutine tool)."""
    await asyncio.sleep(0)
    return {"url": url, "status": 200}


async def broken(x: int) -> str:
    """An async tool that fails."""
    await asyncio.sleep(0)
    raise LookupError(f"nothing at {x}")


def model(request: EmuRequest) -> Any:
    last = request.messages[-1]["content"]
    results = [b for b in last if isinstance(b, dict) and b.get("type") == "tool_result"]
    if results:
        return "Got: " + json.dumps([[r["content"], bool(r.get("is_error"))] for r in results])
    if "tools" in request.last_user_text:
        return [
            {"type": "tool_use", "name": "add", "input": {"a": 2, "b": 3}},
            {"type": "tool_use", "name": "fetch", "input": {"url": "https://example.org"}},
            {"type": "tool_use", "name": "broken", "input": {"x": 7}},
        ]
    return f"Async answer to {request.last_user_text}"


TOOLS = [add, fetch, broken]


def test_send_stream_and_tools(make_async_chat: Callable[..., AsyncChat]) -> None:
    async def run() -> None:
        emu = Emulator(reply=model)
        chat = make_async_chat(emu, tools=TOOLS)
        reply = await chat.send("hello")
        assert reply.text == "Async answer to hello"
        pieces = [p async for p in chat.stream("streaming")]
        assert "".join(pieces) == "Async answer to streaming" and len(pieces) > 1
        assert chat.last_reply is not None and chat.last_reply.text == "".join(pieces)
        tool_reply = await chat.send("use the tools")
        got = json.loads(tool_reply.text.removeprefix("Got: "))
        assert got[0] == ["5", False]
        assert json.loads(got[1][0]) == {"url": "https://example.org", "status": 200}
        assert got[2] == ["LookupError: nothing at 7", True]
        for r in message_requests(emu):
            assert_valid_request(r)
        validate(chat.messages)
        assert chat.usage == chat.stored_usage()
        assert chat.usage.requests == 4

    asyncio.run(run())


def test_a_fault_then_the_conversation_goes_on(
    make_async_chat: Callable[..., AsyncChat],
) -> None:
    async def run() -> None:
        emu = Emulator(reply=model)
        chat = make_async_chat(emu, tools=TOOLS)
        await chat.send("one")
        emu.inject(Fault.status(529))
        with pytest.raises(Overloaded) as info:
            await chat.send("two")
        assert info.value.status == 529
        emu.inject(Fault.drop(after_events=5))
        shown = []
        with pytest.raises(StreamInterrupted):
            async for piece in chat.stream("three"):
                shown.append(piece)
        assert chat.history[-1].status == "partial"
        assert chat.history[-1].text == "".join(shown) != ""
        reply = await chat.send("four")
        assert reply.text == "Async answer to four"
        last = message_requests(emu)[-1]
        assert_valid_request(last)
        users = [
            b["text"]
            for m in last.body["messages"]
            if m["role"] == "user"
            for b in m["content"]
            if b["type"] == "text"
        ]
        assert users == ["one", "two", "three", "four"]

    asyncio.run(run())


def test_closing_the_async_stream_keeps_the_partial_reply(
    make_async_chat: Callable[..., AsyncChat],
) -> None:
    async def run() -> None:
        emu = Emulator(reply=lambda r: "one two three four five six seven")
        chat = make_async_chat(emu)
        stream = chat.stream("count")
        shown = [await anext(stream), await anext(stream)]
        await stream.aclose()  # type: ignore[attr-defined]
        assert chat.history[-1].status == "partial"
        assert chat.history[-1].text == "".join(shown) == "one two "
        await chat.send("again")
        assert_valid_request(message_requests(emu)[-1])

    asyncio.run(run())


def test_async_prefill_on_a_model_that_accepts_it(
    make_async_chat: Callable[..., AsyncChat],
) -> None:
    async def run() -> None:
        emu = Emulator(script=['"a": 1}'])
        chat = make_async_chat(emu, HAIKU)
        pieces = [p async for p in chat.stream("json", prefill="{")]
        assert json.loads("".join(pieces)) == {"a": 1}
        assert message_requests(emu)[0].body["messages"][-1]["role"] == "assistant"

    asyncio.run(run())
