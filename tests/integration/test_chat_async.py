"""AsyncChat through the async SDK client and the emulator: send, stream, tools, faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from chats import HAIKU, ThreadSeen, assert_valid_request, message_requests

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


class _StallingModel:
    """An AsyncModel whose stream sends some text, then waits for a network that never
    answers: where a server's request task is cancelled when its client disconnects."""

    name = "claude-sonnet-4-6"

    def __init__(self) -> None:
        self.sent_text = asyncio.Event()

    async def create(self, request: Any) -> Any:
        raise AssertionError("not used")

    async def stream(self, request: Any) -> Any:
        from claudechat.models.base import TextDelta, UsageSoFar
        from claudechat.usage import Usage

        yield UsageSoFar(Usage(input_tokens=12, requests=1))
        yield TextDelta("The first half of an answer")
        self.sent_text.set()
        await asyncio.sleep(3600)

    async def count_tokens(self, request: Any) -> int:
        return 12


def test_a_cancelled_request_task_keeps_the_partial_reply_and_its_cost() -> None:
    """A dropped client cancels the task reading the stream: what arrived is kept as a
    partial reply, its usage billed, and the conversation is free for the next turn."""

    async def run() -> None:
        model = _StallingModel()
        chat = AsyncChat(model)
        shown: list[str] = []

        async def read() -> None:
            async for piece in chat.stream("tell me everything"):
                shown.append(piece)

        task = asyncio.create_task(read())
        await model.sent_text.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        last = chat.history[-1]
        assert last.role == "assistant" and last.status == "partial"
        assert last.text == "".join(shown) == "The first half of an answer"
        assert last.metadata["interrupted"] == "interrupted"
        assert chat.usage.input_tokens == 12  # billed although cut
        assert chat.store.branch(chat.id or "")[-1].status == "partial"
        chat.set_model(_ReplyingModel())
        assert (await chat.send("go on")).text == "done"  # the turn was given back

    asyncio.run(run())


class _ReplyingModel:
    name = "claude-sonnet-4-6"

    async def create(self, request: Any) -> Any:
        from claudechat.models.base import ModelResponse
        from claudechat.usage import Usage

        return ModelResponse("m2", self.name, [{"type": "text", "text": "done"}], "end_turn",
                             Usage(input_tokens=20, output_tokens=1, requests=1))  # fmt: skip

    def stream(self, request: Any) -> Any:
        raise AssertionError("not used")

    async def count_tokens(self, request: Any) -> int:
        return 20


@pytest.mark.parametrize("offload", [False, True])
def test_an_engine_that_asks_for_it_runs_its_steps_off_the_event_loop(offload: bool) -> None:
    import threading

    from claudechat.context import ContextEngine
    from claudechat.testing import offline_client

    seen = ThreadSeen()
    engine = ContextEngine([seen], offload=offload)

    async def run() -> int:
        chat = AsyncChat("claude-sonnet-4-6", client=offline_client(asynchronous=True),
                         context=engine)  # fmt: skip
        reply = await chat.send("hello")
        assert reply.text
        return threading.get_ident()

    loop_thread = asyncio.run(run())
    assert seen.threads
    assert all((t != loop_thread) == offload for t in seen.threads)


class _Refusing:
    """A context policy that fails every step."""

    def apply(self, candidate: Any, state: Any) -> Any:
        raise ValueError("this policy refuses")


def test_step_ahead_takes_the_first_step_of_an_opened_stream_in_the_calling_thread() -> None:
    import threading

    from claudechat.context import ContextEngine
    from claudechat.testing import offline_client

    seen = ThreadSeen()

    async def run() -> tuple[int, list[str]]:
        chat = AsyncChat("claude-sonnet-4-6", client=offline_client(asynchronous=True),
                         context=ContextEngine([seen], offload=True))  # fmt: skip
        chat.step_ahead()  # no stream opened: nothing to step
        assert seen.threads == []
        stream = chat.stream("hello", open_now=True)
        chat.step_ahead()
        assert seen.threads == [threading.get_ident()]
        texts = ["".join([p async for p in stream])]
        assert len(seen.threads) == 1  # the turn used that step, not a second one
        abandoned = chat.stream("left unread", open_now=True)
        chat.step_ahead()
        await abandoned.aclose()  # type: ignore[attr-defined]
        texts.append("".join([p async for p in chat.retry_stream(open_now=True)]))  # no step
        return threading.get_ident(), texts

    loop_thread, texts = asyncio.run(run())
    assert all(texts)
    assert seen.threads[:2] == [loop_thread, loop_thread]
    assert len(seen.threads) == 3 and seen.threads[2] != loop_thread  # offloaded, as always


def test_a_step_ahead_that_fails_leaves_the_error_to_the_turn() -> None:
    from claudechat.context import ContextEngine
    from claudechat.testing import offline_client

    async def run() -> None:
        chat = AsyncChat("claude-sonnet-4-6", client=offline_client(asynchronous=True),
                         context=ContextEngine([_Refusing()], offload=True))  # fmt: skip
        stream = chat.stream("hello", open_now=True)
        chat.step_ahead()  # does not raise
        with pytest.raises(ValueError, match="this policy refuses"):
            async for _ in stream:
                pass

    asyncio.run(run())


class _Summarizing:
    """A context policy that asks for a summary (a side call) and injects it."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def apply(self, candidate: Any, state: Any) -> Any:
        import threading

        self.threads.append(threading.get_ident())
        text = state.summarize("the turns before", None, max_tokens=50)
        block = {"type": "text", "text": f"<summary>{text}</summary>"}
        return candidate.with_(injected=[*candidate.injected, block])


def test_a_step_ahead_that_needs_a_side_call_is_answered_by_the_turn() -> None:
    import threading

    from claudechat.context import ContextEngine
    from claudechat.testing import offline_client

    emu, policy = Emulator(), _Summarizing()

    async def run() -> str:
        chat = AsyncChat("claude-sonnet-4-6", client=offline_client(emu, asynchronous=True),
                         context=ContextEngine([policy], offload=True))  # fmt: skip
        stream = chat.stream("hello", open_now=True)
        chat.step_ahead()  # stops at the summary it must ask for
        assert policy.threads == [threading.get_ident()]
        return "".join([p async for p in stream])

    assert asyncio.run(run())
    sent = [r.body for r in message_requests(emu)]
    assert len(sent) == 2  # the summary, then the turn's request carrying it
    summary = sent[0]["messages"][0]["content"][0]["text"]
    assert "the turns before" in summary
    assert "<summary>" in json.dumps(sent[1]["messages"])
    assert len(policy.threads) == 2  # asked ahead, then answered once in the turn
