"""Failed sign-ins: past the limit per username or per client address, 429 rate_limited with
Retry-After, before the password is looked at; the window passes on an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from service import Service, add_member, start_service

from claudechat.server.login_limit import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limited(tmp_path: Path, clock: Clock) -> Iterator[Service]:
    """Builtin auth; 3 failures per name, 5 per address, in 600 s."""
    service = start_service(tmp_path / "chats.db", clock=clock, login_failures_per_user=3,
                            login_failures_per_address=5, login_window_seconds=600)  # fmt: skip
    add_member(service, "alice", password="correct horse")
    try:
        yield service
    finally:
        service.stop()


def _login(c: httpx2.Client, name: str, password: str) -> httpx2.Response:
    return c.post("/v1/auth/login", json={"username": name, "password": password})


def _sessions(service: Service, user_id: str) -> int:
    db = service.store._db()  # type: ignore[attr-defined]
    return int(db.execute("SELECT count(*) FROM web_sessions WHERE user_id = ?", (user_id,))
               .fetchone()[0])  # fmt: skip


def test_a_name_with_too_many_failures_is_refused_until_the_window_passes(
    limited: Service, clock: Clock
) -> None:
    alice = limited.store.user_by_name("alice")
    with limited.client() as c:
        for _ in range(3):
            assert _login(c, "alice", "wrong password").status_code == 401
        clock.now += 100
        refused = _login(c, "alice", "correct horse")  # the right password, too late
        assert refused.status_code == 429
        assert refused.json()["error"]["type"] == "rate_limited"
        assert refused.headers["retry-after"] == "500"
        assert "set-cookie" not in refused.headers and _sessions(limited, alice.id) == 0
        clock.now += 500
        assert _login(c, "alice", "correct horse").status_code == 200
        assert _sessions(limited, alice.id) == 1


def test_an_unknown_name_is_counted_and_refused_as_a_known_one(limited: Service) -> None:
    with limited.client() as c:
        answers = [_login(c, "nobody", "wrong password").status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]


def test_a_success_forgets_the_names_failures(limited: Service) -> None:
    with limited.client() as c:
        for _ in range(2):
            assert _login(c, "alice", "wrong password").status_code == 401
        assert _login(c, "alice", "correct horse").status_code == 200
        answers = [_login(c, "alice", "wrong password").status_code for _ in range(2)]
    assert answers == [401, 401]


def test_one_address_trying_many_names_is_refused(limited: Service) -> None:
    with limited.client() as c:
        answers = [_login(c, f"user{n}", "wrong password").status_code for n in range(5)]
        assert answers == [401] * 5
        refused = _login(c, "alice", "correct horse")  # a name with no failure of its own
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) == 600


def test_the_throttle_keeps_a_bounded_number_of_names() -> None:
    now = [0.0]
    throttle = LoginThrottle(per_user=1, per_address=1_000, max_tracked=10,
                             clock=lambda: now[0])  # fmt: skip
    for n in range(100):
        throttle.failed(f"user{n}", "10.0.0.1")
    assert throttle.retry_after("user99", None) == 900
    assert throttle.retry_after("user0", None) is None  # dropped: the longest quiet
    assert len(throttle._failures) == 10
    now[0] = 900.0
    assert throttle.retry_after("user99", "10.0.0.1") is None
