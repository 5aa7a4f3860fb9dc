"""Typed errors, and nothing written, for imports and text no store can hold, and a full disk."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_store_contract import make_store

from claudechat.errors import InvalidImport, StoreError, UserError
from claudechat.messages import assistant, user
from claudechat.search import SearchUnit, SQLiteIndex
from claudechat.store import Store, Summary, export_conversation, import_conversation
from claudechat.usage import Usage

SQL_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
KINDS = ["memory", *SQL_KINDS]


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = make_store(request.param, tmp_path, request)
    yield s
    s.close()


@pytest.fixture(params=SQL_KINDS)
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = make_store(request.param, tmp_path, request)
    yield s
    s.close()


def _export(store: Store) -> dict[str, Any]:
    conv = store.create_conversation(title="source", model="claude-sonnet-4-6")
    question = user("hello")
    store.append(conv.id, question)
    answer = assistant(
        "hi", parent_id=question.id, usage=Usage(input_tokens=5, output_tokens=2, requests=1)
    )
    store.append(conv.id, answer)
    store.add_summary(
        Summary("s1", conv.id, "said hello", question.id, answer.id, created_at=1.0, tokens=3)
    )
    data = export_conversation(store, conv.id)
    store.delete_conversation(conv.id)
    return data


def _spoil(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    spoiled = json.loads(json.dumps(data))
    *parents, last = path.split(".")
    target: Any = spoiled
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    target[int(last) if isinstance(target, list) else last] = value
    return spoiled


def _as_text(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False)  # NaN, Infinity and big ints as Python writes them


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("messages.0.created_at", 10**400, "not a time"),
        ("messages.0.created_at", float("nan"), "not a JSON number"),
        ("messages.1.created_at", float("inf"), "not a JSON number"),
        ("conversation.created_at", 10**400, "not a time"),
        ("conversation.updated_at", float("nan"), "not a JSON number"),
        ("summaries.0.created_at", -(10**30), "not a time"),
        ("conversation.version", 10**30, "out of range"),
        ("summaries.0.tokens", 2**63, "out of range"),
        ("messages.1.usage.input_tokens", 10**25, "out of range"),
        ("messages.1.content.0.text", "lone \ud800", "not valid Unicode"),
        ("conversation.title", "\udcff", "not valid Unicode"),
        ("messages.0.content.0.extra", float("nan"), "not a JSON number"),
    ],
)
def test_a_bad_number_or_text_in_an_import_is_invalid_import_and_nothing_is_stored(
    store: Store, path: str, value: Any, problem: str
) -> None:
    data = _spoil(_export(store), path, value)
    with pytest.raises(InvalidImport, match=problem):
        import_conversation(store, _as_text(data))
    with pytest.raises(InvalidImport, match=problem):
        import_conversation(store, data)  # already parsed: the same checks
    assert store.list_conversations() == []


@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_deeply_nested_json_is_invalid_import(store: Store, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    text = '{"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "n": '
    with pytest.raises(InvalidImport, match="nested"):
        import_conversation(store, text + nested + "}]}]}")
    with pytest.raises(InvalidImport, match="nested"):
        import_conversation(store, nested)
    assert store.list_conversations() == []


def test_a_good_export_still_imports(store: Store) -> None:
    data = _export(store)
    conv = import_conversation(store, _as_text(data))
    assert [m.text for m in store.branch(conv.id)] == ["hello", "hi"]


@pytest.mark.parametrize("text", ["lone \ud800", "caf\udce9"])
def test_a_sql_store_refuses_text_it_cannot_encode_with_user_error(
    sql_store: Store, text: str
) -> None:
    with pytest.raises(UserError, match="not valid Unicode"):
        sql_store.create_conversation(title=text)
    assert sql_store.list_conversations() == []
    conv = sql_store.create_conversation(title="fine")
    first = user("hello")
    sql_store.append(conv.id, first)
    with pytest.raises(UserError, match="not valid Unicode"):
        sql_store.append(conv.id, user(text, parent_id=first.id))
    with pytest.raises(UserError, match="not valid Unicode"):
        sql_store.update_conversation(conv.id, title=text)
    assert [m.text for m in sql_store.branch(conv.id)] == ["hello"]
    assert sql_store.get_conversation(conv.id).title == "fine"


def test_a_full_disk_under_the_search_index_is_a_store_error(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "index.db")
    index = SQLiteIndex(conn)
    index.add([SearchUnit("u1", "c1", "a short turn")])
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # the file can grow no more: SQLITE_FULL
    with pytest.raises(StoreError, match="full"):
        index.add([SearchUnit(f"u{i}", "c1", "word " * 2_000) for i in range(2, 40)])
    assert len(index) == 1  # the failed add was rolled back whole
    conn.close()


@pytest.mark.postgres
def test_a_lost_connection_under_the_postgres_search_index_is_a_store_error(
    pg_database: str,
) -> None:
    import psycopg

    from claudechat.search.postgres import PostgresIndex

    index = PostgresIndex(pg_database)
    pid = index.connection.execute("SELECT pg_backend_pid()").fetchone()[0]
    index.connection.commit()
    with psycopg.connect(pg_database, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(StoreError, match="PostgreSQL search index"):
        index.add([SearchUnit("u1", "c1", "a turn")])
    index.close()
