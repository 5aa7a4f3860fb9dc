"""A system prompt changed mid-conversation: a system message where the model takes one
(the cached prefix survives), the top-level prompt elsewhere; through the SDK and the
emulator, Chat and AsyncChat."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from chats import ChatMaker, message_requests, sdk_client, words

from claudechat.metadata import SYSTEM_CHANGES
from claudechat.store.memory import MemoryStore
from claudechat.testing import Emulator

OPUS48 = "claude-opus-4-8"  # takes system messages
SONNET5 = "claude-sonnet-5"  # does not
FIRST = "You are a careful assistant. " + words(900, 1)


def _system_texts(body: dict[str, Any]) -> list[str]:
    return ["".join(b["text"] for b in m["content"]) for m in body["messages"]
            if m["role"] == "system"]  # fmt: skip


def _top_level(body: dict[str, Any]) -> str:
    return "".join(b["text"] for b in body.get("system", []))


def _talk(chat: Any, start: int, n: int) -> None:
    for i in range(start, start + n):
        chat.send(f"question {i}: " + words(30, i))


def test_a_change_is_a_system_message_and_the_prefix_stays_cached(make_chat: ChatMaker) -> None:
    emu = Emulator()
    chat = make_chat(emu, OPUS48, system=FIRST)
    _talk(chat, 0, 3)
    chat.system = "Answer in French from now on."
    _talk(chat, 3, 2)
    first_after, second_after = (r.body for r in message_requests(emu)[-2:])
    for body in (first_after, second_after):
        assert _top_level(body) == FIRST  # the prefix prompt is unchanged
        assert _system_texts(body) == ["Answer in French from now on."]
    roles = [m["role"] for m in first_after["messages"]]
    assert roles == ["user", "assistant"] * 3 + ["system", "user"]
    # The system message stays where it was said: after the third reply.
    assert [m["role"] for m in second_after["messages"]][6] == "system"
    assert chat.history[-1].usage is not None
    assert chat.history[-3].usage is not None
    assert chat.history[-3].usage.cache_read_tokens > 1000  # the request after the change
    assert chat.system == "Answer in French from now on."


def test_other_models_change_the_top_level_prompt(make_chat: ChatMaker) -> None:
    emu = Emulator()
    chat = make_chat(emu, SONNET5, system=FIRST)
    _talk(chat, 0, 3)
    chat.system = "Answer in French from now on."
    _talk(chat, 3, 1)
    body = message_requests(emu)[-1].body
    assert _top_level(body) == "Answer in French from now on."
    assert _system_texts(body) == []
    assert chat.history[-1].usage is not None
    assert chat.history[-1].usage.cache_read_tokens == 0  # the whole prefix changed


def test_changes_survive_a_restart_and_a_model_switch(make_chat: ChatMaker) -> None:
    emu, store = Emulator(), MemoryStore()
    chat = make_chat(emu, OPUS48, system=FIRST, store=store)
    _talk(chat, 0, 2)
    chat.system = "Be brief."
    _talk(chat, 2, 1)
    chat.system = "Be thorough."
    assert chat.id is not None
    assert len(store.get_conversation(chat.id).metadata[SYSTEM_CHANGES]) == 2
    again = make_chat.resume(chat.id, emu=emu, store=store)
    _talk(again, 3, 1)
    body = message_requests(emu)[-1].body
    assert _top_level(body) == FIRST
    assert _system_texts(body) == ["Be brief.", "Be thorough."]
    other = make_chat.resume(chat.id, emu=emu, store=store, model=SONNET5)
    _talk(other, 4, 1)
    body = message_requests(emu)[-1].body
    assert _top_level(body) == "Be thorough." and _system_texts(body) == []


def test_a_change_before_anything_was_said_is_the_top_level_prompt(
    make_chat: ChatMaker,
) -> None:
    emu = Emulator()
    chat = make_chat(emu, OPUS48, system=FIRST)
    chat.system = "Be brief."
    _talk(chat, 0, 2)
    body = message_requests(emu)[-1].body
    assert _top_level(body) == "Be brief." and _system_texts(body) == []


def test_the_prompt_in_force_holds_after_undo(make_chat: ChatMaker) -> None:
    emu = Emulator()
    chat = make_chat(emu, OPUS48, system=FIRST)
    _talk(chat, 0, 2)
    chat.system = "Be brief."
    chat.undo()  # the change's place leaves the branch; the prompt is still in force
    _talk(chat, 2, 1)
    body = message_requests(emu)[-1].body
    assert _top_level(body) == FIRST
    assert _system_texts(body) == ["Be brief."]
    assert [m["role"] for m in body["messages"]] == ["user", "system", "assistant", "user"]


@pytest.mark.parametrize("asynchronous", [False, True])
def test_the_emulator_rejects_a_system_message_on_older_models(asynchronous: bool) -> None:
    emu = Emulator()
    client = sdk_client(emu, asynchronous=asynchronous)
    messages: Any = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "and now?"},
    ]

    def create(model: str) -> Any:
        call = client.messages.create(model=model, max_tokens=5, messages=messages)
        if asynchronous:
            import asyncio

            return asyncio.run(call)
        return call

    assert create(OPUS48).content
    with pytest.raises(anthropic.BadRequestError, match='Unexpected role "system"'):
        create(SONNET5)
    messages.insert(0, {"role": "system", "content": "first"})
    with pytest.raises(anthropic.BadRequestError, match="first message"):
        create(OPUS48)


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def clock(zone: str) -> str:
    """The time in a zone."""
    return f"noon in {zone}"


def test_tool_changes_are_system_messages_with_the_beta(make_chat: ChatMaker) -> None:
    emu = Emulator()
    chat = make_chat(emu, OPUS48, system=FIRST, tools=[weather])
    _talk(chat, 0, 2)
    chat.tools.add(clock)
    _talk(chat, 2, 2)
    after_add = message_requests(emu)[-2]
    assert [t["name"] for t in after_add.body["tools"]] == ["weather"]  # the prefix's tools
    betas = after_add.headers["anthropic-beta"].split(",")
    assert "mid-conversation-tool-changes-2026-07-01" in betas
    assert "inline-tools-2026-09-15" in betas
    [change] = [m for m in after_add.body["messages"] if m["role"] == "system"]
    [block] = change["content"]
    assert block["type"] == "tool_addition"
    assert block["tool"]["type"] == "tool_definition"
    assert block["tool"]["definition"]["name"] == "clock"
    assert message_requests(emu)[-1].body["messages"][4] == change  # it stays where it was
    assert chat.history[-1].usage is not None
    assert chat.history[-3].usage is not None and chat.history[-3].usage.cache_read_tokens > 1000
    from claudechat.tools import ToolRegistry

    chat.tools = ToolRegistry([clock])  # weather removed
    _talk(chat, 4, 1)
    body = message_requests(emu)[-1].body
    removal = [m for m in body["messages"] if m["role"] == "system"][-1]["content"]
    assert removal == [
        {"type": "tool_removal", "tool": {"type": "tool_reference", "name": "weather"}}
    ]


def test_tool_changes_on_other_models_change_the_top_level_tools(make_chat: ChatMaker) -> None:
    emu = Emulator()
    chat = make_chat(emu, SONNET5, system=FIRST, tools=[weather])
    _talk(chat, 0, 2)
    chat.tools.add(clock)
    _talk(chat, 2, 1)
    body = message_requests(emu)[-1].body
    assert [t["name"] for t in body["tools"]] == ["weather", "clock"]
    assert _system_texts(body) == []


def test_the_emulator_checks_tool_change_blocks() -> None:
    client = sdk_client(Emulator())
    tools: Any = [{"name": "weather", "input_schema": {"type": "object"}}]

    def send(block: dict[str, Any], *betas: str) -> Any:
        messages: Any = [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "system", "content": [block]},
            {"role": "user", "content": "and now?"},
        ]
        return client.beta.messages.create(
            model=OPUS48, max_tokens=5, messages=messages, tools=tools, betas=list(betas)
        )

    removal = {"type": "tool_removal", "tool": {"type": "tool_reference", "name": "weather"}}
    addition = {
        "type": "tool_addition",
        "tool": {"type": "tool_definition", "definition": {"name": "clock", "input_schema": {}}},
    }
    beta, inline = "mid-conversation-tool-changes-2026-07-01", "inline-tools-2026-09-15"
    assert send(removal, beta).content
    assert send(addition, beta, inline).content
    with pytest.raises(anthropic.BadRequestError, match="beta"):
        send(removal)
    with pytest.raises(anthropic.BadRequestError, match=inline):
        send(addition, beta)
    unknown = {"type": "tool_removal", "tool": {"type": "tool_reference", "name": "nope"}}
    with pytest.raises(anthropic.BadRequestError, match="no tool named 'nope'"):
        send(unknown, beta)


def test_the_system_message_is_counted_apart_from_the_new_question(
    make_chat: ChatMaker,
) -> None:
    """The usage of the request after a change teaches the system message's count, not
    the new user message's (which would then count 1,000 tokens more in every budget)."""
    emu = Emulator()
    chat = make_chat(emu, OPUS48, system=FIRST)
    _talk(chat, 0, 3)
    chat.system = "A new prompt. " + words(800, 9)
    _talk(chat, 3, 2)
    counter = chat.context.counter
    sizes = [counter.message_tokens(m) for m in chat.history if m.role == "user"]
    assert max(sizes) < 200, sizes
