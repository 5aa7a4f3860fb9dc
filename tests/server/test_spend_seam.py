"""The spend check's place in a turn: asked before anything is stored or sent, settled
with what the turn billed, its refusals answered 402 / 429 (the check itself is
server/limits.py's, tested on its own)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from service import start_service

from claudechat.errors import ClaudeChatError
from claudechat.store.accounts import User


class SpendLimitExceeded(ClaudeChatError):
    """Stands for limits.py's refusal of the same name (402)."""


class TooManyStreams(ClaudeChatError):
    """Stands for limits.py's refusal of the same name (429)."""


@dataclass
class Reservation:
    upper_usd: float
    settled: list[float | None] = field(default_factory=list)

    def settle(self, exact_usd: float | None) -> None:
        self.settled.append(exact_usd)


@dataclass
class Check:
    refuse: type[Exception] | None = None
    admitted: list[tuple[str, str, Reservation]] = field(default_factory=list)

    def admit(self, user: User, *, conversation_id: str, upper_usd: float) -> Reservation:
        if self.refuse is not None:
            raise self.refuse("over the limit")
        reservation = Reservation(upper_usd)
        self.admitted.append((user.id, conversation_id, reservation))
        return reservation


def _bound(model: str, prompt: int, max_tokens: int, budget: object) -> float:
    return (prompt * 6 + max_tokens * 15) / 1_000_000


def test_a_turn_reserves_then_settles_what_it_billed(tmp_path: Path) -> None:
    service = start_service(tmp_path / "s.db", auth_mode="none")
    check = Check()
    state = service.app.state.claudechat
    state.spend, state.upper_bound = check, _bound
    try:
        with service.client() as c:
            cid = c.post("/v1/conversations", json={}).json()["id"]
            r = c.post(f"/v1/conversations/{cid}/messages", json={"content": "hi", "stream": False})
        assert r.status_code == 200
        [(user_id, conversation_id, reservation)] = check.admitted
        assert (user_id, conversation_id) == ("local", cid)
        assert reservation.settled == [pytest.approx(r.json()["cost_usd"])]
        assert reservation.upper_usd >= r.json()["cost_usd"] > 0
    finally:
        service.stop()


@pytest.mark.parametrize(("refusal", "status", "kind"),
                         [(SpendLimitExceeded, 402, "spend_limit"),
                          (TooManyStreams, 429, "rate_limited")])  # fmt: skip
def test_a_refused_turn_stores_and_sends_nothing(
    tmp_path: Path, refusal: type[Exception], status: int, kind: str
) -> None:
    service = start_service(tmp_path / "r.db", auth_mode="none")
    state = service.app.state.claudechat
    state.spend, state.upper_bound = Check(refuse=refusal), _bound
    try:
        with service.client() as c:
            cid = c.post("/v1/conversations", json={}).json()["id"]
            r = c.post(f"/v1/conversations/{cid}/messages", json={"content": "hi"})
            assert (r.status_code, r.json()["error"]["type"]) == (status, kind)
            assert c.get(f"/v1/conversations/{cid}/messages").json()["data"] == []
        assert service.emulator.requests == []
    finally:
        service.stop()
