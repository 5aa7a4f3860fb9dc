"""The two kinds the conversation tests run against are the chats they name."""

from __future__ import annotations

from chats import ChatKind, ChatMaker

from claudechat import AsyncChat, Chat
from claudechat.models.anthropic import AnthropicModel, AsyncAnthropicModel
from claudechat.testing import Emulator


def test_each_kind_is_the_chat_it_names(make_chat: ChatMaker, chat_kind: ChatKind) -> None:
    emu = Emulator()
    chat = make_chat(emu)
    if chat_kind == "async":
        assert type(chat.wrapped) is AsyncChat
        assert type(chat.model) is AsyncAnthropicModel
    else:
        assert type(chat) is Chat
        assert type(chat.model) is AnthropicModel
    assert chat.send("hi").text.startswith("Emulator reply #1")
    chat.max_tokens = 77  # attribute writes reach the chat that sends
    assert chat.send("again").text
    assert emu.requests[-1].body["max_tokens"] == 77
