"""What only SQLiteStore promises: file mode, pragmas, migrations, concurrency, plans."""

from __future__ import annotations

import itertools
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from claudechat.errors import ConcurrentUpdate, StoreError
from claudechat.messages import Message, assistant, user
from claudechat.store import SQLiteStore
from claudechat.store.migrations import Migration, load
from claudechat.store.sqlite import migrate


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "deep" / "chat.db"
        with SQLiteStore(path) as store:
            conv = store.create_conversation()
            store.append(conv.id, user("hello"))
            assert _mode(path) == 0o600
            assert _mode(path.with_name("chat.db-wal")) == 0o600
            assert _mode(path.with_name("chat.db-shm")) == 0o600
    finally:
        os.umask(old)


def test_pragmas(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "chat.db") as store:
        db = store._db()
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    with SQLiteStore(tmp_path / "chat.db", synchronous="NORMAL") as store:
        assert store._db().execute("PRAGMA synchronous").fetchone()[0] == 1


def test_migrations_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as db:
        first = db.execute("SELECT version, name, applied_at FROM schema_migrations").fetchall()
    assert [(v, n) for v, n, _ in first] == [(m.version, m.name) for m in load("sqlite")]
    SQLiteStore(path).close()
    with sqlite3.connect(path) as db:
        assert (
            db.execute("SELECT version, name, applied_at FROM schema_migrations").fetchall()
            == first
        )
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert {"conversations", "messages", "summaries", "messages_fts", "schema_migrations"} <= tables


def test_upgrade_applies_only_new_migrations(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    with SQLiteStore(path) as store:
        conv = store.create_conversation(title="kept")
    extra = Migration(99, "add_tags", "CREATE TABLE tags (name TEXT PRIMARY KEY);\n")
    db = sqlite3.connect(path, isolation_level=None)
    try:
        assert migrate(db, [*load("sqlite"), extra], clock=lambda: 1.0) == [99]
        assert migrate(db, [*load("sqlite"), extra], clock=lambda: 2.0) == []
        with pytest.raises(StoreError, match="newer"):
            migrate(db, load("sqlite"), clock=lambda: 3.0)
    finally:
        db.close()
    with pytest.raises(StoreError, match="upgrade claudechat"):
        SQLiteStore(path)
    with SQLiteStore(path, migrations=[*load("sqlite"), extra]) as store:
        assert store.get_conversation(conv.id).title == "kept"


def test_a_failing_migration_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    broken = Migration(2, "broken", "CREATE TABLE t (x);\nTHIS IS NOT SQL;\n")
    with pytest.raises(StoreError):
        SQLiteStore(path, migrations=[*load("sqlite"), broken])
    with sqlite3.connect(path) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    db.close()
    assert "t" not in names and "conversations" not in names


def test_branch_reads_only_the_parent_chain(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "chat.db") as store:
        from claudechat.store._sql import _BRANCH

        plan = " | ".join(
            str(r[3]) for r in store._db().execute("EXPLAIN QUERY PLAN " + _BRANCH, ("a", "c"))
        )
    assert "SEARCH m USING INDEX" in plan and "SCAN m" not in plan, plan


def test_long_chain_deletes_and_fts_stays_consistent(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "chat.db", synchronous="NORMAL") as store:
        conv = store.create_conversation()
        parent = None
        for i in range(1500):
            m = (user if i % 2 == 0 else assistant)(f"message number {i}", parent_id=parent)
            store.append(conv.id, m)
            parent = m.id
        assert len(store.branch(conv.id)) == 1500
        assert store.list_conversations()[0].turns == 750
        store.delete_conversation(conv.id)
        db = store._db()
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
        db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
        assert store.search("number") == []


def test_in_memory_database_is_shared_by_threads() -> None:
    with SQLiteStore(":memory:") as store:
        conv = store.create_conversation(title="mem")
        seen: list[str | None] = []
        t = threading.Thread(target=lambda: seen.append(store.get_conversation(conv.id).title))
        t.start()
        t.join()
        assert seen == ["mem"]


def test_closed_store_refuses(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "chat.db")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.list_conversations()


def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path / "file" / "chat.db")
    (tmp_path / "junk.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path / "junk.db")


def _append_with_retry(store: SQLiteStore, cid: str, make: object, n: int) -> int:
    """Append ``n`` messages under the head, re-reading and retrying on ConcurrentUpdate."""
    retries = 0
    for i in range(n):
        while True:
            conv = store.get_conversation(cid)
            msg = make(i, conv.head_id)  # type: ignore[operator]
            try:
                store.append(cid, msg, expect_version=conv.version)
                break
            except ConcurrentUpdate:
                retries += 1
    return retries


def _check_linear(store: SQLiteStore, cid: str, writers: list[str], n: int) -> None:
    branch = store.branch(cid)
    assert len(store.all_messages(cid)) == len(branch) == len(writers) * n  # nothing lost
    for prev, m in itertools.pairwise(branch):
        assert m.parent_id == prev.id  # one chain, no message slipped under another's parent
    for w in writers:
        mine = [m.metadata["i"] for m in branch if m.metadata["writer"] == w]
        assert mine == list(range(n))  # each writer's messages in its order


_WRITER = """
import sys
from claudechat.errors import ConcurrentUpdate
from claudechat.messages import Message
from claudechat.store import SQLiteStore

path, cid, name, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = SQLiteStore(path)
print("ready", flush=True)
sys.stdin.readline()  # start together
retries = 0
for i in range(n):
    while True:
        conv = store.get_conversation(cid)
        role = "user" if conv.version % 2 == 0 else "assistant"
        msg = Message(role, [{"type": "text", "text": f"{name} {i}"}], parent_id=conv.head_id,
                      metadata={"writer": name, "i": i})
        try:
            store.append(cid, msg, expect_version=conv.version)
            break
        except ConcurrentUpdate:
            retries += 1
print(retries)
"""


def test_two_processes_append_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    with SQLiteStore(path) as store:
        cid = store.create_conversation().id
    n = 80
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), cid, name, str(n)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for name in ("alice", "bob")
    ]  # fmt: skip
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    retries = 0
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        retries += int(out.strip())
    assert retries > 0  # they did collide, and every collision was retried
    with SQLiteStore(path) as store:
        _check_linear(store, cid, ["alice", "bob"], n)
        roles = [m.role for m in store.branch(cid)]
        assert roles == ["user", "assistant"] * n  # each append saw the head it extended


def test_threads_append_without_loss(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "chat.db") as store:
        cid = store.create_conversation().id
        writers = [f"t{k}" for k in range(4)]

        def run(name: str) -> None:
            def make(i: int, head: str | None) -> Message:
                return user(f"{name} {i}", parent_id=head, metadata={"writer": name, "i": i})

            _append_with_retry(store, cid, make, 25)

        threads = [threading.Thread(target=run, args=(w,)) for w in writers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _check_linear(store, cid, writers, 25)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    import warnings

    with SQLiteStore(tmp_path / "chat.db") as store:
        conv = store.create_conversation()
        first = store.append(conv.id, user("from the parent"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                store.append(conv.id, assistant("from the child", parent_id=first.head_id))
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        head = store.get_conversation(conv.id).head_id
        store.append(conv.id, user("parent again", parent_id=head))
        assert [m.text for m in store.branch(conv.id)] == [
            "from the parent",
            "from the child",
            "parent again",
        ]
