"""Conversations through Chat, the real SDK and the emulator: tools, streaming, usage, cost."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from chats import SONNET, ChatMaker, assert_valid_request, message_requests, sent_roles_and_texts

from claudechat import Usage, validate
from claudechat.messages import to_api_messages
from claudechat.testing import Emulator, EmuReply, EmuRequest

# --- tools: plain functions -------------------------------------------------------------

CALLS: list[str] = []


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: the first number
        b: the second number
    """
    CALLS.append("add")
    return a + b


def divide(a: float, b: float) -> float:
    """Divide a by b."""
    CALLS.append("divide")
    return a / b


def open_handle(name: str) -> object:
    """Open a named handle (returns something JSON cannot carry)."""
    CALLS.append("open_handle")
    return object()


def weather(city: str) -> dict[str, Any]:
    """The weather in a city."""
    CALLS.append("weather")
    return {"city": city, "sky": "clear", "celsius": 21}


@pytest.fixture
def tools(make_chat: ChatMaker) -> list[Callable[..., Any]]:
    """The tools: plain functions for Chat; for AsyncChat, plain and coroutine functions."""
    return [add, *make_chat.tools(divide), open_handle, *make_chat.tools(weather)]


def _tool_results(request: EmuRequest) -> list[dict[str, Any]]:
    last = request.messages[-1]
    if last["role"] != "user" or not isinstance(last["content"], list):
        return []
    return [b for b in last["content"] if b.get("type") == "tool_result"]


def scripted_model(request: EmuRequest) -> Any:
    """Asks for tools when the user says so; answers with what the tools returned."""
    results = _tool_results(request)
    if results:
        parts = []
        for r in results:
            flag = "error" if r.get("is_error") else "ok"
            parts.append(f"{flag}={r.get('content')}")
        return "Results: " + "; ".join(parts)
    said = request.last_user_text
    if said.startswith("calc"):
        n = int(said.split()[1])
        return [
            {"type": "text", "text": "Let me add."},
            {"type": "tool_use", "name": "add", "input": {"a": n, "b": 1}},
        ]
    if said.startswith("divide"):
        return [{"type": "tool_use", "name": "divide", "input": {"a": 1, "b": 0}}]
    if said.startswith("handle"):
        return [{"type": "tool_use", "name": "open_handle", "input": {"name": "h"}}]
    if said.startswith("both"):
        return [
            {"type": "tool_use", "name": "weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "name": "add", "input": {"a": 2, "b": 2}},
        ]
    return f"Answer to: {said}"


def _prompt(i: int) -> str:
    kind = ["plain", "calc", "divide", "plain", "handle", "both"][i % 6]
    return {
        "plain": f"plain question number {i} about rivers and stones",
        "calc": f"calc {i}",
        "divide": f"divide please ({i})",
        "handle": f"handle {i}",
        "both": f"both {i}",
    }[kind]


def _price_by_hand(u: Usage) -> float:
    # claude-sonnet-4-6 in FACTS.md: 3 / 3.75 / 6 / 0.30 / 15 USD per million tokens
    return (
        u.input_tokens * 3
        + u.cache_write_5m_tokens * 3.75
        + u.cache_write_1h_tokens * 6
        + u.cache_read_tokens * 0.30
        + u.output_tokens * 15
    ) / 1_000_000


def test_thirty_turns_with_tools_streaming_usage_and_cost(
    make_chat: ChatMaker, tools: list[Callable[..., Any]], sdk_client: Callable[..., Any]
) -> None:
    CALLS.clear()
    emu = Emulator(reply=scripted_model)
    chat = make_chat(emu, system="Be brief.", tools=tools)
    replies = []
    streamed: dict[int, str] = {}
    for i in range(30):
        if i % 2:
            streamed[i] = "".join(chat.stream(_prompt(i)))
            assert chat.last_reply is not None
            replies.append(chat.last_reply)
        else:
            replies.append(chat.send(_prompt(i)))

    # What the user saw.
    for i, reply in enumerate(replies):
        prompt = _prompt(i)
        if i in streamed:  # the stream shows the text of every round, rounds set apart
            texts = [m.text for m in reply.messages if m.role == "assistant" and m.text]
            assert streamed[i] == "\n\n".join(texts)
            assert streamed[i].endswith(reply.text)
        assert reply.stop_reason == "end_turn" and not reply.truncated and not reply.partial
        if prompt.startswith("plain"):
            assert reply.text == f"Answer to: {prompt}"
        elif prompt.startswith("calc"):
            assert reply.text == f"Results: ok={i + 1}"
        elif prompt.startswith("divide"):
            assert reply.text == "Results: error=ZeroDivisionError: division by zero"
        elif prompt.startswith("handle"):
            assert reply.text.startswith(
                "Results: error=TypeError: result is not JSON-serialisable"
            )
        else:
            assert reply.text == (
                'Results: ok={"city": "Oslo", "sky": "clear", "celsius": 21}; ok=4'
            )
    assert CALLS.count("divide") == 5 and CALLS.count("open_handle") == 5

    # Every request was accepted by the (strict) emulator and is a valid history.
    requests = message_requests(emu)
    tool_turns = sum(1 for i in range(30) if not _prompt(i).startswith("plain"))
    assert len(requests) == 30 + tool_turns
    for request in requests:
        assert_valid_request(request)
        assert request.body["system"][0]["text"] == "Be brief."
        assert [t["name"] for t in request.body["tools"]] == [
            "add",
            "divide",
            "open_handle",
            "weather",
        ]
    # Tool errors went to Claude as is_error results carrying the message.
    errors = [
        b
        for r in requests
        for m in r.body["messages"][-1:]
        for b in m["content"]
        if b.get("type") == "tool_result" and b.get("is_error")
    ]
    assert len(errors) == 10
    assert {e["content"].split(":")[0] for e in errors} == {"ZeroDivisionError", "TypeError"}

    # The last request carried the whole conversation (nothing trimmed at this size).
    last_sent = sent_roles_and_texts(requests[-1])
    sent_users = [t for role, t in last_sent if role == "user" and t]
    assert sent_users == [_prompt(i) for i in range(30)]

    # The stored history: every turn, valid, API-ready.
    assert len(chat.turns) == 30
    history = chat.history
    assert len(history) == 30 * 2 + tool_turns * 2
    assert all(m.status == "complete" for m in history)
    validate(chat.messages)
    assert chat.messages == to_api_messages(history)
    assert json.loads(json.dumps(chat.messages)) == chat.messages
    more = [*chat.messages, {"role": "user", "content": "one more"}]
    raw = sdk_client(emu).messages.create(model=SONNET, max_tokens=50, messages=more)
    assert raw.stop_reason == "end_turn"

    # Usage adds up: ledger = sum of replies = stored on the messages = what the server said.
    assert len(chat.ledger.entries) == len(requests)
    total = Usage()
    for reply in replies:
        total = total + reply.usage
    assert chat.usage == total
    assert chat.stored_usage() == total
    assert total.requests == len(requests)
    assert total.total_input_tokens == sum(emu.count_request_tokens(r.body) for r in requests)
    assert total.cache_read_tokens > 0  # the conversation grew past the cache minimum
    # Cost: the sum of per-reply costs, and the usage priced by hand from FACTS.md.
    assert chat.cost_usd == pytest.approx(sum(r.cost_usd or 0 for r in replies))
    assert chat.cost_usd == pytest.approx(_price_by_hand(total))
    for reply in replies:
        assert reply.cost_usd == pytest.approx(_price_by_hand(reply.usage))


def test_a_tool_turn_reply_lists_the_tool_round_messages(
    make_chat: ChatMaker, tools: list[Callable[..., Any]]
) -> None:
    emu = Emulator(reply=scripted_model)
    chat = make_chat(emu, tools=tools)
    reply = chat.send("calc 41")
    assert reply.text == "Results: ok=42"
    kinds = [(m.role, [b["type"] for b in m.content]) for m in reply.messages]
    assert kinds == [
        ("assistant", ["text", "tool_use"]),
        ("user", ["tool_result"]),
        ("assistant", ["text"]),
    ]
    # Two requests; both billed to the turn.
    assert reply.usage.requests == 2


def test_unknown_tool_and_bad_input_become_error_results(make_chat: ChatMaker) -> None:
    def model(request: EmuRequest) -> Any:
        if _tool_results(request):
            return "noted"
        return [
            {"type": "tool_use", "name": "nope", "input": {}},
            {"type": "tool_use", "name": "add", "input": {"a": 1}},
        ]

    emu = Emulator(reply=model)
    chat = make_chat(emu, tools=[add])
    assert chat.send("go").text == "noted"
    results = message_requests(emu)[-1].body["messages"][-1]["content"]
    assert [r["is_error"] for r in results] == [True, True]
    assert "unknown tool 'nope'" in results[0]["content"]
    assert "TypeError" in results[1]["content"] and "'b'" in results[1]["content"]
    validate(chat.messages)


def test_the_tool_round_cap_forces_a_final_answer(make_chat: ChatMaker) -> None:
    runs: list[str] = []

    def lookup(q: str) -> str:
        """Look something up."""
        runs.append(q)
        return f"found {q}"

    def always_a_tool(request: EmuRequest) -> Any:
        if (request.body.get("tool_choice") or {}).get("type") == "none":
            return "Final answer without more tools."
        return [{"type": "tool_use", "name": "lookup", "input": {"q": f"q{request.number}"}}]

    emu = Emulator(reply=always_a_tool)
    chat = make_chat(emu, tools=make_chat.tools(lookup), max_tool_rounds=3)
    reply = chat.send("find it")
    requests = message_requests(emu)
    assert [r.body.get("tool_choice") for r in requests] == [None, None, None, {"type": "none"}]
    assert requests[-1].body["tools"][0]["name"] == "lookup"  # tools stay: the cache holds
    assert runs == ["q1", "q2", "q3"]
    assert reply.text == "Final answer without more tools."
    assert reply.stop_reason == "end_turn"
    for r in requests:
        assert_valid_request(r)
    roles = [m.role for m in chat.history]
    assert roles == ["user"] + ["assistant", "user"] * 3 + ["assistant"]
    validate(chat.messages)
    # The next turn starts again without tool_choice.
    chat.send("again")
    assert message_requests(emu)[4].body.get("tool_choice") is None


def test_send_with_max_tokens_beyond_the_sdk_non_streaming_limit_streams(
    make_chat: ChatMaker,
) -> None:
    emu = Emulator(script=["long answer"])
    chat = make_chat(emu, max_tokens=30_000)
    assert chat.send("write a lot").text == "long answer"
    assert message_requests(emu)[0].body.get("stream") is True


def test_max_tokens_stop_is_flagged_and_history_stays_valid(make_chat: ChatMaker) -> None:
    long_text = " ".join(f"w{i}" for i in range(300))
    emu = Emulator(reply=lambda r: long_text)
    chat = make_chat(emu, max_tokens=20)
    reply = chat.send("talk")
    assert reply.truncated and reply.stop_reason == "max_tokens"
    assert reply.text and long_text.startswith(reply.text)
    streamed = "".join(chat.stream("more"))
    assert chat.last_reply is not None and chat.last_reply.truncated
    assert streamed == chat.last_reply.text
    chat.send("next")
    for r in message_requests(emu):
        assert_valid_request(r)
    validate(chat.messages)


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_use_cut_by_max_tokens_is_not_left_unanswered(
    make_chat: ChatMaker, stream: bool
) -> None:
    ran: list[str] = []

    def lookup(q: str) -> str:
        """Look something up."""
        ran.append(q)
        return q

    cut = EmuReply(
        [
            {"type": "text", "text": "Calling the tool"},
            {"type": "tool_use", "name": "lookup", "input": {"q": "half"}},
        ],
        stop_reason="max_tokens",
    )
    emu = Emulator(script=[cut, "fine"])
    chat = make_chat(emu, tools=[lookup])
    if stream:
        assert "".join(chat.stream("go")) == "Calling the tool"
        reply = chat.last_reply
        assert reply is not None
    else:
        reply = chat.send("go")
    assert reply.truncated and reply.text == "Calling the tool"
    assert ran == []  # an unfinished call is never run
    assert reply.message.tool_uses == []
    assert chat.send("and now?").text == "fine"
    second = message_requests(emu)[1]
    assert_valid_request(second)
    assert not any(
        b.get("type") in ("tool_use", "tool_result")
        for m in second.body["messages"]
        for b in m["content"]
    )
    validate(chat.messages)


def test_a_custom_stop_sequence_is_sent_and_reported(make_chat: ChatMaker) -> None:
    emu = Emulator(script=["one two STOP three"])
    chat = make_chat(emu, stop_sequences=["STOP"], temperature=0.2)
    reply = chat.send("count")
    body = message_requests(emu)[0].body
    assert body["stop_sequences"] == ["STOP"] and body["temperature"] == 0.2
    assert reply.stop_reason == "stop_sequence" and not reply.truncated
    assert reply.text == "one two "
