"""The memory tool in a chat's turn loop, through the real SDK and the emulator, sync and
async: the scripted model issues memory calls, the chat runs them on its store and sends
the results back; the tree is shared by the owner's conversations or kept to one."""

from __future__ import annotations

from pathlib import Path

import pytest
from chats import SONNET, ChatMaker, message_requests

from claudechat.errors import UserError
from claudechat.store import SQLiteStore
from claudechat.testing import Emulator, MemoryScript

REMEMBER = [
    {"command": "view", "path": "/memories"},
    {"command": "create", "path": "/memories/prefs.md", "file_text": "coffee: flat white\n"},
    {
        "command": "str_replace",
        "path": "/memories/prefs.md",
        "old_str": "flat white",
        "new_str": "cortado",
    },
    {"command": "view", "path": "/memories/../etc/passwd"},
]


def test_a_chat_runs_every_memory_call_and_keeps_the_files(
    make_chat: ChatMaker, tmp_path: Path
) -> None:
    store = SQLiteStore(tmp_path / "chat.db")
    script = MemoryScript(REMEMBER)
    emu = Emulator(reply=script)
    chat = make_chat(emu, SONNET, store=store, memory="shared")
    reply = chat.send("Remember that I drink cortado now.")
    assert reply.text.startswith("Memory results:")
    first = message_requests(emu)[0].body
    tools = [{k: v for k, v in t.items() if k != "cache_control"} for t in first["tools"]]
    assert tools == [{"type": "memory_20250818", "name": "memory"}]
    assert [bad for bad, _ in script.results] == [False, False, False, True]
    assert script.results[1][1] == "File created successfully at: /memories/prefs.md"
    assert script.results[3][1] == "Path /memories/../etc/passwd would escape /memories directory"
    [entry] = store.all_memories("local")
    assert (entry.path, entry.content, entry.conversation_id) == (
        "prefs.md", "coffee: cortado\n", None)  # fmt: skip
    stored = [b for m in chat.history for b in m.content if b.get("type") == "tool_result"]
    assert [bool(b.get("is_error")) for b in stored] == [False, False, False, True]
    store.close()


def test_shared_memories_reach_the_next_conversation_and_own_ones_do_not(
    make_chat: ChatMaker, tmp_path: Path
) -> None:
    store = SQLiteStore(tmp_path / "chat.db")
    note = {"command": "create", "path": "/memories/n.md", "file_text": "n"}
    look = {"command": "view", "path": "/memories/n.md"}
    for scope, seen in (("shared", True), ("conversation", False)):
        store.delete_memory("local", None, "n.md")
        first = make_chat(Emulator(reply=MemoryScript([note])), SONNET, store=store,
                          memory=scope)  # fmt: skip
        first.send("note it")
        script = MemoryScript([look])
        second = make_chat(Emulator(reply=script), SONNET, store=store, memory=scope)
        second.send("what did I note?")
        assert script.results[0][0] is (not seen), scope
        if scope == "conversation":
            [own] = store.memories("local", first.id)
            assert own.path == "n.md"
    store.close()


def test_memory_off_sends_no_memory_tool_and_a_bad_scope_is_refused(make_chat: ChatMaker) -> None:
    emu = Emulator(script=["hi"])
    make_chat(emu, SONNET).send("hello")
    assert "tools" not in message_requests(emu)[0].body
    with pytest.raises(UserError, match="memory must be one of off, conversation, shared"):
        make_chat(emu, SONNET, memory="everywhere")


def test_the_emulator_refuses_a_memory_tool_not_named_memory(make_chat: ChatMaker) -> None:
    emu = Emulator(script=["hi"])
    chat = make_chat(emu, SONNET, tools=[{"type": "memory_20250818", "name": "notes"}])
    with pytest.raises(Exception, match="Input should be 'memory'"):
        chat.send("hello")
