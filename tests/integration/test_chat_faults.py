"""Every injected fault and every interruption: the right error, nothing said is lost,
and the conversation goes on with valid requests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
import pytest
from chats import ChatMaker, assert_valid_request, message_requests, sent_roles_and_texts

from claudechat import (
    AuthError,
    BadResponse,
    Chat,
    ModelError,
    Overloaded,
    RateLimited,
    StreamInterrupted,
    validate,
)
from claudechat.testing import Emulator, EmuRequest, Fault

LONG = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu"


def long_reply(request: EmuRequest) -> str:
    return f"{LONG} ({request.last_user_text})"


@dataclass(frozen=True)
class Case:
    fault: Callable[[], Fault]
    stream: bool
    error: type[Exception]
    status: int | None
    check: Callable[[Any], None] = lambda err: None


def _retry_after(err: RateLimited) -> None:
    assert err.retry_after == pytest.approx(0.001)
    assert not err.spend_limit


def _spend(err: RateLimited) -> None:
    assert err.retry_after is None  # no retry-after: waiting a moment will not help
    assert "usage limits" in str(err)
    assert err.spend_limit and err.error_code == "enforced_spend_limit_reached"


def _overloaded_midstream(err: StreamInterrupted) -> None:
    assert err.error_type == "overloaded_error"


CASES = {
    "429": Case(lambda: Fault.status(429, retry_after_ms=1), False, RateLimited, 429, _retry_after),
    "429-stream": Case(
        lambda: Fault.status(429, retry_after_ms=1), True, RateLimited, 429, _retry_after
    ),
    "500": Case(lambda: Fault.status(500), False, ModelError, 500),
    "529": Case(lambda: Fault.status(529), False, Overloaded, 529),
    "529-stream": Case(lambda: Fault.status(529), True, Overloaded, 529),
    "midstream-error": Case(
        lambda: Fault.midstream_error(after_events=6),
        True,
        StreamInterrupted,
        200,
        _overloaded_midstream,
    ),
    "dropped": Case(lambda: Fault.drop(after_events=6), True, StreamInterrupted, None),
    "dropped-send": Case(lambda: Fault.drop(after_events=1), False, ModelError, None),
    "garbage": Case(Fault.garbage, False, BadResponse, None),
    "garbage-stream": Case(Fault.garbage, True, BadResponse, None),
    "spend-limit": Case(Fault.spend_limit, False, RateLimited, 429, _spend),
    "401": Case(lambda: Fault.status(401), False, AuthError, 401),
}
PARTIAL = {"midstream-error", "dropped"}


def _turn(chat: Chat, prompt: str, stream: bool, shown: list[str]) -> None:
    if stream:
        for piece in chat.stream(prompt):
            shown.append(piece)
    else:
        chat.send(prompt)


@pytest.mark.parametrize("name", list(CASES))
def test_a_fault_raises_its_error_and_the_conversation_goes_on(
    make_chat: ChatMaker, name: str
) -> None:
    case = CASES[name]
    emu = Emulator(reply=long_reply)
    chat = make_chat(emu)
    chat.send("first")
    emu.inject(case.fault())
    shown: list[str] = []
    with pytest.raises(case.error) as info:
        _turn(chat, "second", case.stream, shown)
    err = info.value
    assert type(err) is case.error
    assert isinstance(err, ModelError) and err.status == case.status
    failed_number = len(emu.requests)
    if case.status is not None:
        assert err.request_id == f"req_emu_{failed_number:012d}"
    case.check(err)

    # Nothing already said is lost: the prompt is stored, and what arrived of the reply.
    history = chat.history
    if name in PARTIAL:
        assert shown and "".join(shown) == "alpha beta gamma "
        assert isinstance(err, StreamInterrupted)
        assert err.partial is not None
        assert [m.text for m in history[-2:]] == ["second", "alpha beta gamma "]
        assert history[-1].status == "partial"
        assert chat.last_reply is not None and chat.last_reply.partial
    else:
        assert shown == []
        assert history[-1].role == "user" and history[-1].text == "second"
    assert [m.text for m in history[:2]] == ["first", f"{LONG} (first)"]

    # The conversation goes on; the next request is valid and carries everything said.
    reply = chat.send("third")
    assert reply.text.startswith(LONG)
    last = message_requests(emu)[-1]
    assert_valid_request(last)
    sent = sent_roles_and_texts(last)
    if name in PARTIAL:  # the partial reply is resent as text (see messages.py)
        assert sent[1:] == [
            ("assistant", f"{LONG} (first)"),
            ("user", "second"),
            ("assistant", "alpha beta gamma "),
            ("user", "third"),
        ]
    else:  # the unanswered prompt and the new one go together in one user message
        assert sent[1:] == [("assistant", f"{LONG} (first)"), ("user", "secondthird")]
        assert [b["text"] for b in last.body["messages"][-1]["content"]] == ["second", "third"]
    validate(chat.messages)


def test_every_fault_in_one_conversation(make_chat: ChatMaker) -> None:
    emu = Emulator(reply=long_reply)
    chat = make_chat(emu)
    said = ["hello"]
    chat.send("hello")
    for name, case in CASES.items():
        emu.inject(case.fault())
        prompt = f"try {name}"
        said.append(prompt)
        with pytest.raises(case.error):
            _turn(chat, prompt, case.stream, [])
        said.append(f"after {name}")
        chat.send(f"after {name}")
    requests = message_requests(emu)
    assert len(requests) == 1 + 2 * len(CASES)
    for r in requests:  # those a fault answered too (their body was never read: parse it)
        assert_valid_request(r, body=json.loads(r.raw))
    final = requests[-1].body["messages"]
    user_texts = [b["text"] for m in final if m["role"] == "user" for b in m["content"]]
    assert user_texts == said
    stored = [m.text for m in chat.history if m.role == "user"]
    assert stored == said
    # The usage of an interrupted reply is billed and kept with its partial message.
    assert chat.usage == chat.stored_usage()


# --- Ctrl-C and leaving the stream early -----------------------------------------------------


def test_closing_the_stream_midway_keeps_the_partial_reply(make_chat: ChatMaker) -> None:
    emu = Emulator(reply=long_reply)
    chat = make_chat(emu)
    chat.send("first")
    stream = chat.stream("second")
    shown = [next(stream), next(stream), next(stream)]
    assert isinstance(stream, Iterator)
    stream.close()  # what a caller leaving early (or a Ctrl-C in its loop) does
    assert "".join(shown) == "alpha beta gamma "
    last = chat.history[-1]
    assert last.status == "partial" and last.text == "alpha beta gamma "
    assert chat.last_reply is not None and chat.last_reply.partial
    assert chat.send("third").text.startswith(LONG)
    request = message_requests(emu)[-1]
    assert_valid_request(request)
    assert sent_roles_and_texts(request)[-2:] == [
        ("assistant", "alpha beta gamma "),
        ("user", "third"),
    ]


def test_breaking_out_of_the_loop_keeps_the_partial_reply(make_chat: ChatMaker) -> None:
    emu = Emulator(reply=long_reply)
    chat = make_chat(emu)
    shown = []
    for piece in chat.stream("first"):
        shown.append(piece)
        if len(shown) == 2:
            break
    assert chat.history[-1].text == "alpha beta "
    assert chat.history[-1].status == "partial"
    chat.send("second")
    assert_valid_request(message_requests(emu)[-1])


class _InterruptingTransport(httpx2.BaseTransport, httpx2.AsyncBaseTransport):
    """Passes requests to the emulator; raises KeyboardInterrupt inside one streamed body
    after ``after`` chunks, as a Ctrl-C arriving while the reply streams would."""

    def __init__(self, emu: Emulator, *, after: int) -> None:
        self.inner = emu.transport()
        self.after = after
        self.armed = False

    def _cut(self) -> bool:
        """Whether this response is the one to interrupt (the first after arming)."""
        armed, self.armed = self.armed, False
        return armed

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        if not self._cut():
            return response
        chunks, after = response.stream, self.after

        class Body(httpx2.SyncByteStream):
            def __iter__(self) -> Iterator[bytes]:
                for i, chunk in enumerate(chunks):  # type: ignore[arg-type]
                    if i == after:
                        raise KeyboardInterrupt
                    yield chunk

        return httpx2.Response(response.status_code, headers=response.headers, stream=Body())

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        if not self._cut():
            return response
        chunks, after = response.stream, self.after

        class Body(httpx2.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                i = 0
                async for chunk in chunks:  # type: ignore[union-attr]
                    if i == after:
                        raise KeyboardInterrupt
                    i += 1
                    yield chunk

        return httpx2.Response(response.status_code, headers=response.headers, stream=Body())


def _interrupting_chat(
    make_chat: ChatMaker, emu: Emulator, after: int
) -> tuple[Chat, _InterruptingTransport]:
    transport = _InterruptingTransport(emu, after=after)
    if make_chat.asynchronous:
        sdk: Any = anthropic.AsyncAnthropic(
            api_key="t", http_client=httpx2.AsyncClient(transport=transport), max_retries=0
        )
    else:
        sdk = anthropic.Anthropic(
            api_key="t", http_client=httpx2.Client(transport=transport), max_retries=0
        )
    return make_chat(model="claude-sonnet-4-6", client=sdk), transport


def test_ctrl_c_while_streaming_keeps_the_partial_text(make_chat: ChatMaker) -> None:
    emu = Emulator(reply=long_reply)
    chat, transport = _interrupting_chat(make_chat, emu, after=6)
    chat.send("first")
    transport.armed = True
    shown: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        for piece in chat.stream("second"):
            shown.append(piece)
    assert "".join(shown) == "alpha beta gamma "
    assert chat.history[-1].status == "partial"
    assert chat.history[-1].text == "alpha beta gamma "
    assert chat.history[-1].metadata.get("interrupted") == "interrupted"
    chat.send("third")
    request = message_requests(emu)[-1]
    assert_valid_request(request)
    assert sent_roles_and_texts(request)[-3:] == [
        ("user", "second"),
        ("assistant", "alpha beta gamma "),
        ("user", "third"),
    ]


def test_ctrl_c_before_any_text_keeps_the_prompt_only(make_chat: ChatMaker) -> None:
    emu = Emulator(reply=long_reply)
    chat, transport = _interrupting_chat(make_chat, emu, after=0)
    chat.send("first")
    transport.armed = True
    with pytest.raises(KeyboardInterrupt):
        list(chat.stream("second"))
    assert [m.role for m in chat.history] == ["user", "assistant", "user"]
    chat.send("third")
    request = message_requests(emu)[-1]
    assert_valid_request(request)
    assert sent_roles_and_texts(request)[-1] == ("user", "secondthird")


def test_ctrl_c_inside_a_tool_leaves_a_history_the_next_request_can_send(
    make_chat: ChatMaker,
) -> None:
    def slow(q: str) -> str:
        """A tool the user interrupts."""
        raise KeyboardInterrupt

    def model(request: EmuRequest) -> Any:
        if "tool" in request.last_user_text and request.messages[-1]["role"] == "user":
            last = request.messages[-1]["content"]
            if not any(b.get("type") == "tool_result" for b in last):
                return [{"type": "tool_use", "name": "slow", "input": {"q": "x"}}]
        return "fine"

    emu = Emulator(reply=model)
    chat = make_chat(emu, tools=[slow])
    with pytest.raises(KeyboardInterrupt):
        chat.send("use the tool")
    assert chat.history[-1].tool_uses  # the call is stored, its result never came
    assert chat.send("never mind").text == "fine"
    request = message_requests(emu)[-1]
    assert_valid_request(request)
    results = [b for b in request.body["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert len(results) == 1 and results[0]["is_error"] is True
    validate(chat.messages)
