"""The AccountStore contract (users, API keys, web sessions, spend, turns across workers) and
conversation owners, run against MemoryStore, SQLiteStore and PostgresStore."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from claudechat.errors import ConcurrentUpdate, ConversationNotFound, UserError, UserNotFound
from claudechat.messages import user
from claudechat.store import LOCAL_USER, Limits, MemoryStore, ServiceStore, SQLiteStore
from claudechat.store.accounts import LAST_USED_RESOLUTION
from claudechat.store.export import export_json, import_conversation

_names = itertools.count()
KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
T0 = 1_800_000_000.0


class Clock:
    """A store clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def make_store(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, clock: Clock
) -> ServiceStore:
    if kind == "memory":
        return MemoryStore(clock=clock)
    if kind == "sqlite":
        return SQLiteStore(tmp_path / f"accounts-{next(_names)}.db", clock=clock)
    from claudechat.store.postgres import PostgresStore

    return PostgresStore(request.getfixturevalue("pg_new_database")(), clock=clock, max_size=4)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[ServiceStore]:
    s = make_store(request.param, tmp_path, request, clock)
    yield s
    s.close()


# --- users -------------------------------------------------------------------------------------


def test_the_local_user_exists_from_the_start(store: ServiceStore) -> None:
    local = store.get_user(LOCAL_USER)
    assert (local.id, local.name, local.is_admin, local.has_password) == (
        "local",
        "local",
        False,
        False,
    )
    assert store.list_users() == [local]
    assert store.password_hash(LOCAL_USER) is None


def test_users_are_added_found_and_listed_by_name(store: ServiceStore, clock: Clock) -> None:
    bob = store.add_user("bob", is_admin=True, password_hash="$argon2id$fake")
    alice = store.add_user("alice@example.com")
    assert (bob.name, bob.is_admin, bob.has_password, bob.created_at) == ("bob", True, True, T0)
    assert (alice.is_admin, alice.has_password, alice.limits) == (False, False, Limits())
    assert store.get_user(bob.id) == bob
    assert store.user_by_name("alice@example.com") == alice
    assert [u.name for u in store.list_users()] == ["alice@example.com", "bob", "local"]
    assert store.password_hash(bob.id) == "$argon2id$fake"


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, "é", "a/b", "semi;colon"])
def test_a_bad_user_name_is_refused(store: ServiceStore, name: str) -> None:
    with pytest.raises(UserError, match="user name"):
        store.add_user(name)
    assert [u.name for u in store.list_users()] == ["local"]


def test_a_taken_name_is_refused(store: ServiceStore) -> None:
    store.add_user("bob")
    with pytest.raises(UserError, match="bob exists already"):
        store.add_user("bob")
    with pytest.raises(UserError, match="local exists already"):
        store.add_user("local")
    assert len(store.list_users()) == 2


def test_unknown_users_raise_user_not_found(store: ServiceStore) -> None:
    for call in (
        lambda: store.get_user("nobody"),
        lambda: store.user_by_name("nobody"),
        lambda: store.password_hash("nobody"),
        lambda: store.set_password("nobody", "h"),
        lambda: store.set_limits("nobody", Limits(1.0)),
        lambda: store.set_admin("nobody", True),
        lambda: store.add_api_key("nobody", key_hash="k", prefix="p"),
        lambda: store.add_session("nobody", token_hash="t", expires_at=T0 + 1),
        lambda: store.reserve_spend("nobody", 1.0, conversation_id=None),
    ):
        with pytest.raises(UserNotFound, match="nobody"):
            call()
    assert isinstance(UserNotFound("x"), UserError)


def test_ensure_user_creates_once(store: ServiceStore) -> None:
    made = store.ensure_user("sso-42")
    assert (made.id, made.name) == ("sso-42", "sso-42")
    assert store.ensure_user("sso-42") == made
    assert store.ensure_user(LOCAL_USER) == store.get_user(LOCAL_USER)
    assert [u.id for u in store.list_users()] == ["local", "sso-42"]
    other = store.ensure_user("github|12345 (Ann)")  # any printable id from another system
    assert other.name == "github|12345 (Ann)" and store.user_by_name(other.name) == other
    for bad in ("", "x" * 257, "tab\there"):
        with pytest.raises(UserError, match="user id"):
            store.ensure_user(bad)
    assert len(store.list_users()) == 3


def test_password_limits_and_admin_are_changed(store: ServiceStore) -> None:
    bob = store.add_user("bob")
    store.set_password(bob.id, "$argon2id$one")
    assert store.get_user(bob.id).has_password and store.password_hash(bob.id) == "$argon2id$one"
    store.set_password(bob.id, None)
    assert not store.get_user(bob.id).has_password and store.password_hash(bob.id) is None
    limits = Limits(usd_per_day=1.5, usd_per_month=20.0, concurrent_streams=2)
    store.set_limits(bob.id, limits)
    assert store.get_user(bob.id).limits == limits
    store.set_limits(bob.id, Limits(usd_per_month=3.0))
    assert store.get_user(bob.id).limits == Limits(None, 3.0, None)
    store.set_admin(bob.id, True)
    assert store.get_user(bob.id).is_admin
    store.set_admin(bob.id, False)
    assert not store.get_user(bob.id).is_admin


@pytest.mark.parametrize(
    "limits", [Limits(usd_per_day=-1.0), Limits(usd_per_month=float("nan")),
               Limits(concurrent_streams=-1)],
)  # fmt: skip
def test_negative_limits_are_refused(store: ServiceStore, limits: Limits) -> None:
    bob = store.add_user("bob")
    with pytest.raises(UserError, match="must be"):
        store.set_limits(bob.id, limits)
    assert store.get_user(bob.id).limits == Limits()


# --- API keys ----------------------------------------------------------------------------------


def test_api_keys_find_their_user_until_revoked(store: ServiceStore, clock: Clock) -> None:
    bob, ann = store.add_user("bob"), store.add_user("ann")
    k1 = store.add_api_key(bob.id, key_hash="hash-1", prefix="aaaa1111")
    clock.now += 1
    k2 = store.add_api_key(bob.id, key_hash="hash-2", prefix="bbbb2222")
    k3 = store.add_api_key(ann.id, key_hash="hash-3", prefix="cccc3333")
    assert (k1.user_id, k1.prefix, k1.created_at, k1.last_used_at, k1.revoked_at) == (
        bob.id, "aaaa1111", T0, None, None)  # fmt: skip
    clock.now += 5
    found = store.api_key_user("hash-1")
    assert found is not None
    assert found[0] == bob and found[1].id == k1.id and found[1].last_used_at == T0 + 6
    assert store.api_key_user("hash-unknown") is None
    assert [k.id for k in store.list_api_keys(bob.id)] == [k1.id, k2.id]
    assert {k.id for k in store.list_api_keys()} == {k1.id, k2.id, k3.id}
    store.revoke_api_key(k1.id)
    store.revoke_api_key(k1.id)  # again: harmless, the first time is kept
    assert store.api_key_user("hash-1") is None
    assert store.api_key_user("hash-2") is not None
    listed = {k.id: k for k in store.list_api_keys(bob.id)}
    assert listed[k1.id].revoked_at == T0 + 6 and listed[k2.id].revoked_at is None
    assert listed[k1.id].last_used_at == T0 + 6


def test_a_key_looked_up_without_recording_its_use_only_reads(
    store: ServiceStore, clock: Clock
) -> None:
    bob = store.add_user("bob")
    store.add_api_key(bob.id, key_hash="hash-1", prefix="aaaa1111")
    found = store.api_key_user("hash-1", record_use=False)
    assert found is not None and found[0].id == bob.id and found[1].last_used_at is None
    assert store.list_api_keys(bob.id)[0].last_used_at is None
    assert store.api_key_user("hash-unknown", record_use=False) is None
    store.revoke_api_key(found[1].id)
    assert store.api_key_user("hash-1", record_use=False) is None


def test_a_keys_last_use_is_recorded_at_most_once_a_minute(
    store: ServiceStore, clock: Clock
) -> None:
    bob = store.add_user("bob")
    store.add_api_key(bob.id, key_hash="hash-1", prefix="aaaa1111")
    first = store.api_key_user("hash-1")
    assert first is not None and first[1].last_used_at == T0
    clock.now += LAST_USED_RESOLUTION - 1
    again = store.api_key_user("hash-1")
    assert again is not None and again[1].last_used_at == T0
    assert store.list_api_keys(bob.id)[0].last_used_at == T0
    clock.now += 1
    later = store.api_key_user("hash-1")
    assert later is not None and later[1].last_used_at == T0 + LAST_USED_RESOLUTION
    assert store.list_api_keys(bob.id)[0].last_used_at == T0 + LAST_USED_RESOLUTION
    clock.now = T0 + 5  # a clock set back: the stored use is ahead, the new one is written
    back = store.api_key_user("hash-1")
    assert back is not None and back[1].last_used_at == T0 + 5


def test_revoking_an_unknown_key_is_an_error(store: ServiceStore) -> None:
    with pytest.raises(UserError, match="no API key nope"):
        store.revoke_api_key("nope")


# --- web sessions ------------------------------------------------------------------------------


def test_sessions_expire_on_the_store_clock(store: ServiceStore, clock: Clock) -> None:
    bob = store.add_user("bob")
    store.add_session(bob.id, token_hash="t1", expires_at=T0 + 100)
    store.add_session(bob.id, token_hash="t2", expires_at=T0 + 10)
    assert store.session_user("t1") == bob and store.session_user("t2") == bob
    assert store.session_user("unknown") is None
    clock.now = T0 + 10
    assert store.session_user("t2") is None  # expired at its expiry time
    assert store.session_user("t1") == bob
    store.delete_session("t1")
    store.delete_session("t1")  # unknown now: nothing happens
    assert store.session_user("t1") is None


# --- spend -------------------------------------------------------------------------------------


def test_spend_is_reserved_then_settled(store: ServiceStore, clock: Clock) -> None:
    bob, ann = store.add_user("bob"), store.add_user("ann")
    conv = store.create_conversation(owner=bob.id)
    first = store.reserve_spend(bob.id, 0.50, conversation_id=conv.id)
    clock.now += 60
    second = store.reserve_spend(bob.id, 0.25, conversation_id=None)
    store.reserve_spend(ann.id, 2.0, conversation_id=None)
    assert store.spend_since(bob.id, T0) == pytest.approx(0.75)
    store.settle_spend(first, 0.125)
    assert store.spend_since(bob.id, T0) == pytest.approx(0.375)
    assert store.spend_since(bob.id, T0 + 60) == pytest.approx(0.25)  # created_at >= since
    assert store.spend_since(bob.id, T0 + 61) == 0.0
    store.settle_spend(second, 0.0)
    assert store.spend_by_user(T0) == pytest.approx({bob.id: 0.125, ann.id: 2.0})
    assert store.spend_by_user(T0 + 1) == pytest.approx({bob.id: 0.0, ann.id: 2.0})
    assert store.spend_since(LOCAL_USER, T0) == 0.0
    with pytest.raises(UserError, match="no spend row"):
        store.settle_spend("nope", 1.0)


# --- turns across workers ----------------------------------------------------------------------


def test_active_turns_count_held_unexpired_leases_per_owner(
    store: ServiceStore, clock: Clock
) -> None:
    bob, ann = store.add_user("bob"), store.add_user("ann")
    b1, b2, b3 = (store.create_conversation(owner=bob.id) for _ in range(3))
    a1 = store.create_conversation(owner=ann.id)
    assert store.active_turns(bob.id) == 0
    store.claim_turn(b1.id, "worker-1", ttl=30)
    store.claim_turn(b2.id, "worker-2", ttl=10)
    store.claim_turn(a1.id, "worker-1", ttl=30)
    assert (store.active_turns(bob.id), store.active_turns(ann.id)) == (2, 1)
    store.release_turn(b1.id, "worker-1")
    assert store.active_turns(bob.id) == 1
    clock.now += 10  # b2's lease runs out
    assert store.active_turns(bob.id) == 0
    assert store.active_turns(LOCAL_USER) == 0 and b3.owner == bob.id


def test_a_stop_request_reaches_the_held_turn_only(store: ServiceStore, clock: Clock) -> None:
    conv = store.create_conversation()
    assert store.request_stop(conv.id) is False  # no turn held
    assert store.stop_requested(conv.id) is False
    store.claim_turn(conv.id, "worker-1", ttl=30)
    assert store.stop_requested(conv.id) is False
    assert store.request_stop(conv.id) is True
    assert store.stop_requested(conv.id) is True
    store.claim_turn(conv.id, "worker-1", ttl=30)  # a renewal keeps the request
    assert store.stop_requested(conv.id) is True
    store.release_turn(conv.id, "worker-1")
    assert store.stop_requested(conv.id) is False
    store.claim_turn(conv.id, "worker-1", ttl=30)  # the next turn starts unasked
    assert store.stop_requested(conv.id) is False
    store.request_stop(conv.id)
    clock.now += 30  # the holder died: its lease and its stop mark lapse
    assert store.stop_requested(conv.id) is False
    assert store.request_stop(conv.id) is False
    store.claim_turn(conv.id, "worker-2", ttl=30)
    assert store.stop_requested(conv.id) is False
    with pytest.raises(ConcurrentUpdate):
        store.claim_turn(conv.id, "worker-3", ttl=30)
    for call in (store.request_stop, store.stop_requested):
        with pytest.raises(ConversationNotFound, match="no conversation nope"):
            call("nope")


def test_one_read_tells_every_turn_asked_to_stop(store: ServiceStore, clock: Clock) -> None:
    asked, running, idle, lapsed = (store.create_conversation() for _ in range(4))
    for conv in (asked, running, lapsed):
        store.claim_turn(conv.id, "worker-1", ttl=30 if conv is not lapsed else 5)
    assert store.request_stop(asked.id) and store.request_stop(lapsed.id)
    assert store.request_stop(idle.id) is False
    ids = [asked.id, running.id, idle.id, lapsed.id, "nope", asked.id]
    assert store.stops_requested(ids) == {asked.id, lapsed.id}
    clock.now += 10  # the lapsed turn's holder died: its mark lapses with its lease
    assert store.stops_requested(ids) == {asked.id}
    assert store.stops_requested([]) == set()
    many = [store.create_conversation() for _ in range(3)]
    for conv in many:
        store.claim_turn(conv.id, "worker-2", ttl=30)
        store.request_stop(conv.id)
    filler = [f"unknown-{n}" for n in range(1_200)]  # past one query's chunk of ids
    assert store.stops_requested([*filler, *(c.id for c in many)]) == {c.id for c in many}


# --- owners ------------------------------------------------------------------------------------


def test_conversations_have_owners_and_reads_filter_by_them(
    store: ServiceStore, clock: Clock
) -> None:
    bob = store.add_user("bob")
    mine = store.create_conversation(title="local one")
    clock.now += 1
    his = store.create_conversation(title="bob's", owner=bob.id)
    store.append(his.id, user("the zebra question"))
    clock.now += 1
    store.append(mine.id, user("another zebra"))
    assert (mine.owner, store.get_conversation(his.id).owner) == (LOCAL_USER, bob.id)
    assert [i.conversation.id for i in store.list_conversations()] == [mine.id, his.id]
    assert [i.conversation.id for i in store.list_conversations(owner=bob.id)] == [his.id]
    assert [i.conversation.id for i in store.iter_conversations(owner=LOCAL_USER, page=1)] == [
        mine.id
    ]
    assert [i.conversation.id for i in store.iter_conversations(owner="nobody")] == []
    latest_bob = store.latest_conversation(owner=bob.id)
    assert latest_bob is not None and latest_bob.id == his.id
    assert store.latest_conversation(owner="nobody") is None
    assert {h.conversation_id for h in store.search("zebra")} == {mine.id, his.id}
    assert [h.conversation_id for h in store.search("zebra", owner=bob.id)] == [his.id]
    assert store.search("zebra", owner=bob.id, conversation_id=mine.id) == []


def test_export_and_import_keep_or_set_the_owner(store: ServiceStore) -> None:
    bob = store.add_user("bob")
    conv = store.create_conversation(title="t", owner=bob.id)
    store.append(conv.id, user("hello"))
    text = export_json(store, conv.id)
    assert f'"owner": "{bob.id}"' in text
    again = import_conversation(store, text)  # the id is taken: imported under new ids
    assert again.id != conv.id and again.owner == bob.id
    moved = import_conversation(store, text, owner=LOCAL_USER)
    assert moved.owner == LOCAL_USER and store.get_conversation(moved.id).owner == LOCAL_USER
    legacy = text.replace(f'"owner": "{bob.id}"', '"ownerless": true')
    assert import_conversation(store, legacy).owner == LOCAL_USER
