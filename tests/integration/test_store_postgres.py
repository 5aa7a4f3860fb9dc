"""What only PostgresStore promises: safe concurrent migrations, CAS across connections."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

import pytest

from claudechat.errors import ConcurrentUpdate, StoreError
from claudechat.messages import user
from claudechat.store import open_store
from claudechat.store.migrations import load

pytestmark = pytest.mark.postgres


def test_servers_starting_together_migrate_once(pg_database: str) -> None:
    import psycopg

    from claudechat.store.postgres import PostgresStore

    stores: list[PostgresStore] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait()
        try:
            stores.append(PostgresStore(pg_database, min_size=1, max_size=1))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert errors == [] and len(stores) == 6
    with psycopg.connect(pg_database) as conn:
        rows = conn.execute("SELECT version, name FROM schema_migrations").fetchall()
    assert rows == [(m.version, m.name) for m in load("postgres")]


def test_newer_schema_is_refused(pg_database: str) -> None:
    import psycopg

    from claudechat.store.postgres import PostgresStore

    PostgresStore(pg_database).close()
    with psycopg.connect(pg_database) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)")
    with pytest.raises(StoreError, match="upgrade claudechat"):
        PostgresStore(pg_database)


def test_open_store_and_redacted_conninfo(pg_database: str) -> None:
    url = pg_database.replace("postgresql://postgres@", "postgresql://postgres:hunter2@")
    store = open_store(url)
    try:
        assert "hunter2" not in repr(store)
        assert store.create_conversation(title="pg").title == "pg"
    finally:
        store.close()


def test_unreachable_server_is_a_store_error(tmp_path: object) -> None:
    from claudechat.store.postgres import PostgresStore

    with pytest.raises(StoreError, match="cannot connect"):
        PostgresStore(f"postgresql://nobody:pw@/none?host={tmp_path}", timeout=1.0)


def test_threads_append_without_loss(pg_database: str) -> None:
    from claudechat.store.postgres import PostgresStore

    store = PostgresStore(pg_database, max_size=4)
    try:
        cid = store.create_conversation().id
        retries = itertools.count()
        barrier = threading.Barrier(4)

        def writer(name: str) -> Callable[[], None]:
            def run() -> None:
                barrier.wait()
                for i in range(15):
                    while True:
                        conv = store.get_conversation(cid)
                        msg = user(f"{name} {i}", parent_id=conv.head_id,
                                   metadata={"writer": name, "i": i})  # fmt: skip
                        try:
                            store.append(cid, msg, expect_version=conv.version)
                            break
                        except ConcurrentUpdate:
                            next(retries)

            return run

        names = [f"w{k}" for k in range(4)]
        threads = [threading.Thread(target=writer(n)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        branch = store.branch(cid)
        assert len(branch) == len(store.all_messages(cid)) == 60
        assert all(b.parent_id == a.id for a, b in itertools.pairwise(branch))
        for n in names:
            assert [m.metadata["i"] for m in branch if m.metadata["writer"] == n] == list(range(15))
    finally:
        store.close()
