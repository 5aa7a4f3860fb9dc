"""Group commit (store/_group_commit.py) and ``transaction()`` on a real SQLite file:
writers that overlap share one COMMIT; each keeps its own errors; a block is one commit."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from claudechat.errors import ConcurrentUpdate, StoreError
from claudechat.messages import user
from claudechat.store._group_commit import GroupCommit
from claudechat.store.sqlite import SQLiteStore


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[GroupCommit, list[str]]]:
    """A group over a file with table t(x); the COMMITs its connection ran."""
    commits: list[str] = []
    path = tmp_path / "g.db"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
        return conn

    setup = connect()
    setup.execute("CREATE TABLE t (x TEXT UNIQUE)")
    setup.close()
    commits.clear()
    group = GroupCommit(connect)
    yield group, commits
    group.close()


def rows(group: GroupCommit) -> list[str]:
    reader = sqlite3.connect(group.connection.execute("PRAGMA database_list").fetchone()[2])
    try:
        return sorted(r[0] for r in reader.execute("SELECT x FROM t"))
    finally:
        reader.close()


def write_while_another_waits(
    group: GroupCommit, first: Callable[[sqlite3.Connection], None], second: str
) -> tuple[BaseException | None, BaseException | None]:
    """The first writer holds on until the second is queued behind it, then runs ``first``;
    then both finish. Their errors (None: written)."""
    errors: list[BaseException | None] = [None, None]

    def one() -> None:
        try:
            with group.write() as conn:
                deadline = time.monotonic() + 10
                while group._waiting == 0 and time.monotonic() < deadline:
                    time.sleep(0.001)  # until the second writer waits to add to this
                first(conn)
        except BaseException as err:
            errors[0] = err

    def two() -> None:
        try:
            with group.write() as conn:
                conn.execute("INSERT INTO t VALUES (?)", (second,))
        except BaseException as err:
            errors[1] = err

    a = threading.Thread(target=one)
    a.start()
    while group._open == 0:  # the first writer is inside its transaction
        time.sleep(0.001)
    b = threading.Thread(target=two)
    b.start()
    a.join(20)
    b.join(20)
    return errors[0], errors[1]


def test_two_overlapping_writers_share_one_commit(db: tuple[GroupCommit, list[str]]) -> None:
    group, commits = db
    errors = write_while_another_waits(
        group, lambda c: c.execute("INSERT INTO t VALUES ('a')"), "b"
    )
    assert errors == (None, None)
    assert rows(group) == ["a", "b"]
    assert commits == ["COMMIT"]  # the second writer committed for both


def test_a_failing_writer_loses_only_its_own_statements(
    db: tuple[GroupCommit, list[str]],
) -> None:
    group, commits = db

    def fails(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES ('mine')")
        conn.execute("INSERT INTO t VALUES ('mine')")  # UNIQUE: this writer fails

    first, second = write_while_another_waits(group, fails, "theirs")
    assert isinstance(first, sqlite3.IntegrityError)
    assert second is None
    assert rows(group) == ["theirs"]
    assert commits == ["COMMIT"]


def test_writers_one_after_another_commit_each(db: tuple[GroupCommit, list[str]]) -> None:
    group, commits = db
    for value in ("a", "b", "c"):
        with group.write() as conn:
            conn.execute("INSERT INTO t VALUES (?)", (value,))
        assert value in rows(group)  # on disk when write() returns
    assert commits == ["COMMIT"] * 3


def test_many_threads_all_kept(db: tuple[GroupCommit, list[str]]) -> None:
    group, commits = db
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        start.wait()
        for k in range(25):
            with group.write() as conn:
                conn.execute("INSERT INTO t VALUES (?)", (f"{n}-{k}",))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(rows(group)) == 200
    assert 1 <= len(commits) <= 200


def test_a_store_transaction_is_one_commit_or_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "chat.db")
    conv = store.create_conversation(title="t")
    commits: list[str] = []
    store._group.connection.set_trace_callback(
        lambda sql: commits.append(sql) if sql == "COMMIT" else None
    )
    with store.transaction():
        lease = store.claim_turn(conv.id, "me", ttl=30)
        store.append(conv.id, user("first"), expect_version=lease.version, lease="me")
        assert [m.text for m in store.branch(conv.id)] == ["first"]  # its own writes, read
    assert commits == ["COMMIT"]
    store.release_turn(conv.id, "me")
    before = store.get_conversation(conv.id)
    with pytest.raises(ConcurrentUpdate), store.transaction():
        store.claim_turn(conv.id, "me", ttl=30)
        store.append(conv.id, user("second"), expect_version=before.version - 1)
    assert [m.text for m in store.branch(conv.id)] == ["first"]
    store.claim_turn(conv.id, "other", ttl=30)  # "me" holds nothing: the claim went too
    store.close()


def test_the_claim_is_rolled_back_with_a_failed_block(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "chat.db")
    conv = store.create_conversation(title="t")
    with pytest.raises(StoreError, match="boom"), store.transaction():
        store.claim_turn(conv.id, "me", ttl=30)
        raise StoreError("boom")
    store.claim_turn(conv.id, "other", ttl=30)  # nobody holds it: the claim was not kept
    store.close()
