"""`SQLiteIndex`: FTS5 (bm25() ranking) and float32 vector BLOBs inside a SQLite database.

Its tables are its own (``search_*``, made by the numbered migrations of
`claudechat.search.migrations`, recorded in ``search_migrations``), so it can live in the
conversation store's database file or in one of its own.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from claudechat.search._rows import or_query_terms, unit_from_row, unit_values
from claudechat.search._units import SearchUnit
from claudechat.search.base import IndexOptions, RankedIndex, Scope
from claudechat.search.dense import from_blob, to_blob
from claudechat.search.embedders import Vectors
from claudechat.store.migrations import load, migrate_sqlite
from claudechat.store.sqlite import sqlite_errors

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["SQLiteIndex"]

MIGRATIONS = "claudechat.search.migrations"


_errors = functools.partial(sqlite_errors, what="SQLite search index")


_UNIT_COLUMNS = "id, conversation_id, message_ids, speaker, created_at, text, key, previous"


class SQLiteIndex(RankedIndex):
    """Turns indexed in SQLite: FTS5 for BM25, a BLOB per vector for exact dense search.

    ``database`` is a path or an open connection (shared with the store, for instance);
    each `add` / `delete` commits. FTS5 term statistics cover the whole table.

    ``writer``, when given, is where the writes go instead: a context manager that yields a
    connection to the same file inside a transaction it commits on leaving -- a store's
    `SQLiteStore.write_connection`, so that the index's writes share the store's commits
    rather than contend with them for the file's one write lock.
    """

    def __init__(
        self,
        database: str | Path | sqlite3.Connection,
        *,
        writer: Callable[[], AbstractContextManager[sqlite3.Connection]] | None = None,
        **options: Unpack[IndexOptions],
    ) -> None:
        super().__init__(**options)
        self._writer = writer or self._own_transaction
        owned = not isinstance(database, sqlite3.Connection)
        self._conn = (
            database if isinstance(database, sqlite3.Connection) else sqlite3.connect(database)
        )
        self._matrix_cache: dict[Scope, tuple[list[str], Vectors]] = {}
        self._cache_version: int | None = None
        try:
            self._migrate()
        except BaseException:
            if owned:
                self._conn.close()
            raise

    def _migrate(self) -> None:
        """Bring the search tables up to date (a transaction the caller left open on a
        shared connection is committed first, as ``executescript`` would)."""
        with _errors("create tables"):
            if self._conn.in_transaction:
                self._conn.commit()
            migrate_sqlite(
                self._conn,
                load("sqlite", package=MIGRATIONS),
                clock=time.time,
                table="search_migrations",
                what="the search tables are",
            )

    @property
    def connection(self) -> sqlite3.Connection:
        """The SQLite connection the index uses."""
        return self._conn

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    @contextmanager
    def _own_transaction(self) -> Iterator[sqlite3.Connection]:
        """The index's own connection in a transaction, committed on leaving."""
        with self._conn:
            yield self._conn

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM search_units").fetchone()[0])

    def add(self, units: Sequence[SearchUnit]) -> None:
        """Index ``units`` (a unit whose id is already indexed is replaced), then commit."""
        vectors = self._embed_units(units)
        with _errors("add"), self._writer() as conn:
            self._delete(conn, [u.id for u in units])
            for row, unit in enumerate(units):
                terms = " ".join(self.tokenizer(unit.index_text))
                cursor = conn.execute(
                    f"INSERT INTO search_units ({_UNIT_COLUMNS}, terms) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*unit_values(unit), terms),
                )
                if vectors is not None:
                    assert self.embedder is not None
                    conn.execute(
                        "INSERT INTO search_vectors (unit_rowid, model, dim, vector) "
                        "VALUES (?, ?, ?, ?)",
                        (cursor.lastrowid, self.embedder.name, self.embedder.dim,
                         to_blob(vectors[row])),
                    )  # fmt: skip
        self._matrix_cache.clear()

    def delete(self, unit_ids: Iterable[str]) -> int:
        """Remove units by id; returns how many were there."""
        with _errors("delete"), self._writer() as conn:
            count = self._delete(conn, list(unit_ids))
        self._matrix_cache.clear()
        return count

    def delete_conversation(self, conversation_id: str) -> int:
        """Remove every unit of one conversation (before a rebuild); returns how many."""
        with _errors("delete"), self._writer() as conn:
            cursor = conn.execute(
                "DELETE FROM search_units WHERE conversation_id = ?", (conversation_id,)
            )
        self._matrix_cache.clear()
        return cursor.rowcount

    @staticmethod
    def _delete(conn: sqlite3.Connection, unit_ids: list[str]) -> int:
        count = 0
        for start in range(0, len(unit_ids), 500):
            chunk = unit_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            cursor = conn.execute(f"DELETE FROM search_units WHERE id IN ({marks})", chunk)
            count += cursor.rowcount
        return count

    def units(self, conversation_id: str | None = None) -> list[SearchUnit]:
        """The indexed units (of one conversation), in insertion order."""
        sql = f"SELECT {_UNIT_COLUMNS} FROM search_units"
        args: tuple[str, ...] = ()
        if conversation_id is not None:
            sql, args = sql + " WHERE conversation_id = ?", (conversation_id,)
        return [unit_from_row(r) for r in self._conn.execute(sql + " ORDER BY rowid", args)]

    def indexed(self, conversation_id: str) -> dict[str, tuple[str, ...]]:
        """Ids of one conversation's units, each with the message ids it covers."""
        rows = self._conn.execute(
            "SELECT id, message_ids FROM search_units WHERE conversation_id = ?",
            (conversation_id,),
        )
        return {unit_id: tuple(json.loads(ids)) for unit_id, ids in rows}

    def _lexical_scores(self, query: str, scope: Scope, limit: int) -> dict[str, float]:
        terms = or_query_terms(self.tokenizer(query))
        if not terms:
            return {}
        match = " OR ".join(f'"{t}"' for t in terms)
        sql = (
            "SELECT u.id, -bm25(search_fts) FROM search_fts "
            "JOIN search_units u ON u.rowid = search_fts.rowid WHERE search_fts MATCH ?"
        )
        args: list[object] = [match]
        sql, args = _scoped(sql, args, scope)
        sql += " ORDER BY bm25(search_fts) LIMIT ?"
        args.append(limit)
        return {unit_id: float(score) for unit_id, score in self._conn.execute(sql, args)}

    def _vectors(self, scope: Scope) -> tuple[list[str], Vectors]:
        version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        if version != self._cache_version:
            self._matrix_cache.clear()
            self._cache_version = version
        cached = self._matrix_cache.get(scope)
        if cached is not None:
            return cached
        assert self.embedder is not None
        sql = (
            "SELECT u.id, v.vector FROM search_vectors v JOIN search_units u "
            "ON u.rowid = v.unit_rowid WHERE v.model = ? AND v.dim = ?"
        )
        args: list[object] = [self.embedder.name, self.embedder.dim]
        sql, args = _scoped(sql, args, scope)
        rows = self._conn.execute(sql + " ORDER BY u.rowid", args).fetchall()
        ids = [r[0] for r in rows]
        matrix = (
            np.stack([from_blob(r[1], self.embedder.dim) for r in rows])
            if rows
            else np.zeros((0, self.embedder.dim), dtype=np.float32)
        )
        cached = self._matrix_cache[scope] = (ids, matrix)
        return cached

    def _load(self, unit_ids: Collection[str]) -> dict[str, SearchUnit]:
        ids = list(unit_ids)
        out: dict[str, SearchUnit] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT {_UNIT_COLUMNS} FROM search_units WHERE id IN ({marks})", chunk
            )
            out.update((r[0], unit_from_row(r)) for r in rows)
        return out


def _scoped(sql: str, args: list[object], scope: Scope) -> tuple[str, list[object]]:
    """``sql`` (a WHERE over ``search_units u``) limited to the units of ``scope``: one
    conversation, several (their ids as one JSON parameter), or all."""
    if isinstance(scope, str):
        return sql + " AND u.conversation_id = ?", [*args, scope]
    if scope is not None:
        ids = json.dumps(sorted(scope))
        return sql + " AND u.conversation_id IN (SELECT value FROM json_each(?))", [*args, ids]
    return sql, args
