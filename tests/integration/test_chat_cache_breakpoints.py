"""Caller-set cache_control: the request never holds more than four breakpoints."""

from __future__ import annotations

from typing import Any

import pytest
from chats import ChatMaker, message_requests

from claudechat import Chat, UserError
from claudechat.testing import Emulator

EPHEMERAL = {"type": "ephemeral"}
SYSTEM = "You answer questions about the weather. " * 20
WEATHER_TOOL = {
    "name": "weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _breakpoints(body: dict[str, Any]) -> int:
    blocks = [*body.get("system", []), *body.get("tools", [])]
    for m in body["messages"]:
        if isinstance(m["content"], list):
            blocks.extend(m["content"])
    return sum(1 for b in blocks if b.get("cache_control"))


def _marked(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"type": "text", "text": f"{prefix}{i}", "cache_control": EPHEMERAL} for i in range(n)]


def _chat(make_chat: ChatMaker, emu: Emulator, **kw: Any) -> Chat:
    return make_chat(emu, system=SYSTEM, tools=[WEATHER_TOOL], **kw)


def test_three_marked_prompt_blocks_with_a_system_prompt_and_tools_are_sent(
    make_chat: ChatMaker,
) -> None:
    """The issue's repro: the API's 400 ("Found 5"), then every later turn failing."""
    emu = Emulator()
    chat = _chat(make_chat, emu)
    chat.send(_marked("p", 3))
    for turn in range(4):
        chat.send(_marked(f"t{turn}-", 3))
        chat.send(f"plain {turn}")
    requests = message_requests(emu)
    assert len(requests) == 9
    assert all(_breakpoints(r.body) <= 4 for r in requests)
    last_marked = requests[-2].body["messages"][-1]["content"]
    assert all(b.get("cache_control") for b in last_marked)  # the newest prompt's are kept


def test_caller_breakpoints_in_the_system_prompt_and_tools_are_counted(
    make_chat: ChatMaker,
) -> None:
    emu = Emulator()
    system = [{"type": "text", "text": SYSTEM, "cache_control": EPHEMERAL}]
    chat = make_chat(emu, system=system, tools=[{**WEATHER_TOOL, "cache_control": EPHEMERAL}])
    chat.send(_marked("a", 2))
    chat.send(_marked("b", 2))
    chat.send("and plain")
    requests = message_requests(emu)
    assert len(requests) == 3 and all(_breakpoints(r.body) <= 4 for r in requests)
    assert requests[-1].body["system"][0]["cache_control"] == EPHEMERAL
    assert requests[-1].body["tools"][0]["cache_control"] == EPHEMERAL


def test_a_prompt_that_alone_passes_four_is_refused_before_it_is_stored(
    make_chat: ChatMaker,
) -> None:
    emu = Emulator()
    chat = _chat(make_chat, emu)
    chat.send("hello")
    before = chat.history
    with pytest.raises(UserError, match="at most 4 cache breakpoints"):
        chat.send(_marked("p", 5))
    marked = make_chat(emu, system=[{"type": "text", "text": SYSTEM, "cache_control": EPHEMERAL}])
    with pytest.raises(UserError, match="cache breakpoints"):
        marked.send(_marked("p", 4))
    assert chat.history == before and chat.store.branch(chat.id or "") == before
    assert marked.id is None  # no conversation was created
    assert len(message_requests(emu)) == 1


def test_a_caller_1h_breakpoint_never_follows_one_of_our_5m_ones(make_chat: ChatMaker) -> None:
    """The API refuses a 1h entry after a 5m one (tools, then system, then messages)."""
    emu = Emulator()
    chat = _chat(make_chat, emu)
    hour = {"type": "ephemeral", "ttl": "1h"}
    chat.send([{"type": "text", "text": "a long brief", "cache_control": hour}])
    chat.send("and a follow-up")
    body = message_requests(emu)[-1].body
    assert body["system"][-1]["cache_control"] == hour  # ours, before the caller's 1h
    assert body["messages"][0]["content"][0]["cache_control"] == hour  # theirs, kept


def test_an_edit_to_a_prompt_with_five_breakpoints_is_refused(make_chat: ChatMaker) -> None:
    emu = Emulator()
    chat = _chat(make_chat, emu)
    reply = chat.send("hello")
    before = chat.store.all_messages(chat.id or "")
    with pytest.raises(UserError, match="cache breakpoints"):
        chat.edit(chat.history[0].id, _marked("p", 5))
    assert chat.store.all_messages(chat.id or "") == before
    assert chat.history[-1].id == reply.id
