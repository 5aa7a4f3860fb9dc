"""Everything knowable locally is refused before anything is stored or sent, with UserError."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import pytest
from chats import HAIKU, SONNET, ChatMaker, message_requests

from claudechat import AsyncChat, Chat, ToolDefinitionError, UserError
from claudechat.store.sqlite import SQLiteStore
from claudechat.testing import Emulator, EmuRequest
from claudechat.tools import Tool

NOT_UTF8 = b"caf\xe9 \xff".decode("utf-8", "surrogateescape")  # binary stdin, decoded leniently
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
BIG = base64.b64encode(b"\x89PNG" + b"\x00" * (4 * 1024 * 1024)).decode()  # 5.3 MB of base64


def _image(data: str, media_type: str = "image/png") -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _nothing_happened(emu: Emulator, store: SQLiteStore) -> None:
    assert store.list_conversations() == []
    assert emu.requests == []


@pytest.mark.parametrize(
    "prompt",
    [
        NOT_UTF8,
        "lone \ud800 surrogate",
        "a NUL \x00 in the middle",
        [{"type": "text", "text": "look"}, _image("not base64!")],
        [{"type": "text", "text": "look"}, _image(PNG, "image/bmp")],
        [{"type": "text", "text": "look"}, _image(BIG)],
        [{"type": "text", "text": "x", "meta": float("nan")}],
        [{"type": "text", "text": "x", "meta": b"raw bytes"}],
    ],
    ids=["binary", "surrogate", "nul", "bad-base64", "bad-media-type", "over-5-mb", "nan", "bytes"],
)
@pytest.mark.parametrize("stream", [False, True])
def test_a_prompt_no_store_or_api_can_take_is_refused_before_storing(
    make_chat: ChatMaker, prompt: Any, stream: bool, store: SQLiteStore
) -> None:
    emu = Emulator()
    chat = make_chat(emu, store=store)
    with pytest.raises(UserError, match="prompt"):
        if stream:
            list(chat.stream(prompt))
        else:
            chat.send(prompt)
    _nothing_happened(emu, store)
    assert chat.send("still fine").text.startswith("Emulator reply")


def test_a_tool_result_holding_undecodable_text_is_refused(
    make_chat: ChatMaker, store: SQLiteStore
) -> None:
    emu = Emulator()
    chat = make_chat(emu, store=store)
    chat.send("list files")
    before = [m.id for m in store.all_messages(chat.id or "")]
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": NOT_UTF8}
    with pytest.raises(UserError, match="not valid Unicode"):
        chat.send([result, {"type": "text", "text": "here"}])
    assert [m.id for m in store.all_messages(chat.id or "")] == before
    assert len(message_requests(emu)) == 1


def test_a_valid_base64_image_is_sent(make_chat: ChatMaker) -> None:
    emu = Emulator()
    chat = make_chat(emu)
    chat.send([{"type": "text", "text": "what is this?"}, _image(PNG)])
    assert message_requests(emu)[0].body["messages"][0]["content"][1]["source"]["data"] == PNG


def test_a_system_prompt_that_is_not_text_is_refused(
    make_chat: ChatMaker, store: SQLiteStore
) -> None:
    emu = Emulator()
    with pytest.raises(UserError, match="system"):
        make_chat(emu, store=store, system=NOT_UTF8)
    chat = make_chat(emu, store=store, system="Be brief.")
    with pytest.raises(UserError, match="system"):
        chat.system = "lone \udc80"
    assert chat.system == "Be brief."
    _nothing_happened(emu, store)


def test_max_tokens_over_the_models_cap_is_refused_at_construction(
    make_chat: ChatMaker, store: SQLiteStore
) -> None:
    emu = Emulator()
    with pytest.raises(UserError, match="output limit of 128,000"):
        make_chat(emu, SONNET, store=store, max_tokens=200_000)
    _nothing_happened(emu, store)


def test_switching_to_a_model_whose_cap_is_below_max_tokens_is_refused(
    make_chat: ChatMaker,
    store: SQLiteStore,
) -> None:
    emu = Emulator()
    chat = make_chat(emu, SONNET, store=store, max_tokens=100_000)
    chat.send("hi")
    with pytest.raises(UserError, match="64,000"):
        chat.set_model(make_chat.model(emu, HAIKU))
    assert chat.model.name == SONNET
    assert store.get_conversation(chat.id or "").model == SONNET
    assert len(message_requests(emu)) == 1


def test_a_budget_too_small_for_the_prompt_stores_and_sends_nothing(
    make_chat: ChatMaker, store: SQLiteStore
) -> None:
    emu = Emulator()
    chat = make_chat(emu, store=store, budget=10, system="You are a careful assistant.")
    with pytest.raises(UserError, match="budget"):
        chat.send("a prompt that cannot fit in ten tokens with its system prompt")
    _nothing_happened(emu, store)


@pytest.mark.parametrize(
    "too_big",
    [
        pytest.param(lambda chat, text: chat.send(text), id="send"),
        pytest.param(lambda chat, text: chat.edit(chat.history[0].id, text), id="edit"),
    ],
)
def test_a_turn_too_big_for_the_budget_later_stores_nothing_and_keeps_the_branch(
    make_chat: ChatMaker, store: SQLiteStore, too_big: Callable[[Chat, str], object]
) -> None:
    emu = Emulator()
    chat = make_chat(emu, store=store, budget=200)
    chat.send("short")
    before = (store.all_messages(chat.id or ""), chat.history)
    with pytest.raises(UserError, match="budget"):
        too_big(chat, "word " * 400)
    assert (store.all_messages(chat.id or ""), chat.history) == before
    assert len(message_requests(emu)) == 1


@pytest.mark.parametrize("name", ["bad name; rm -rf /", "../../etc/passwd", "", "x" * 129, 42])
def test_a_bad_tool_name_in_a_raw_schema_is_refused_locally(
    make_chat: ChatMaker, name: Any
) -> None:
    emu = Emulator()
    with pytest.raises(ToolDefinitionError, match="tool name"):
        make_chat(emu, tools=[{"name": name, "input_schema": {"type": "object"}}])
    assert emu.requests == []


def test_a_bad_tool_name_in_a_tool_object_is_refused_locally(make_chat: ChatMaker) -> None:
    def ls() -> str:
        """List files."""
        return "a b"

    schema = {"name": "../../etc/passwd", "input_schema": {"type": "object"}}
    with pytest.raises(ToolDefinitionError, match="tool name"):
        make_chat(Emulator(), SONNET, tools=[Tool(ls, schema)])


def test_two_raw_schemas_with_one_name_are_refused(make_chat: ChatMaker) -> None:
    schema = {"name": "ls", "input_schema": {"type": "object"}}
    with pytest.raises(ToolDefinitionError, match="two tools"):
        make_chat(Emulator(), tools=[schema, dict(schema)])


def test_a_tool_returning_undecodable_text_gives_claude_an_error_result(
    make_chat: ChatMaker,
    store: SQLiteStore,
) -> None:
    def cat() -> str:
        """Read a file."""
        return NOT_UTF8

    def model(request: EmuRequest) -> Any:
        last = request.messages[-1]["content"]
        if last[0].get("type") == "tool_result":
            return "ok"
        return [{"type": "tool_use", "name": "cat", "input": {}}]

    emu = Emulator(reply=model)
    chat = make_chat(emu, store=store, tools=[cat])
    assert chat.send("read it").text == "ok"
    result = store.branch(chat.id or "")[2].content[0]
    assert result["is_error"] is True and "not valid Unicode" in result["content"]


def test_a_prefill_that_is_not_valid_text_is_refused(
    make_chat: ChatMaker, store: SQLiteStore
) -> None:
    emu = Emulator()
    chat = make_chat(emu, HAIKU, store=store)
    with pytest.raises(UserError, match="prefill"):
        chat.send("answer in JSON", prefill="{\ud800")
    _nothing_happened(emu, store)


def test_async_chat_refuses_the_same_prompts_before_storing(
    make_async_chat: Callable[..., AsyncChat], store: SQLiteStore
) -> None:
    emu = Emulator()
    chat = make_async_chat(emu, store=store, budget=50)

    async def turns() -> None:
        with pytest.raises(UserError, match="not valid Unicode"):
            await chat.send(NOT_UTF8)
        with pytest.raises(UserError, match="budget"):
            await chat.send("word " * 200)

    asyncio.run(turns())
    _nothing_happened(emu, store)
