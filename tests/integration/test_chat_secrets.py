"""The API key never lands in the database, its WAL, an export or the logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from chats import ChatMaker

from claudechat import ModelError
from claudechat.store import SQLiteStore, export_json, export_markdown
from claudechat.testing import Emulator, Fault

SENTINEL = "sk-ant-api03-SENTINEL-7f3a9c1e5b2d4f60-do-not-store"


def test_the_api_key_is_never_stored_exported_or_logged(
    make_chat: ChatMaker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SENTINEL)
    for name in (None, "anthropic", "httpx2", "claudechat"):
        caplog.set_level(logging.DEBUG, logger=name)
    emu = Emulator(api_key=SENTINEL)  # only the key from the environment is accepted
    sdk = make_chat.client(emu, api_key=None)
    store = SQLiteStore(tmp_path / "chat.db")
    chat = make_chat(model="claude-sonnet-4-6", client=sdk, store=store, system="Be brief.")
    chat.send("hello")
    list(chat.stream("stream this"))
    errors: list[str] = []
    for fault in (Fault.status(429, retry_after=1), Fault.midstream_error(after_events=5)):
        emu.inject(fault)
        with pytest.raises(ModelError) as info:
            list(chat.stream("and this"))
        errors += [str(info.value), repr(info.value), repr(info.value.__cause__)]
    chat.send("last one")
    headers = emu.requests[0].headers  # the key from the environment was really used
    assert SENTINEL in (headers.get("x-api-key"), headers.get("authorization", "")[7:])
    assert chat.id is not None

    secret = SENTINEL.encode()
    files = sorted(tmp_path.iterdir())
    assert any(f.name.endswith("-wal") for f in files)  # the WAL is there to be checked
    for f in files:
        assert secret not in f.read_bytes(), f"the API key is in {f.name}"
    exported = export_json(store, chat.id) + export_markdown(store, chat.id)
    assert "hello" in exported and SENTINEL not in exported
    assert SENTINEL not in json.dumps([m.to_dict() for m in store.all_messages(chat.id)])
    assert caplog.records, "the SDK's debug logs were captured"
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert SENTINEL not in logged
    assert all(SENTINEL not in e for e in errors)
    store.close()
    for f in sorted(tmp_path.iterdir()):
        assert secret not in f.read_bytes(), f"the API key is in {f.name}"
