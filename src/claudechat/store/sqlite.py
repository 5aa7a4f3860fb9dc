"""``SQLiteStore``: the default store, one file, stdlib ``sqlite3``.

WAL journal, foreign keys, a busy timeout, and ``synchronous=FULL``: every commit is on
disk before ``append`` returns, so a user message stored before the API call survives a
power cut too (``NORMAL`` in WAL mode survives a killed process but may lose the last
commits on power loss). Each thread gets its own connection; writes are ``BEGIN
IMMEDIATE`` transactions and the head moves by compare-and-swap on ``version``. The
threads of one process write through one shared connection, in turn, and a burst of their
writes shares one commit (_group_commit.py): SQLite's busy timeout, meant for other
processes, retries by sleeping, and many threads of one process retrying at once could
keep one waiting past it; and each commit waits for the disk. ``transaction()`` makes the
writes of a block one commit.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, cast

from ..errors import StoreError
from ..messages import new_id
from ._group_commit import GroupCommit
from ._rows import SNIPPET_END, SNIPPET_START, query_terms
from ._sql import Executor, SQLStore
from .base import MessageHit
from .migrations import Migration, load, migrate_sqlite

__all__ = ["SQLiteStore", "migrate"]

_INHERITED: list[sqlite3.Connection] = []  # a forked child's copies of its parent's connections


@contextmanager
def sqlite_errors(where: str, *, what: str = "SQLite") -> Iterator[None]:
    """Turn sqlite3 errors (a full disk, a locked, read-only or corrupt file) into
    StoreError naming ``what`` failed ``where``; the search index shares it."""
    try:
        yield
    except sqlite3.Error as err:
        raise StoreError(f"{what} ({where}): {err}") from err


def _create_private(path: Path) -> None:
    """Create the database file with mode 0600 whatever the umask (an existing one is kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except FileExistsError:
        return
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def migrate(
    conn: sqlite3.Connection, migrations: Sequence[Migration], *, clock: Callable[[], float]
) -> list[int]:
    """Apply the store migrations not yet in ``schema_migrations``, all in one transaction."""
    return migrate_sqlite(conn, migrations, clock=clock)


def _read(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction on ``conn``."""
    conn.execute("BEGIN")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _savepoint(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A savepoint of the transaction open on ``conn``: released, or rolled back alone."""
    conn.execute("SAVEPOINT claudechat_inner")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK TO claudechat_inner")
            conn.execute("RELEASE claudechat_inner")
        raise
    conn.execute("RELEASE claudechat_inner")


class SQLiteStore(SQLStore):
    """Conversations in one SQLite file (``":memory:"`` for a private in-memory database)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        migrations: Sequence[Migration] | None = None,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be 'FULL' or 'NORMAL'")
        self._clock = clock
        self._sync = synchronous
        self._timeout = busy_timeout
        self._memory = str(path) == ":memory:"
        self.path: Path | None = None if self._memory else Path(path).expanduser().resolve()
        self._target = f"file:/claudechat-{new_id()}?vfs=memdb" if self._memory else str(self.path)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._group = GroupCommit(self._connect)  # the writes of this process
        self._pid = os.getpid()
        self._closed = False
        try:
            self._open(load("sqlite") if migrations is None else migrations)
        except BaseException:
            self.close()
            raise

    def _open(self, migrations: Sequence[Migration]) -> None:
        """Create the file (mode 0600), switch to WAL, bring the schema up to date."""
        with sqlite_errors(f"opening {self.path or ':memory:'}"):
            if self.path is not None:
                try:
                    _create_private(self.path)
                except OSError as err:
                    raise StoreError(f"cannot create the database {self.path}: {err}") from err
            conn = self._db()
            if not self._memory:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{self.path}: cannot use WAL journal mode ({mode})")
            migrate(conn, migrations, clock=self._clock)

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path or ':memory:')!r})"

    @property
    def reads_never_wait(self) -> bool:
        """True for a file: in WAL mode a read does not wait for writers nor make them wait,
        and needs no network, so a server may read it on its event loop."""
        return not self._memory

    @property
    def shared(self) -> bool:
        """True for a file: other processes may write it too (another terminal, the
        service), and ask through it to stop a turn this process runs."""
        return not self._memory

    # connections --------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._target,
            uri=self._memory,
            timeout=self._timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA synchronous = {self._sync}")
        return conn

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (a forked child opens its own)."""
        if self._closed:
            raise StoreError("the store is closed")
        if os.getpid() != self._pid:  # forked: the parent's connections are not ours to use
            _INHERITED.extend(self._conns)  # nor to close (kept referenced, never used)
            self._pid, self._conns, self._local = os.getpid(), [], threading.local()
            self._group = GroupCommit(self._connect)
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def _tx(self, where: str, *, write: bool = False) -> Iterator[Executor]:
        """A transaction (``BEGIN IMMEDIATE`` to write): committed, or rolled back on error.
        Inside a write of this thread (``transaction()``), a savepoint of it instead."""
        with sqlite_errors(where):
            outer: sqlite3.Connection | None = getattr(self._local, "writing", None)
            if outer is not None:
                yield from _savepoint(outer)
            elif write:
                self._db()  # the checks: not closed, not a forked copy
                with self._group.write() as conn:
                    self._local.writing = conn
                    try:
                        yield conn
                    finally:
                        self._local.writing = None
            else:
                yield from _read(self._db())

    @contextmanager
    def write_connection(self) -> Iterator[sqlite3.Connection]:
        """The connection this process writes the file with, inside a transaction: what a
        caller runs on it is committed with the store's own writes (one commit for all of a
        burst), or with this thread's open `transaction()`. For tables beside the store's,
        such as the search index's, so their writes do not queue for the file's write lock
        behind the store's (and the other way round)."""
        with self._tx("write", write=True) as conn:
            yield cast(sqlite3.Connection, conn)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every read and write of this thread inside the block in one transaction: one
        commit (one wait for the disk), all kept or, on an error, none."""
        with self._tx("transaction", write=True):
            yield

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._conns_lock:
            conns, self._conns = self._conns, []
            self._closed = True
        if os.getpid() == self._pid:
            for conn in conns:
                conn.close()
            self._group.close()

    # search -------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        conversation_id: str | None = None,
        limit: int = 20,
        owner: str | None = None,
    ) -> list[MessageHit]:
        """Messages holding every word of ``query`` (FTS5, bm25), best first; matches « »."""
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        match = " ".join('"' + t.replace('"', '""') + '"' for t in terms)
        where, args = self._search_filter(conversation_id, owner)
        with self._tx("search") as db:
            rows = db.execute(
                "SELECT m.conversation_id, m.id, m.role, "
                f"snippet(messages_fts, 0, '{SNIPPET_START}', '{SNIPPET_END}', '…', 16), "
                "-rank, m.created_at "
                "FROM messages_fts JOIN messages AS m ON m.seq = messages_fts.rowid "
                f"WHERE messages_fts MATCH ? {where} ORDER BY rank LIMIT ?",
                (match, *args, limit),
            ).fetchall()
        return [MessageHit(*r) for r in rows]
