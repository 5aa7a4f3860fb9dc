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


def _checkpointed_titles(path: Path) -> set[str]:
    """The conversation titles in the database file itself, not in its write-ahead log
    (none while even the schema is in the log only)."""
    reader = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return {r[0] for r in reader.execute("SELECT title FROM conversations")}
    except sqlite3.OperationalError:  # no such table yet
        return set()
    finally:
        reader.close()


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "claudechat-wal-checkpoint"]


def test_the_log_is_checkpointed_by_a_thread_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("claudechat.store.sqlite.CHECKPOINT_EVERY", 3)
    path = tmp_path / "chat.db"
    store = SQLiteStore(path)
    before = len(_checkpointers())
    # no commit copies the log into the file: SQLite's own checkpoints are off for the writer
    assert store._group.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    store.create_conversation(title="one")
    store.create_conversation(title="two")
    assert "one" not in _checkpointed_titles(path)  # two commits: still in the log only
    assert len(_checkpointers()) == before  # started at the first checkpoint
    store.create_conversation(title="three")  # the third: a checkpoint, off this thread
    deadline = time.monotonic() + 10
    while {"one", "two", "three"} - _checkpointed_titles(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert {"one", "two", "three"} <= _checkpointed_titles(path)
    assert len(_checkpointers()) == before + 1
    store.close()
    assert len(_checkpointers()) == before  # closing the store stops its thread


def test_a_store_in_memory_has_no_checkpointer() -> None:
    store = SQLiteStore(":memory:")
    for n in range(5):
        store.create_conversation(title=f"c{n}")
    assert store._group._checkpoints is None
    store.close()
