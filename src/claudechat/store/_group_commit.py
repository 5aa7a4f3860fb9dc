"""Group commit for SQLite: the writes of many threads share one commit, so one fsync.

With ``synchronous=FULL`` every COMMIT waits for the disk (about 4 ms here), and the
threads of one process write one at a time. Under load (a service opening, checkpointing
and closing many turns at once) writers queue behind each other's fsyncs, and the time
before a reply's first token grows with the queue. Here the writers of one process share
one connection: each runs its statements inside a SAVEPOINT of the open transaction, and the
last writer of a burst (no one else waiting) commits for all of them. A writer returns only
once the commit holding its statements is on disk, exactly as with a commit of its own.

    group = GroupCommit(connect)
    with group.write() as conn:        # BEGIN IMMEDIATE if none is open, SAVEPOINT
        conn.execute(...)              # an error rolls back to the savepoint only
                                       # (then: wait for the shared COMMIT, or run it)

A writer whose statements fail gets its own error and leaves the others' writes in place;
a COMMIT that fails (a full disk) fails every writer of that transaction with it, and none
of their writes is kept. A thread that writes while already inside ``write()`` joins its
own savepoint-nested transaction (see ``SQLiteStore.transaction``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["GroupCommit"]


class GroupCommit:
    """One writer connection shared by the threads of a process, committed in groups."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._conn: sqlite3.Connection | None = None
        self._turn = threading.Condition()  # held while a writer uses the connection
        self._count = threading.Lock()
        self._waiting = 0  # writers that want the connection and do not have it yet
        self._committing = False  # a COMMIT runs outside the condition's lock
        self._open = 0  # the transaction open now (a number), 0 for none
        self._last = 0  # the number of the last transaction opened
        self._members: dict[int, int] = {}  # open or committing transaction → its writers
        self._ended: dict[int, BaseException | None] = {}  # transaction → its commit's error

    @property
    def connection(self) -> sqlite3.Connection:
        """The shared writer connection (opened on first use)."""
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        """Close the writer connection (the store is closing)."""
        with self._turn:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """The shared connection inside a savepoint of the open transaction; on leaving,
        the statements are on disk (or an error says why they are not)."""
        with self._count:
            self._waiting += 1
        self._turn.acquire()
        try:
            while self._committing:
                self._turn.wait()
            with self._count:
                self._waiting -= 1
            number = self._join()
            failure: BaseException | None = None
            try:
                yield from self._savepoint(number)
            except BaseException as err:
                failure = err
            lead = self._lead(number)
        finally:
            self._turn.release()
        if lead:
            self._commit(number)
        error = self._result(number)
        if failure is not None:
            raise failure
        if error is not None:
            raise sqlite3.OperationalError(f"the shared commit failed: {error}") from error

    def _join(self) -> int:
        """The open transaction's number, opening one (BEGIN IMMEDIATE) if none is."""
        if not self._open:
            self.connection.execute("BEGIN IMMEDIATE")
            self._last += 1
            self._open = self._last
        self._members[self._open] = self._members.get(self._open, 0) + 1
        return self._open

    def _savepoint(self, number: int) -> Iterator[sqlite3.Connection]:
        """Run the writer's statements in a savepoint: released, or rolled back alone. An
        error that ended the whole transaction (SQLite rolls back on some) ends it for all."""
        conn = self.connection
        conn.execute("SAVEPOINT claudechat_write")
        try:
            yield conn
        except BaseException as err:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO claudechat_write")
                conn.execute("RELEASE claudechat_write")
            else:
                self._abandon(number, err)
            raise
        conn.execute("RELEASE claudechat_write")

    def _abandon(self, number: int, err: BaseException) -> None:
        """The transaction is gone (rolled back by SQLite): its writers all fail."""
        self._ended[number] = err
        self._open = 0
        self._turn.notify_all()

    def _lead(self, number: int) -> bool:
        """True when this writer commits the transaction: it is still open and no other
        writer is waiting to add to it (they will, and the last of them commits)."""
        with self._count:
            lead = self._open == number and self._waiting == 0
        if lead:
            self._committing = True
        return lead

    def _commit(self, number: int) -> None:
        """COMMIT (the fsync, without the lock held); tell the transaction's writers."""
        error: BaseException | None = None
        try:
            self.connection.execute("COMMIT")
        except BaseException as err:
            error = err
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
        with self._turn:
            self._ended[number] = error
            self._open = 0
            self._committing = False
            self._turn.notify_all()

    def _result(self, number: int) -> BaseException | None:
        """Wait for the end of transaction ``number``: None once committed, else the error
        that ended it. The last of its writers to read it forgets it."""
        with self._turn:
            while number not in self._ended:
                self._turn.wait()
            error = self._ended[number]
            self._members[number] -= 1
            if not self._members[number]:
                del self._members[number], self._ended[number]
        return error
