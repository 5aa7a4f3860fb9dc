"""Prefill (sent as-is or emulated) and thinking signatures, through the SDK and the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chats import (
    HAIKU,
    PREFILL_MODELS,
    SONNET,
    ChatMaker,
    assert_valid_request,
    message_requests,
    text_of_message,
)

from claudechat import ModelError, validate
from claudechat.messages import Message
from claudechat.store.memory import MemoryStore
from claudechat.testing import Emulator, EmuRequest, sign_thinking

# --- prefill on a model that accepts it ---------------------------------------------------


@pytest.mark.parametrize("model", PREFILL_MODELS)
def test_prefill_is_sent_as_the_last_assistant_message(make_chat: ChatMaker, model: str) -> None:
    emu = Emulator(script=[' "answer": 42}', "plain"])
    chat = make_chat(emu, model)
    reply = chat.send("Reply in JSON", prefill="{")
    first = message_requests(emu)[0].body["messages"]
    assert first[-1] == {"role": "assistant", "content": [{"type": "text", "text": "{"}]}
    assert reply.text == '{ "answer": 42}'
    assert json.loads(reply.text) == {"answer": 42}
    assert chat.history[-1].text == '{ "answer": 42}'
    chat.send("thanks")
    second = message_requests(emu)[1]
    assert_valid_request(second)
    assert text_of_message(second.body["messages"][1]) == '{ "answer": 42}'
    assert len(second.body["messages"]) == 3
    validate(chat.messages)


def test_a_sent_prefill_is_kept_even_when_the_continuation_starts_like_it(
    make_chat: ChatMaker,
) -> None:
    # The API continues the prefill: "[" then "[1, 2], [3, 4]]" is "[[1, 2], [3, 4]]".
    emu = Emulator(script=["[1, 2], [3, 4]]", "[5], [6]]"])
    chat = make_chat(emu, HAIKU)
    assert json.loads(chat.send("pairs", prefill="[").text) == [[1, 2], [3, 4]]
    assert json.loads(chat.history[-1].text) == [[1, 2], [3, 4]]
    streamed = "".join(chat.stream("more pairs", prefill="["))
    assert json.loads(streamed) == [[5], [6]]
    assert chat.last_reply is not None and chat.last_reply.text == streamed


def test_a_sent_prefill_streams_the_prefix_once_then_the_continuation(make_chat: ChatMaker) -> None:
    emu = Emulator(script=[" world, how are you?"])
    chat = make_chat(emu, HAIKU)
    pieces = list(chat.stream("greet me", prefill="Hello"))
    assert pieces[0] == "Hello"
    assert "".join(pieces) == "Hello world, how are you?"
    assert chat.last_reply is not None and chat.last_reply.text == "Hello world, how are you?"


# --- prefill on a model that refuses it ---------------------------------------------------


def _instruction(request: EmuRequest) -> str:
    return text_of_message(request.messages[-1])


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("Dear Sir, thank you.", "Dear Sir, thank you."),  # the model repeats the prefix
        (" Sir, thank you.", "Dear Sir, thank you."),  # it does not
    ],
)
def test_prefill_is_emulated_on_a_model_that_refuses_it(
    make_chat: ChatMaker, said: str, expected: str
) -> None:
    seen: list[str] = []

    def model(request: EmuRequest) -> str:
        seen.append(_instruction(request))
        return said

    emu = Emulator(reply=model)
    chat = make_chat(emu, SONNET)
    reply = chat.send("Write a letter", prefill="Dear")
    request = message_requests(emu)[0]
    assert request.body["messages"][-1]["role"] == "user"
    assert "Dear" in seen[0] and "Begin your reply" in seen[0]
    assert reply.text == expected
    assert chat.history[-1].text == expected
    # The instruction was for that request only: not stored, not resent.
    assert chat.history[0].text == "Write a letter"
    chat.send("Shorter please")
    second = message_requests(emu)[1]
    assert_valid_request(second)
    assert "Begin your reply" not in json.dumps(second.body)
    assert text_of_message(second.body["messages"][1]) == expected


@pytest.mark.parametrize(
    "said",
    [
        "Dear Sir, thank you.",  # repeats it (arrives split over two deltas below)
        "Sir, thank you.",  # does not
        "Dea",  # a reply shorter than the prefix, that starts like it
        "D",
    ],
)
def test_streamed_text_begins_with_the_emulated_prefix_exactly_once(
    make_chat: ChatMaker, said: str
) -> None:
    emu = Emulator(script=[said])
    chat = make_chat(emu, SONNET)
    prefix = "Dear Sir"
    text = "".join(chat.stream("Write a letter", prefill=prefix))
    assert text.startswith(prefix)
    assert text.count(prefix) == 1
    assert chat.last_reply is not None and chat.last_reply.text == text
    assert chat.history[-1].text == text
    for r in message_requests(emu):
        assert r.body["messages"][-1]["role"] == "user"


def test_no_request_ends_with_an_assistant_message_on_a_refusing_model(
    make_chat: ChatMaker,
) -> None:
    emu = Emulator()
    chat = make_chat(emu, SONNET)
    chat.send("one", prefill="A")
    list(chat.stream("two", prefill="B"))
    chat.send("three")
    assert len(message_requests(emu)) == 3
    for r in message_requests(emu):
        assert_valid_request(r)


def test_a_bad_prefill_is_refused_before_any_request(make_chat: ChatMaker) -> None:
    emu = Emulator()
    chat = make_chat(emu, HAIKU)
    for bad in ["", "ends with space ", 7]:
        with pytest.raises(ValueError, match="prefill"):
            chat.send("hi", prefill=bad)  # type: ignore[arg-type]
    assert emu.requests == []


# --- thinking -----------------------------------------------------------------------------

THINKING = {"type": "enabled", "budget_tokens": 1024}


def _thinking_blocks(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for m in messages for b in m["content"] if b.get("type") == "thinking"]


def _canonical(block: dict[str, Any]) -> str:
    return json.dumps(block, sort_keys=True, ensure_ascii=False)


def thinking_model(request: EmuRequest) -> Any:
    last = request.messages[-1]["content"]
    if any(b.get("type") == "tool_result" for b in last):
        return [
            {"type": "thinking", "thinking": f"The tool answered (request {request.number})."},
            {"type": "text", "text": "The tool says hello."},
        ]
    if "tool" in request.last_user_text:
        return [
            {"type": "thinking", "thinking": f"I need the tool (request {request.number})."},
            {"type": "tool_use", "name": "echo", "input": {"text": "hello"}},
        ]
    return [
        {"type": "thinking", "thinking": f"Considering: {request.last_user_text}"},
        {"type": "text", "text": f"Thought about {request.last_user_text}."},
    ]


def echo(text: str) -> str:
    """Echo the text."""
    return text


def test_thinking_blocks_are_stored_and_resent_unchanged(make_chat: ChatMaker) -> None:
    emu = Emulator(reply=thinking_model)
    chat = make_chat(emu, thinking=THINKING, max_tokens=2048, tools=[echo])
    first = chat.send("alpha")
    streamed = "".join(chat.stream("use the tool"))
    chat.send("gamma")
    assert first.text == "Thought about alpha."
    assert streamed == "The tool says hello."

    requests = message_requests(emu)
    assert len(requests) == 4
    for r in requests:
        assert r.body["thinking"] == THINKING
        assert r.body["max_tokens"] == 2048
        assert_valid_request(r)

    # Every thinking block the emulator issued is stored with its signature...
    stored = [b for m in chat.history for b in m.content if b.get("type") == "thinking"]
    assert [b["thinking"] for b in stored] == [
        "Considering: alpha",
        "I need the tool (request 2).",
        "The tool answered (request 3).",
        "Considering: gamma",
    ]
    for b in stored:
        assert b["signature"] == sign_thinking(b["thinking"])
    # ...and each later request carries the earlier ones byte-for-byte.
    for n, r in enumerate(requests):
        sent = [_canonical(b) for b in _thinking_blocks(r.body["messages"])]
        assert sent == [_canonical(b) for b in stored[:n]]
    # The thinking block that came with the tool call was resent with it.
    tool_round = requests[2].body["messages"]
    assert [b["type"] for b in tool_round[-2]["content"]] == ["thinking", "tool_use"]


def test_a_modified_signature_is_rejected_and_the_turn_is_kept(make_chat: ChatMaker) -> None:
    store = MemoryStore()
    emu = Emulator(reply=thinking_model)
    chat = make_chat(emu, thinking=THINKING, max_tokens=2048, store=store)
    chat.send("alpha")
    assert chat.id is not None
    good = chat.history[-1]
    # A copy of the reply whose signature was altered, on a branch of its own.
    block = dict(good.content[0])
    block["signature"] = block["signature"][:-4] + "AAA="
    forged = Message(
        "assistant", [block, *good.content[1:]], parent_id=good.parent_id, model=good.model
    )
    store.append(chat.id, forged)
    resumed = make_chat.resume(chat.id, emu=emu, store=store, thinking=THINKING, max_tokens=2048)
    with pytest.raises(ModelError) as info:
        resumed.send("beta")
    assert info.value.status == 400
    assert "signature" in str(info.value)
    assert resumed.history[-1].text == "beta"  # the user's message is kept
    # Back on the genuine branch the same turn goes through.
    resumed.checkout(good.id)
    assert resumed.send("beta").text == "Thought about beta."
