"""The memory tool in the CLI: --memory and the memory config key, --thinking,
``claudechat memory list|show|rm|export|import`` and ``/memory`` in the REPL."""

from __future__ import annotations

import io
import json
from pathlib import Path

import anthropic
from emulated import sent_bodies, server_env
from rich.console import Console

from claudechat.cli.runtime import Runtime
from claudechat.cli.session import Session
from claudechat.config import Settings
from claudechat.store import MemoryStore, SQLiteStore
from claudechat.testing import Emulator, EmulatorServer, MemoryScript
from conftest import Run

NOTE = {"command": "create", "path": "/memories/prefs/coffee.md", "file_text": "cortado\n"}


def _serve(emulator_server: object, calls: list[dict[str, object]]) -> EmulatorServer:
    return emulator_server(Emulator(reply=MemoryScript(calls)))  # type: ignore[operator,no-any-return]


def test_ask_with_memory_keeps_the_file_and_memory_commands_show_it(
    run: Run, emulator_server: object, tmp_path: Path
) -> None:
    server = _serve(emulator_server, [NOTE])
    env = server_env(server)
    result = run("ask", "--memory", "shared", "remember my coffee", env=env)
    assert result.exit_code == 0, result.stderr
    assert "File created successfully at: /memories/prefs/coffee.md" in result.stdout
    assert {"type": "memory_20250818", "name": "memory"} in [
        {k: v for k, v in t.items() if k != "cache_control"}
        for t in sent_bodies(server)[0]["tools"]
    ]
    listed = run("memory", "list")
    assert listed.stdout.splitlines() == [
        "       dir  /memories/prefs/  [shared]",
        "       8 B  /memories/prefs/coffee.md  [shared]",
    ]
    shown = run("memory", "show", "prefs/coffee.md")
    assert (
        shown.stdout
        == "Here's the content of /memories/prefs/coffee.md with line numbers:\n     1\tcortado\n     2\t\n"
    )
    bad = run("memory", "show", "/memories/../etc/passwd")
    assert bad.exit_code == 2 and "would escape /memories directory" in bad.stderr
    exported = run("memory", "export", str(tmp_path / "mem.json"))
    assert exported.exit_code == 0
    assert run("memory", "rm", "prefs", "--yes").stdout == "deleted /memories/prefs (2 entries)\n"
    assert run("memory", "list").stderr == "no memories\n"
    imported = run("memory", "import", str(tmp_path / "mem.json"))
    assert imported.stdout == "imported 2 memories\n"
    assert run("memory", "show", "prefs/coffee.md").exit_code == 0
    assert run("memory", "rm", "nothing.md", "--yes").exit_code == 2


def test_the_memory_config_key_turns_it_on_and_a_conversation_tree_is_its_own(
    run: Run, emulator_server: object, tmp_path: Path
) -> None:
    server = _serve(emulator_server, [NOTE])
    assert run("config", "set", "memory", "conversation").exit_code == 0
    result = run("ask", "remember", env=server_env(server))
    assert result.exit_code == 0, result.stderr
    assert "[shared]" not in run("memory", "list").stdout
    assert run("memory", "list", "--shared").stderr == "no memories\n"
    with SQLiteStore(tmp_path / "chats.db") as store:
        cids = {e.conversation_id for e in store.all_memories("local")}
    [cid] = cids
    assert cid is not None
    assert "cortado" in run("memory", "show", "prefs/coffee.md", "--cid", cid).stdout
    assert run("memory", "show", "prefs/coffee.md").exit_code == 2  # not in the shared tree
    assert run("config", "set", "memory", "everywhere").exit_code == 2


def test_thinking_flag_and_default(run: Run, server: EmulatorServer) -> None:
    env = server_env(server)
    assert run("ask", "hi", env=env).exit_code == 0
    assert run("ask", "--thinking", "off", "hi", env=env).exit_code == 0
    assert run("ask", "-m", "claude-haiku-4-5", "--thinking", "2048", "hi", env=env).exit_code == 0
    thinking = [b.get("thinking") for b in sent_bodies(server)]
    assert thinking == [{"type": "adaptive"}, None, {"type": "enabled", "budget_tokens": 2048}]
    refused = run("ask", "-m", "claude-opus-4-7", "--thinking", "4096", "hi", env=env)
    assert refused.exit_code == 2
    assert "takes only adaptive thinking" in refused.stderr and len(sent_bodies(server)) == 3
    assert run("ask", "--thinking", "lots", "hi", env=env).exit_code == 2


def test_slash_memory_lists_and_shows_what_this_chat_sees() -> None:
    store = MemoryStore()
    emulator = Emulator(reply=MemoryScript([NOTE]))
    client = anthropic.Anthropic(api_key="test", http_client=emulator.http_client())
    runtime = Runtime(Settings(memory="shared"), env={}, client=client, store=store)
    buffer = io.StringIO()
    session = Session(runtime, runtime.new_chat(), Console(file=buffer, width=100,
                      color_system=None), plain=True)  # fmt: skip
    session.handle("/memory")
    assert "no memories yet" in buffer.getvalue()
    session.handle("remember")
    start = buffer.tell()
    session.handle("/memory")
    assert buffer.getvalue()[start:].splitlines() == [
        "       dir  /memories/prefs/  [shared]",
        "       8 B  /memories/prefs/coffee.md  [shared]",
    ]
    start = buffer.tell()
    session.handle("/memory prefs/coffee.md")
    assert "     1  cortado" in buffer.getvalue()[start:]  # the console expands the tab
    start = buffer.tell()
    session.handle("/memory ../secret")
    assert "Path /memories/../secret would escape /memories directory" in buffer.getvalue()[start:]
    assert isinstance(store, MemoryStore) and not isinstance(store, SQLiteStore)
    assert (
        json.dumps([e.path for e in store.all_memories("local")]) == '["prefs", "prefs/coffee.md"]'
    )
