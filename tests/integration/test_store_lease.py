"""The turn lease of the Store contract, on MemoryStore, SQLiteStore and PostgresStore.

A writer claims a conversation's turn before it stores or sends anything; while the lease
lasts, every other writer is refused at once and nothing it tried is stored.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from claudechat.errors import ConcurrentUpdate, ConversationNotFound, UserError
from claudechat.messages import assistant, user
from claudechat.store import MemoryStore, SQLiteStore, Store, TurnLease
from claudechat.store.base import turn_held

_names = itertools.count()
KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class Clock:
    """A store clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def open_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest, clock: Clock) -> Store:
    if kind == "memory":
        return MemoryStore(clock=clock)
    if kind == "sqlite":
        return SQLiteStore(tmp_path / f"lease-{next(_names)}.db", clock=clock)
    from claudechat.store.postgres import PostgresStore

    return PostgresStore(request.getfixturevalue("pg_new_database")(), clock=clock, max_size=8)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Store]:
    s = open_store(request.param, tmp_path, request, clock)
    yield s
    s.close()


def test_a_second_owner_is_refused_until_release(store: Store) -> None:
    conv = store.create_conversation(title="t")
    lease = store.claim_turn(conv.id, "alice", ttl=60)
    assert lease == TurnLease(conv.id, "alice", lease.expires_at, 0, None)
    with pytest.raises(ConcurrentUpdate, match="busy"):
        store.claim_turn(conv.id, "bob", ttl=60)
    store.release_turn(conv.id, "bob")  # not bob's: nothing happens
    with pytest.raises(ConcurrentUpdate):
        store.claim_turn(conv.id, "bob", ttl=60)
    store.release_turn(conv.id, "alice")
    assert store.claim_turn(conv.id, "bob", ttl=60).owner == "bob"


def test_the_owner_renews_and_an_expired_lease_is_free(store: Store, clock: Clock) -> None:
    conv = store.create_conversation()
    first = store.claim_turn(conv.id, "alice", ttl=30)
    clock.now += 20
    renewed = store.claim_turn(conv.id, "alice", ttl=30)
    assert renewed.expires_at == first.expires_at + 20
    clock.now += 29
    with pytest.raises(ConcurrentUpdate):
        store.claim_turn(conv.id, "bob", ttl=30)
    clock.now += 1  # alice crashed: her lease ran out
    assert store.claim_turn(conv.id, "bob", ttl=30).owner == "bob"


def test_turn_held_tells_whether_a_writer_holds_the_turn_now(store: Store, clock: Clock) -> None:
    conv = store.create_conversation()
    assert turn_held(store, conv.id) is False
    store.claim_turn(conv.id, "alice", ttl=30)
    assert turn_held(store, conv.id) is True
    store.release_turn(conv.id, "alice")
    assert turn_held(store, conv.id) is False
    store.claim_turn(conv.id, "bob", ttl=30)
    clock.now += 30  # bob crashed: a lease run out is no turn
    assert turn_held(store, conv.id) is False
    assert turn_held(object(), conv.id) is False  # a store that cannot tell


def test_the_lease_reports_the_head_it_was_taken_at(store: Store) -> None:
    conv = store.create_conversation()
    u = user("hi")
    after = store.append(conv.id, u)
    lease = store.claim_turn(conv.id, "alice", ttl=60)
    assert (lease.version, lease.head_id) == (after.version, u.id)


def test_head_moves_by_others_are_refused_and_store_nothing(store: Store) -> None:
    conv = store.create_conversation()
    u = user("mine")
    store.claim_turn(conv.id, "alice", ttl=60)
    store.append(conv.id, u, lease="alice")
    before = store.get_conversation(conv.id)
    for lease in (None, "bob"):
        with pytest.raises(ConcurrentUpdate, match="busy"):
            store.append(conv.id, user("intruder", parent_id=u.id), lease=lease)
        with pytest.raises(ConcurrentUpdate, match="busy"):
            store.set_head(conv.id, None, lease=lease)
    assert store.get_conversation(conv.id) == before
    assert [m.text for m in store.all_messages(conv.id)] == ["mine"]
    # the holder's own writes are never refused because of others
    a = assistant("reply", parent_id=u.id)
    moved = store.append(conv.id, a, expect_version=before.version, lease="alice")
    assert moved.head_id == a.id
    store.release_turn(conv.id, "alice")
    assert store.set_head(conv.id, u.id).head_id == u.id


def test_claims_are_checked(store: Store) -> None:
    conv = store.create_conversation()
    with pytest.raises(ConversationNotFound):
        store.claim_turn("no-such-conversation", "alice", ttl=60)
    for owner, ttl in (("", 60.0), ("alice", 0.0), ("alice", -1.0), ("alice", float("inf"))):
        with pytest.raises(UserError):
            store.claim_turn(conv.id, owner, ttl=ttl)
    assert store.claim_turn(conv.id, "bob", ttl=1).owner == "bob"


def test_racing_threads_one_wins(store: Store) -> None:
    conv = store.create_conversation()
    winners: list[str] = []
    refused: list[str] = []
    start = threading.Barrier(6)

    def claim(name: str) -> None:
        start.wait()
        try:
            store.claim_turn(conv.id, name, ttl=60)
            winners.append(name)
        except ConcurrentUpdate:
            refused.append(name)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(refused) == 5


def test_two_sqlite_stores_on_one_file_share_the_lease(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "shared.db"
    with SQLiteStore(path, clock=clock) as one, SQLiteStore(path, clock=clock) as two:
        conv = one.create_conversation()
        one.claim_turn(conv.id, "alice", ttl=60)
        with pytest.raises(ConcurrentUpdate):
            two.claim_turn(conv.id, "bob", ttl=60)
        with pytest.raises(ConcurrentUpdate):
            two.append(conv.id, user("intruder"))
        assert two.all_messages(conv.id) == []
        one.release_turn(conv.id, "alice")
        assert two.claim_turn(conv.id, "bob", ttl=60).owner == "bob"


@pytest.mark.postgres
def test_two_postgres_stores_share_the_lease(pg_database: str, clock: Clock) -> None:
    from claudechat.store.postgres import PostgresStore

    with (
        PostgresStore(pg_database, clock=clock) as one,
        PostgresStore(pg_database, clock=clock) as two,
    ):
        conv = one.create_conversation()
        one.claim_turn(conv.id, "alice", ttl=3600)
        with pytest.raises(ConcurrentUpdate):
            two.claim_turn(conv.id, "bob", ttl=60)
        one.release_turn(conv.id, "alice")
        assert two.claim_turn(conv.id, "bob", ttl=60).owner == "bob"
