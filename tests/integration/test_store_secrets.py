"""The API key never reaches the database files, an export, or a log line."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest

from claudechat.messages import Message, assistant, user
from claudechat.store import (
    SQLiteStore,
    Store,
    Summary,
    export_json,
    export_markdown,
    import_conversation,
)
from claudechat.usage import Usage

SENTINEL = f"sk-ant-api03-SENTINEL-{uuid.uuid4().hex}"


def _converse(store: Store) -> str:
    conv = store.create_conversation(title="Secrets?", model="claude-sonnet-4-6", system="S")
    parent: Message | None = None
    for i in range(5):
        u = user(f"question {i}", parent_id=parent.id if parent else None)
        store.append(conv.id, u)
        call = assistant(
            [{"type": "thinking", "thinking": "hm", "signature": f"sig{i}"},
             {"type": "tool_use", "id": f"t{i}", "name": "lookup", "input": {"q": i}}],
            parent_id=u.id, model="claude-sonnet-4-6", stop_reason="tool_use",
            usage=Usage(input_tokens=100, output_tokens=10, cache_read_tokens=50, requests=1),
        )  # fmt: skip
        store.append(conv.id, call)
        res = user([{"type": "tool_result", "tool_use_id": f"t{i}", "content": "ok"}],
                   parent_id=call.id)  # fmt: skip
        store.append(conv.id, res)
        parent = assistant(f"answer {i}", parent_id=res.id, model="claude-sonnet-4-6",
                           usage=Usage(input_tokens=120, output_tokens=30, requests=1))  # fmt: skip
        store.append(conv.id, parent)
    first = store.all_messages(conv.id)
    store.add_summary(Summary(uuid.uuid4().hex, conv.id, "sum", first[0].id, first[3].id, 1.0))
    store.search("answer")
    store.list_conversations()
    return conv.id


def test_api_key_is_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SENTINEL)
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "chat.db"
    store = SQLiteStore(db)
    cid = _converse(store)
    (tmp_path / "out.json").write_text(export_json(store, cid), encoding="utf-8")
    (tmp_path / "out.md").write_text(export_markdown(store, cid), encoding="utf-8")
    import_conversation(store, (tmp_path / "out.json").read_text(encoding="utf-8"))
    files = [p for p in tmp_path.iterdir() if p.is_file()]
    assert {"chat.db", "chat.db-wal", "out.json", "out.md"} <= {p.name for p in files}
    for path in files:  # the WAL still holds the recent pages: scan it before closing
        assert SENTINEL.encode() not in path.read_bytes(), path
    store.close()
    assert SENTINEL.encode() not in db.read_bytes()
    assert "applied migration" in caplog.text  # the store did log; the key is not in it
    assert SENTINEL not in caplog.text


@pytest.mark.postgres
def test_api_key_is_not_in_postgres(
    pg_database: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from claudechat.store.postgres import PostgresStore

    monkeypatch.setenv("ANTHROPIC_API_KEY", SENTINEL)
    caplog.set_level(logging.DEBUG)
    store = PostgresStore(pg_database)
    try:
        cid = _converse(store)
        assert SENTINEL not in export_json(store, cid) + export_markdown(store, cid)
        with store._tx("scan") as db:
            for table in ("conversations", "messages", "summaries", "schema_migrations"):
                rows = db.execute(f"SELECT t::text FROM {table} AS t").fetchall()
                assert rows and not any(SENTINEL in r[0] for r in rows), table
    finally:
        store.close()
    assert SENTINEL not in caplog.text
