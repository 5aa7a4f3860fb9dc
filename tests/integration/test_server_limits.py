"""Spend limits and stream quotas on real stores, with a clock that moves when told."""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from claudechat.errors import ServiceError, SpendLimitExceeded, TooManyStreams
from claudechat.models.capabilities import model_prices
from claudechat.server.limits import SpendGuard, upper_bound_usd
from claudechat.store.accounts import Limits, User
from claudechat.store.memory import MemoryStore
from claudechat.store.sqlite import SQLiteStore

_names = itertools.count()
KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def at(*when: int) -> float:
    """Epoch seconds of a UTC date and time."""
    return datetime(*when, tzinfo=UTC).timestamp()  # type: ignore[arg-type, misc]


class Clock:
    """One clock for the store and the guard, moved by the test."""

    def __init__(self) -> None:
        self.now = at(2026, 3, 14, 9, 30)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=KINDS)
def accounts(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[MemoryStore]:
    if request.param == "memory":
        store = MemoryStore(clock=clock)
    elif request.param == "sqlite":
        store = SQLiteStore(tmp_path / f"limits-{next(_names)}.db", clock=clock)  # type: ignore[assignment]
    else:
        from claudechat.store.postgres import PostgresStore

        conninfo = request.getfixturevalue("pg_new_database")()
        store = PostgresStore(conninfo, clock=clock, max_size=4)  # type: ignore[assignment]
    yield store
    store.close()


def limited(accounts: MemoryStore, limits: Limits, name: str = "alice") -> tuple[User, str]:
    """A user with ``limits`` and a conversation of theirs."""
    user = accounts.add_user(name)
    accounts.set_limits(user.id, limits)
    conv = accounts.create_conversation(title="spend", owner=user.id)
    return accounts.get_user(user.id), conv.id


def test_the_upper_bound_prices_the_prompt_as_a_1h_cache_write_and_all_of_max_tokens() -> None:
    prices = model_prices("claude-sonnet-4-6")
    assert prices is not None
    p = prices.prices
    want = (1_000 * p.cache_write_1h + 2_000 * p.output) / 1_000_000
    assert upper_bound_usd("claude-sonnet-4-6", 1_000, 2_000, None) == pytest.approx(want)
    capped = (500 * p.cache_write_1h + 2_000 * p.output) / 1_000_000
    assert upper_bound_usd("claude-sonnet-4-6", 1_000, 2_000, 500) == pytest.approx(capped)
    assert upper_bound_usd("claude-sonnet-4-6", 1_000, 2_000, "max") == pytest.approx(want)


def test_the_upper_bound_uses_the_long_prompt_tier_and_never_zero_for_unknown_models() -> None:
    short = upper_bound_usd("claude-haiku-5-5", 100_000, 0, None)
    long = upper_bound_usd("claude-haiku-5-5", 100_001, 0, None)
    assert long > 4 * short  # the long tier is five times dearer per token
    dearest = upper_bound_usd("claude-premium-9", 1_000, 1_000, None)
    assert dearest >= max(upper_bound_usd(m, 1_000, 1_000, None)
                          for m in ("claude-opus-5", "claude-fable-5", "claude-haiku-5-5")) > 0  # fmt: skip


def test_a_turn_that_would_pass_the_limit_says_so_rather_than_reached(
    accounts: MemoryStore, clock: Clock
) -> None:
    user, cid = limited(accounts, Limits(usd_per_day=0.05))
    guard = SpendGuard(accounts, clock=clock)
    with pytest.raises(SpendLimitExceeded) as refused:
        guard.admit(user, conversation_id=cid, upper_usd=0.067)
    said = str(refused.value)
    assert "would be passed: $0.0000 spent, this turn may cost up to $0.0670" in said, said
    assert "reached" not in said
    guard.admit(user, conversation_id=cid, upper_usd=0.04).settle(0.05)
    with pytest.raises(SpendLimitExceeded) as refused:
        guard.admit(user, conversation_id=cid, upper_usd=0.01)
    assert "daily spend limit of $0.05 reached" in str(refused.value)


def test_spend_reached_mid_day_is_refused_and_admitted_again_the_next_utc_day(
    accounts: MemoryStore, clock: Clock
) -> None:
    user, cid = limited(accounts, Limits(usd_per_day=1.0))
    guard = SpendGuard(accounts, clock=clock)
    guard.admit(user, conversation_id=cid, upper_usd=0.5).settle(0.7)
    clock.now = at(2026, 3, 14, 15, 0)
    guard.admit(user, conversation_id=cid, upper_usd=0.25).settle(0.25)
    clock.now = at(2026, 3, 14, 23, 59, 59)
    with pytest.raises(SpendLimitExceeded) as refused:
        guard.admit(user, conversation_id=cid, upper_usd=0.1)
    err = refused.value
    assert (err.limit, err.limit_usd, err.resets_at) == ("usd_per_day", 1.0, at(2026, 3, 15))
    assert err.spent_usd == pytest.approx(0.95)
    assert "daily spend limit of $1.00" in str(err) and "2026-03-15 00:00 UTC" in str(err)
    assert accounts.spend_since(user.id, at(2026, 3, 14)) == pytest.approx(0.95)  # none kept
    clock.now = at(2026, 3, 15, 0, 0, 1)
    guard.admit(user, conversation_id=cid, upper_usd=0.9).settle(0.1)
    assert accounts.spend_since(user.id, at(2026, 3, 15)) == pytest.approx(0.1)


def test_the_month_window_starts_on_the_first_of_the_utc_month(
    accounts: MemoryStore, clock: Clock
) -> None:
    user, cid = limited(accounts, Limits(usd_per_day=5.0, usd_per_month=2.0))
    guard = SpendGuard(accounts, clock=clock)
    clock.now = at(2026, 2, 27, 12)
    guard.admit(user, conversation_id=cid, upper_usd=1.0).settle(1.9)  # February's
    clock.now = at(2026, 3, 1, 0, 0, 1)
    guard.admit(user, conversation_id=cid, upper_usd=1.0).settle(1.5)
    clock.now = at(2026, 3, 20, 8)
    guard.admit(user, conversation_id=cid, upper_usd=0.2).settle(0.4)
    clock.now = at(2026, 3, 31, 23)
    with pytest.raises(SpendLimitExceeded) as refused:
        guard.admit(user, conversation_id=cid, upper_usd=0.2)
    assert (refused.value.limit, refused.value.resets_at) == ("usd_per_month", at(2026, 4, 1))
    assert refused.value.spent_usd == pytest.approx(1.9)
    clock.now = at(2026, 4, 1, 0, 0, 1)
    guard.admit(user, conversation_id=cid, upper_usd=0.2)


def test_december_resets_on_the_first_of_january(accounts: MemoryStore, clock: Clock) -> None:
    user, cid = limited(accounts, Limits(usd_per_month=0.5))
    clock.now = at(2026, 12, 31, 22)
    with pytest.raises(SpendLimitExceeded) as refused:
        SpendGuard(accounts, clock=clock).admit(user, conversation_id=cid, upper_usd=0.6)
    assert refused.value.resets_at == at(2027, 1, 1)


def test_running_turns_count_at_their_upper_bound_so_two_cannot_overshoot(
    accounts: MemoryStore, clock: Clock
) -> None:
    user, cid = limited(accounts, Limits(usd_per_day=1.0))
    guard = SpendGuard(accounts, clock=clock)
    running = guard.admit(user, conversation_id=cid, upper_usd=0.6)
    with pytest.raises(SpendLimitExceeded):
        guard.admit(user, conversation_id=cid, upper_usd=0.6)
    running.settle(0.05)
    running.settle(0.5)  # a second settle changes nothing
    guard.admit(user, conversation_id=cid, upper_usd=0.6).settle(None)  # unknown: the bound stays
    assert accounts.spend_since(user.id, at(2026, 3, 14)) == pytest.approx(0.65)


def test_concurrent_streams_are_the_users_held_turns_across_conversations(
    accounts: MemoryStore, clock: Clock
) -> None:
    user, first = limited(accounts, Limits(concurrent_streams=2))
    second = accounts.create_conversation(title="two", owner=user.id).id
    third = accounts.create_conversation(title="three", owner=user.id).id
    other, theirs = limited(accounts, Limits(), name="bob")
    guard = SpendGuard(accounts, clock=clock)
    accounts.claim_turn(first, "worker-1", ttl=60)
    accounts.claim_turn(theirs, "worker-1", ttl=60)  # bob's turn does not count for alice
    guard.admit(user, conversation_id=second, upper_usd=0.01)
    accounts.claim_turn(second, "worker-2", ttl=60)
    with pytest.raises(TooManyStreams) as refused:
        guard.admit(user, conversation_id=third, upper_usd=0.01)
    assert (refused.value.limit, refused.value.active) == (2, 2)
    assert "2 of 2 concurrent streams" in str(refused.value)
    spent = accounts.spend_since(user.id, 0)
    accounts.release_turn(first, "worker-1")
    admitted = guard.admit(user, conversation_id=third, upper_usd=0.01)
    # no spend limit to hold: nothing is reserved before the turn, its spend is recorded
    # when it settles
    assert accounts.spend_since(user.id, 0) == pytest.approx(spent)
    admitted.settle(0.004)
    assert accounts.spend_since(user.id, 0) == pytest.approx(spent + 0.004)
    accounts.claim_turn(third, "worker-3", ttl=30)
    clock.now += 61  # the leases of crashed workers run out
    guard.admit(user, conversation_id=first, upper_usd=0.01)
    guard.admit(other, conversation_id=theirs, upper_usd=0.01)  # bob has no limits at all


def test_the_refusals_are_service_errors_that_survive_pickling() -> None:
    spend = SpendLimitExceeded("over", limit="usd_per_day", limit_usd=1.0, spent_usd=0.9,
                               resets_at=5.0)  # fmt: skip
    streams = TooManyStreams("busy", limit=2, active=3)
    assert isinstance(spend, ServiceError) and isinstance(streams, ServiceError)
    again = pickle.loads(pickle.dumps(spend))
    assert (str(again), again.limit, again.spent_usd, again.resets_at) == ("over", "usd_per_day",
                                                                          0.9, 5.0)  # fmt: skip
    assert pickle.loads(pickle.dumps(streams)).active == 3
