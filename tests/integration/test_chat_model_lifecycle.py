"""A chat on a retired model is refused before anything is stored or sent."""

from __future__ import annotations

import pytest
from chats import ChatMaker

from claudechat import RetiredModel
from claudechat.store.memory import MemoryStore
from claudechat.testing import Emulator


def test_a_chat_on_a_retired_model_is_refused_before_anything_is_stored(
    make_chat: ChatMaker,
) -> None:
    emu, store = Emulator(), MemoryStore()
    with pytest.raises(RetiredModel, match="claude-mythos-5"):
        make_chat(emu, "claude-mythos-preview", store=store)  # retired on 2026-06-30
    assert store.list_conversations() == [] and emu.requests == []


def test_switching_to_a_retired_model_is_refused_and_keeps_the_old_one(
    make_chat: ChatMaker,
) -> None:
    emu = Emulator()
    chat = make_chat(emu)
    chat.send("hi")
    with pytest.raises(RetiredModel):
        chat.set_model(make_chat.model(emu, "claude-mythos-preview"))
    assert chat.model.name == "claude-sonnet-4-6"
    assert chat.conversation is not None and chat.conversation.model == "claude-sonnet-4-6"
