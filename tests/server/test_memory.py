"""The memory tool on the service (``ServerSettings(memory=…)``, ``CLAUDECHAT_MEMORY``):
each user's memories are their own, shared by their conversations, never another's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from service import Service, add_member, start_service

from claudechat.config import MEMORY_SCOPES as CONFIG_SCOPES
from claudechat.errors import ConfigError
from claudechat.memorytool import MEMORY_SCOPES
from claudechat.server import ServerSettings
from claudechat.testing import MemoryScript


@pytest.fixture
def memory_service(tmp_path: Path) -> Iterator[Service]:
    service = start_service(tmp_path / "chats.db", memory="shared")
    try:
        yield service
    finally:
        service.stop()


def _turn(service: Service, headers: dict[str, str], script: MemoryScript) -> str:
    service.emulator.reply_function = script
    with service.client(**headers) as c:
        cid = c.post("/v1/conversations", json={"title": "t"}).json()["id"]
        r = c.post(f"/v1/conversations/{cid}/messages", json={"content": "hi", "stream": False})
        assert r.status_code == 200, r.text
    return str(cid)


def test_memories_are_shared_by_a_users_conversations_and_kept_from_others(
    memory_service: Service,
) -> None:
    alice = add_member(memory_service, "alice")
    bob = add_member(memory_service, "bob")
    note = {"command": "create", "path": "/memories/alice.md", "file_text": "tea"}
    look = {"command": "view", "path": "/memories/alice.md"}
    _turn(memory_service, alice.headers, MemoryScript([note]))
    again = MemoryScript([look])
    _turn(memory_service, alice.headers, again)  # a second conversation of alice's
    assert again.results == [(False, "Here's the content of /memories/alice.md with line "
                                     "numbers:\n     1\ttea")]  # fmt: skip
    theirs = MemoryScript([look, {"command": "view", "path": "/memories"}])
    _turn(memory_service, bob.headers, theirs)
    assert theirs.results[0] == (
        True, "The path /memories/alice.md does not exist. Please provide a valid path.")  # fmt: skip
    assert theirs.results[1][1].splitlines()[1:] == ["0B\t/memories"]
    store = memory_service.store
    assert [e.path for e in store.all_memories(alice.id)] == ["alice.md"]
    assert store.all_memories(bob.id) == []


def test_the_setting_comes_from_the_environment_and_is_checked() -> None:
    assert CONFIG_SCOPES == MEMORY_SCOPES
    assert ServerSettings.from_env({"CLAUDECHAT_MEMORY": "shared"}).memory == "shared"
    assert ServerSettings.from_env({}).memory == "off"
    with pytest.raises(ConfigError, match="memory must be one of"):
        ServerSettings.from_env({"CLAUDECHAT_MEMORY": "everyone"})
