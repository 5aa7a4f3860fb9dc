"""A database made by the claudechat before users (migrations 0001–0002, a conversation in
it) opened by this one: migration 0003 gives every conversation to ``local``."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from claudechat.messages import assistant, user
from claudechat.store import LOCAL_USER, ScopedStore, ServiceStore, SQLiteStore
from claudechat.store._rows import PathFigures, message_row
from claudechat.store._sql import _MSG_INSERT
from claudechat.store.migrations import load, migrate_postgres, migrate_sqlite

OLD_CONV = (
    "INSERT INTO conversations (id, title, created_at, updated_at, head_id, version, model, "
    "system, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
CID = "c" * 32


def fill_old(execute: Callable[[str, Sequence[Any]], Any]) -> list[str]:
    """Store one conversation of two messages as the claudechat before users did; returns
    the message ids."""
    q = user("an old question about otters", created_at=1.0)
    a = assistant("an old answer", parent_id=q.id, created_at=2.0)
    execute(OLD_CONV, (CID, "old chat", 1.0, 2.0, a.id, 2, "claude-sonnet-4-6", None, "{}"))
    figures = PathFigures()
    for m in (q, a):
        figures = figures.then(m)
        execute(_MSG_INSERT, (CID, *message_row(m, figures)))
    return [q.id, a.id]


def old_sqlite(path: Path) -> list[str]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        migrate_sqlite(conn, load("sqlite")[:2], clock=lambda: 1.0)
        conn.execute("BEGIN")
        ids = fill_old(conn.execute)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return ids


def old_postgres(conninfo: str) -> list[str]:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        migrate_postgres(conn, load("postgres")[:2], clock=lambda: 1.0, lock=1)
        with conn.transaction():
            return fill_old(lambda sql, args: conn.execute(sql.replace("?", "%s"), args))


def _check_owned_by_local(store: ServiceStore, ids: list[str]) -> None:
    [info] = store.list_conversations()
    assert info.conversation.id == CID and info.conversation.owner == LOCAL_USER
    assert (info.messages, info.turns) == (2, 1)
    assert [m.id for m in store.branch(CID)] == ids
    assert store.get_user(LOCAL_USER).name == LOCAL_USER
    assert [u.id for u in store.list_users()] == [LOCAL_USER]
    local = ScopedStore(store, LOCAL_USER)
    assert [h.conversation_id for h in local.search("otters")] == [CID]
    assert ScopedStore(store, "someone-else").search("otters") == []
    again = store.append(CID, user("and now?", parent_id=ids[-1]))
    assert again.owner == LOCAL_USER and again.version == 3


def test_an_old_sqlite_database_belongs_to_local(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    ids = old_sqlite(path)
    with SQLiteStore(path) as store:
        _check_owned_by_local(store, ids)
    with sqlite3.connect(path) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == [m.version for m in load("sqlite")] and 3 in versions


@pytest.mark.postgres
def test_an_old_postgres_database_belongs_to_local(pg_database: str) -> None:
    from claudechat.store.postgres import PostgresStore

    ids = old_postgres(pg_database)
    store = PostgresStore(pg_database, max_size=2)
    try:
        _check_owned_by_local(store, ids)
    finally:
        store.close()


def test_the_cli_keeps_working_on_an_old_database(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from claudechat.cli import cli

    path = tmp_path / "old.db"
    ids = old_sqlite(path)
    env = {
        "CLAUDECHAT_DB": str(path),
        "CLAUDECHAT_STORE": None,
        "CLAUDECHAT_CONFIG": str(tmp_path / "config.toml"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "ANTHROPIC_API_KEY": None,
        "ANTHROPIC_BASE_URL": None,
        "CLAUDECHAT_MODEL": None,
    }
    runner = CliRunner()
    listed = runner.invoke(cli, ["list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert '"title": "old chat"' in listed.stdout
    shown = runner.invoke(cli, ["show", CID], env=env)
    assert shown.exit_code == 0 and "otters" in shown.stdout
    asked = runner.invoke(cli, ["ask", "-c", "a follow-up"], env=env)
    assert asked.exit_code == 0, asked.output
    found = runner.invoke(cli, ["search", "otters"], env=env)
    assert found.exit_code == 0 and CID[:8] in found.stdout
    with SQLiteStore(path) as store:
        [info] = store.list_conversations()
        assert info.conversation.owner == LOCAL_USER and info.turns == 2
        assert [m.id for m in store.branch(CID)][:2] == ids
