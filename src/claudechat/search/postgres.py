"""`PostgresIndex`: full-text search (tsvector + GIN) and bytea vectors in PostgreSQL,
through psycopg 3 (``pip install 'claudechat[postgres]'``).

The tsvector holds the shared `Tokenizer`'s terms under the ``simple`` configuration, so
stemming and stopwords match the other backends; a query is the OR of its terms, parsed
by ``websearch_to_tsquery`` and matched through the GIN index. ``ts_rank_cd`` knows no
document frequencies, and on LoCoMo it ranks far worse than BM25 (recall@10 0.59 against
0.78), so by default its best candidates are re-ranked by BM25 with statistics read from
the table (``ranking="ts_rank_cd"`` keeps PostgreSQL's own ranking).
"""

from __future__ import annotations

import importlib
import json
import re
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from claudechat.errors import ConfigError, StoreError
from claudechat.search._rows import or_query_terms, unit_from_row, unit_values
from claudechat.search._units import SearchUnit
from claudechat.search.base import IndexOptions, RankedIndex, Scope
from claudechat.search.bm25 import bm25_score
from claudechat.search.dense import from_blob, to_blob
from claudechat.search.embedders import Vectors
from claudechat.store.migrations import load, migrate_postgres

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["PostgresIndex"]

MIGRATIONS = "claudechat.search.migrations"
MIGRATION_LOCK = 0x636C617564657363  # pg_advisory_xact_lock key held while migrating

_UNIT_COLUMNS = "id, conversation_id, message_ids, speaker, created_at, text, key, previous"


_LEXEME = re.compile(r"'((?:[^']|'')*)'(?::([\d,A-D]+))?")


def _term_frequencies(tsvector: str) -> dict[str, int]:
    """Term -> frequency from a tsvector's text form (``'cat':3,7 'sat':1``)."""
    return {
        term.replace("''", "'"): (positions.count(",") + 1 if positions else 1)
        for term, positions in _LEXEME.findall(tsvector)
    }


def _psycopg() -> Any:
    try:
        return importlib.import_module("psycopg")
    except ImportError as exc:
        raise ConfigError(
            "psycopg is not installed; install it with: pip install 'claudechat[postgres]'"
        ) from exc


@contextmanager
def _errors(where: str) -> Iterator[None]:
    """Turn psycopg errors (a lost connection, a full disk on the server) into StoreError."""
    try:
        yield
    except _psycopg().Error as err:
        raise StoreError(f"PostgreSQL search index ({where}): {err}") from err


class PostgresIndex(RankedIndex):
    """Turns indexed in PostgreSQL: GIN full-text for lexical, bytea float32 vectors for dense.

    ``database`` is a conninfo string or an open psycopg connection; each `add` / `delete`
    commits. ``ranking`` is ``"bm25"`` (ts_rank_cd's top ``candidates`` re-ranked by BM25)
    or ``"ts_rank_cd"``; ``normalization`` is passed to ``ts_rank_cd``.
    """

    def __init__(
        self,
        database: str | Any,
        *,
        ranking: Literal["bm25", "ts_rank_cd"] = "bm25",
        normalization: int = 1,
        candidates: int = 1000,
        **options: Unpack[IndexOptions],
    ) -> None:
        super().__init__(**options)
        owned = isinstance(database, str)
        conn: Any = _psycopg().connect(database) if owned else database
        self._conn = conn
        self.ranking = ranking
        self.normalization = normalization
        self.candidates = candidates
        try:
            self._migrate()
        except BaseException:
            if owned:
                conn.close()
            raise

    def _migrate(self) -> None:
        """Bring the search tables up to date (`claudechat.search.migrations`)."""
        with _errors("create tables"):
            migrate_postgres(
                self._conn,
                load("postgres", package=MIGRATIONS),
                clock=time.time,
                lock=MIGRATION_LOCK,
                table="search_migrations",
                what="the search tables are",
            )

    @property
    def connection(self) -> Any:
        """The psycopg connection the index uses."""
        return self._conn

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __len__(self) -> int:
        row = self._conn.execute("SELECT count(*) FROM search_units").fetchone()
        self._conn.commit()
        return int(row[0])

    def add(self, units: Sequence[SearchUnit]) -> None:
        """Index ``units`` (a unit whose id is already indexed is replaced), then commit."""
        vectors = self._embed_units(units)
        model = self.embedder.name if self.embedder is not None else None
        rows = []
        for row, unit in enumerate(units):
            terms = self.tokenizer(unit.index_text)
            blob = to_blob(vectors[row]) if vectors is not None else None
            rows.append((*unit_values(unit), " ".join(terms), len(terms), model, blob))
        with _errors("add"), self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("DELETE FROM search_units WHERE id = ANY(%s)", ([u.id for u in units],))
            cur.executemany(
                f"INSERT INTO search_units ({_UNIT_COLUMNS}, terms, length, embedding_model, "
                "embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, to_tsvector('simple', %s), "
                "%s, %s, %s)",
                rows,
            )

    def delete(self, unit_ids: Iterable[str]) -> int:
        """Remove units by id; returns how many were there."""
        with _errors("delete"), self._conn.transaction():
            cursor = self._conn.execute(
                "DELETE FROM search_units WHERE id = ANY(%s)", (list(unit_ids),)
            )
        return int(cursor.rowcount)

    def delete_conversation(self, conversation_id: str) -> int:
        """Remove every unit of one conversation (before a rebuild); returns how many."""
        with _errors("delete"), self._conn.transaction():
            cursor = self._conn.execute(
                "DELETE FROM search_units WHERE conversation_id = %s", (conversation_id,)
            )
        return int(cursor.rowcount)

    def units(self, conversation_id: str | None = None) -> list[SearchUnit]:
        """The indexed units (of one conversation), in insertion order."""
        sql = f"SELECT {_UNIT_COLUMNS} FROM search_units"
        args: tuple[str, ...] = ()
        if conversation_id is not None:
            sql, args = sql + " WHERE conversation_id = %s", (conversation_id,)
        rows = self._conn.execute(sql + " ORDER BY seq", args).fetchall()
        self._conn.commit()
        return [unit_from_row(r) for r in rows]

    def indexed(self, conversation_id: str) -> dict[str, tuple[str, ...]]:
        """Ids of one conversation's units, each with the message ids it covers."""
        rows = self._conn.execute(
            "SELECT id, message_ids FROM search_units WHERE conversation_id = %s",
            (conversation_id,),
        ).fetchall()
        self._conn.commit()
        return {unit_id: tuple(json.loads(ids)) for unit_id, ids in rows}

    def _lexical_scores(self, query: str, scope: Scope, limit: int) -> dict[str, float]:
        terms = or_query_terms(self.tokenizer(query))
        if not terms:
            return {}
        where, scope_args = _scoped(scope)
        depth = limit if self.ranking == "ts_rank_cd" else max(limit, self.candidates)
        rows = self._conn.execute(
            "SELECT id, ts_rank_cd(terms, q, %s) AS score, terms::text, length "
            "FROM search_units, websearch_to_tsquery('simple', %s) AS q "
            f"WHERE terms @@ q {where} ORDER BY score DESC, seq LIMIT %s",
            [self.normalization, " or ".join(terms), *scope_args, depth],
        ).fetchall()
        if self.ranking == "ts_rank_cd" or not rows:
            self._conn.commit()
            return {unit_id: float(score) for unit_id, score, _, _ in rows}
        counts = ", ".join(
            ["count(*) FILTER (WHERE terms @@ plainto_tsquery('simple', %s))"] * len(terms)
        )
        dfs = self._conn.execute(
            f"SELECT {counts} FROM search_units, websearch_to_tsquery('simple', %s) AS q "
            f"WHERE terms @@ q {where}",
            [*terms, " or ".join(terms), *scope_args],
        ).fetchone()
        stats = self._conn.execute(
            f"SELECT count(*), coalesce(avg(length), 0) FROM search_units WHERE true {where}",
            scope_args,
        ).fetchone()
        self._conn.commit()
        n_docs, avgdl = int(stats[0]), float(stats[1])
        df = dict(zip(terms, (int(d) for d in dfs), strict=True))
        query_terms = self.tokenizer(query)
        scored = {
            unit_id: bm25_score(query_terms, _term_frequencies(vector), length, df, n_docs, avgdl)
            for unit_id, _, vector, length in rows
        }
        best = sorted(scored.items(), key=lambda item: -item[1])[:limit]
        return dict(best)

    def _vectors(self, scope: Scope) -> tuple[list[str], Vectors]:
        assert self.embedder is not None
        where, scope_args = _scoped(scope)
        sql = f"SELECT id, embedding FROM search_units WHERE embedding_model = %s {where}"
        rows = self._conn.execute(
            sql + " ORDER BY seq", [self.embedder.name, *scope_args]
        ).fetchall()
        self._conn.commit()
        dim = self.embedder.dim
        rows = [r for r in rows if r[1] is not None and len(r[1]) == 4 * dim]
        matrix = (
            np.stack([from_blob(bytes(r[1]), dim) for r in rows])
            if rows
            else np.zeros((0, dim), dtype=np.float32)
        )
        return [r[0] for r in rows], matrix

    def _load(self, unit_ids: Collection[str]) -> dict[str, SearchUnit]:
        rows = self._conn.execute(
            f"SELECT {_UNIT_COLUMNS} FROM search_units WHERE id = ANY(%s)", (list(unit_ids),)
        ).fetchall()
        self._conn.commit()
        return {r[0]: unit_from_row(r) for r in rows}


def _scoped(scope: Scope) -> tuple[str, list[object]]:
    """The condition (after a WHERE) and its arguments that limit ``search_units`` to
    ``scope``: one conversation, several, or all."""
    if isinstance(scope, str):
        return "AND conversation_id = %s", [scope]
    if scope is not None:
        return "AND conversation_id = ANY(%s)", [sorted(scope)]
    return "", []
