"""``claudechat cost ID --misses``: each prompt-cache miss with its reason and cost."""

from __future__ import annotations

import json
import re
from pathlib import Path

from claudechat import Chat
from claudechat.store.sqlite import SQLiteStore
from claudechat.testing import Emulator, offline_client
from conftest import Run

WORDS = " ".join(f"word{i}" for i in range(1500))


def _conversation(db: Path) -> str:
    """A conversation whose system prompt changed (a top-level change on Sonnet 4.6)."""
    store = SQLiteStore(str(db))
    chat = Chat("claude-sonnet-4-6", client=offline_client(Emulator()), store=store,
                system="First prompt. " + WORDS)  # fmt: skip
    chat.send("one")
    chat.send("two")
    chat.system = "Second prompt. " + WORDS
    chat.send("three")
    assert chat.id is not None
    store.close()
    return chat.id


def test_misses_are_listed_with_reason_and_cost(run: Run, tmp_path: Path) -> None:
    cid = _conversation(tmp_path / "chats.db")
    result = run("cost", cid, "--misses")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"conversation {cid}, 1 cache misses"
    assert re.search(r"system_changed\s+[\d,]+ tokens\s+\$0\.\d{4}\s+claude-sonnet-4-6", lines[1])
    assert lines[2].startswith("total: ")
    data = json.loads(run("cost", cid, "--misses", "--json").stdout)
    [miss] = data["misses"]
    assert miss["reason"] == "system_changed" and miss["missed_tokens"] > 1000
    # Sonnet 4.6: $3 input against $0.30 cache read per million tokens.
    assert miss["cost_usd"] == miss["missed_tokens"] * 2.7 / 1_000_000 == data["cost_usd"]


def test_misses_needs_a_conversation(run: Run) -> None:
    result = run("cost", "--misses")
    assert result.exit_code == 2 and "--misses needs a conversation ID" in result.output
