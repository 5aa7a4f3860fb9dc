"""``PostgresStore``: the same contract on PostgreSQL, for several app servers sharing chats.

psycopg 3 with a ``psycopg_pool.ConnectionPool``. A write locks the conversation row
(``SELECT … FOR UPDATE``) and ends with the same compare-and-swap on ``version`` as
SQLite. Search uses a generated ``tsvector`` with a GIN index and ``ts_headline``
snippets. Migrations run under an advisory lock, so servers starting together are safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import StoreError
from ._rows import SNIPPET_END, SNIPPET_START, query_terms
from ._sql import Cursor, Executor, SQLStore
from .base import MessageHit
from .migrations import Migration, load, migrate_postgres

__all__ = ["PostgresStore", "migrate", "redact"]

MIGRATION_LOCK = 0x636C617564656368  # pg_advisory_xact_lock key held while migrating
_HEADLINE = (
    f"StartSel={SNIPPET_START}, StopSel={SNIPPET_END}, MaxWords=16, MinWords=6, "
    "MaxFragments=1, FragmentDelimiter=…"
)


def redact(conninfo: str) -> str:
    """The conninfo without its password, for messages and logs."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "(unreadable conninfo)"
    params.pop("password", None)
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


class _Executor:
    """Runs ``?``-placeholder statements on a psycopg connection."""

    _cache: ClassVar[dict[str, str]] = {}

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    @property
    def conn(self) -> psycopg.Connection[Any]:
        """The connection the statements run on."""
        return self._conn

    @classmethod
    def _sql(cls, sql: str) -> str:
        out = cls._cache.get(sql)
        if out is None:
            out = cls._cache[sql] = sql.replace("?", "%s")
        return out

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> Cursor:
        return self._conn.execute(self._sql(sql), args)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(self._sql(sql), rows)


def migrate(
    conn: psycopg.Connection[Any], migrations: Sequence[Migration], *, clock: Callable[[], float]
) -> list[int]:
    """Apply the store migrations not yet in ``schema_migrations``, in one transaction, under
    an advisory lock (a second server waits, then finds nothing to do)."""
    return migrate_postgres(conn, migrations, clock=clock, lock=MIGRATION_LOCK)


class PostgresStore(SQLStore):
    """Conversations in PostgreSQL, reached through a connection pool."""

    shared = True  # every worker and machine on the server writes it
    _lock_row = " FOR UPDATE"
    _same = "IS NOT DISTINCT FROM"
    _tree_lock = "SELECT pg_advisory_xact_lock(hashtext(?))"

    def __init__(
        self,
        conninfo: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        migrations: Sequence[Migration] | None = None,
    ) -> None:
        self._clock = clock
        self.conninfo = redact(conninfo)
        self._local = threading.local()  # the transaction() open in this thread, if any
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True},
            name="claudechat",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as err:
            self._pool.close()
            raise StoreError(f"cannot connect to PostgreSQL at {self.conninfo}") from err
        try:
            with self._errors("migrating"), self._pool.connection() as conn:
                migrate(conn, load("postgres") if migrations is None else migrations, clock=clock)
        except BaseException:
            self._pool.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore({self.conninfo!r})"

    @contextmanager
    def _errors(self, where: str) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as err:
            raise StoreError(f"PostgreSQL ({where}): {err}") from err
        except PoolTimeout as err:
            raise StoreError(f"PostgreSQL ({where}): no free connection: {err}") from err

    @contextmanager
    def _tx(self, where: str, *, write: bool = False) -> Iterator[Executor]:
        """A pooled connection; for a write, one transaction committed or rolled back.

        Reads run in autocommit: each statement sees a consistent snapshot, and rows never
        change once written, so no BEGIN / COMMIT round trips are spent on them.
        """
        outer: _Executor | None = getattr(self._local, "tx", None)
        if outer is not None:  # inside this thread's transaction(): a savepoint of it
            with self._errors(where), outer.conn.transaction():
                yield outer
            return
        with self._errors(where), self._pool.connection() as conn:
            if write:
                with conn.transaction():
                    yield _Executor(conn)
            else:
                yield _Executor(conn)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every read and write of this thread inside the block in one transaction on one
        connection: one commit, all kept or, on an error, none."""
        with self._tx("transaction", write=True) as executor:
            self._local.tx = executor
            try:
                yield
            finally:
                self._local.tx = None

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection (autocommit) for what lives beside the conversations in the
        same database, such as the search index; the pool takes it back after."""
        with self._pool.connection() as conn:
            yield conn

    def close(self) -> None:
        """Close the pool's connections."""
        self._pool.close()

    def search(
        self,
        query: str,
        *,
        conversation_id: str | None = None,
        limit: int = 20,
        owner: str | None = None,
    ) -> list[MessageHit]:
        """Messages holding every word of ``query`` (GIN index, ts_rank), best first;
        ``ts_headline`` snippets with matches marked « »."""
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        where, args = self._search_filter(conversation_id, owner)
        with self._tx("search") as db:
            rows = db.execute(
                "SELECT h.conversation_id, h.id, h.role, ts_headline('simple', h.text, h.q, ?), "
                "h.score, h.created_at FROM ("
                "  SELECT m.conversation_id, m.id, m.role, m.text, m.created_at, m.seq, q, "
                "  ts_rank(m.tsv, q) AS score "
                "  FROM messages AS m, plainto_tsquery('simple', ?) AS q "
                f"  WHERE m.tsv @@ q {where} ORDER BY score DESC, m.seq LIMIT ?"
                ") AS h ORDER BY h.score DESC, h.seq",
                (_HEADLINE, " ".join(terms), *args, limit),
            ).fetchall()
        return [MessageHit(r[0], r[1], r[2], r[3], float(r[4]), float(r[5])) for r in rows]
