"""Numbered schema migrations, one ``<dialect>_<NNNN>_<name>.sql`` file each.

A package of such files is one schema: the store's (this package) or the search index's
(`claudechat.search.migrations`). On opening, its owner applies in order, in one
transaction, the migrations whose numbers its history table does not list yet
(``schema_migrations`` for the store), and records each one there; a database at a
number this claudechat does not know is refused.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ...errors import StoreError

__all__ = ["Migration", "load", "migrate_postgres", "migrate_sqlite", "split_sqlite"]

log = logging.getLogger("claudechat.store")

_NAME = re.compile(r"^(?P<dialect>[a-z]+)_(?P<version>\d{4})_(?P<name>\w+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its number, name and SQL."""

    version: int
    name: str
    sql: str


def load(dialect: str, *, package: str = __name__) -> list[Migration]:
    """The migrations of ``dialect`` ("sqlite" or "postgres") in ``package``, lowest
    number first."""
    out = []
    for entry in resources.files(package).iterdir():
        match = _NAME.match(entry.name)
        if match and match["dialect"] == dialect:
            out.append(Migration(int(match["version"]), match["name"], entry.read_text("utf-8")))
    out.sort(key=lambda m: m.version)
    if len({m.version for m in out}) != len(out):
        raise RuntimeError(f"two {dialect} migrations share a number")
    return out


def split_sqlite(sql: str) -> list[str]:
    """Split a script into statements (triggers' inner semicolons kept), comments dropped."""
    out: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current.append(line)
        text = "\n".join(current)
        if sqlite3.complete_statement(text):
            out.append(text.strip())
            current = []
    if "\n".join(current).strip():
        raise ValueError("the migration ends inside a statement")
    return out


def _apply(
    execute: Callable[..., Any],
    migrations: Sequence[Migration],
    *,
    dialect: str,
    clock: Callable[[], float],
    table: str,
    what: str,
) -> list[int]:
    """Inside the caller's transaction: create ``table``, refuse a newer schema, apply
    what ``table`` does not list and record it there."""
    real, mark = ("REAL", "?") if dialect == "sqlite" else ("DOUBLE PRECISION", "%s")
    execute(
        f"CREATE TABLE IF NOT EXISTS {table} "
        f"(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at {real} NOT NULL)"
    )
    done = {r[0] for r in execute(f"SELECT version FROM {table}")}
    known = max((m.version for m in migrations), default=0)
    if done and max(done) > known:
        raise StoreError(
            f"{what} at schema version {max(done)}, newer than this claudechat knows "
            f"({known}): upgrade claudechat"
        )
    applied = []
    for m in migrations:
        if m.version in done:
            continue
        for statement in split_sqlite(m.sql) if dialect == "sqlite" else [m.sql.encode()]:
            execute(statement)
        execute(
            f"INSERT INTO {table} VALUES ({mark}, {mark}, {mark})", (m.version, m.name, clock())
        )
        applied.append(m.version)
        log.info("%s %s: applied migration %04d %s", dialect, table, m.version, m.name)
    return applied


def migrate_sqlite(
    conn: sqlite3.Connection,
    migrations: Sequence[Migration],
    *,
    clock: Callable[[], float],
    table: str = "schema_migrations",
    what: str = "the database is",
) -> list[int]:
    """Apply the migrations not yet in ``table``, all in one transaction (``BEGIN
    IMMEDIATE``: a second connection waits, then finds nothing to do). A database that
    already has exactly these migrations is only read: opening it takes no write lock."""
    if _applied_sqlite(conn, table) == {m.version for m in migrations}:
        return []
    conn.execute("BEGIN IMMEDIATE")
    try:
        applied = _apply(
            conn.execute, migrations, dialect="sqlite", clock=clock, table=table, what=what
        )
        conn.execute("COMMIT")
        return applied
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _applied_sqlite(conn: sqlite3.Connection, table: str) -> set[int] | None:
    """The versions ``table`` records, read without a write lock (None before it exists)."""
    try:
        return {int(row[0]) for row in conn.execute(f"SELECT version FROM {table}")}
    except sqlite3.OperationalError:  # no such table: a new database
        return None


def migrate_postgres(
    conn: Any,
    migrations: Sequence[Migration],
    *,
    clock: Callable[[], float],
    lock: int,
    table: str = "schema_migrations",
    what: str = "the database is",
) -> list[int]:
    """Apply the migrations not yet in ``table`` on a psycopg connection, in one
    transaction, under advisory lock ``lock`` (a second server waits, then finds nothing
    to do)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
        return _apply(
            conn.execute, migrations, dialect="postgres", clock=clock, table=table, what=what
        )
