"""Per-user spend limits and concurrent-stream quotas, checked before a turn runs.

Before a turn, the most it can cost (`upper_bound_usd`) is reserved in the store's spend
table; the user's spend in the current UTC day and month, that reservation included, must stay
within their limits, or the turn is refused before anything is stored or sent upstream. After
the turn the reservation is settled with the exact cost. Reserving before checking means two
workers admitting turns of one user at the same moment both see both reservations: they may
both refuse, but together they cannot overshoot the limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal, Protocol

from ..errors import SpendLimitExceeded, TooManyStreams
from ..models.capabilities import known_models, model_info
from ..store.accounts import User
from ..store.base import one_transaction
from ..usage import Prices

__all__ = ["Admission", "SpendAccounts", "SpendGuard", "upper_bound_usd"]


class SpendAccounts(Protocol):
    """What the guard needs of an AccountStore: the spend rows and the running turns."""

    def reserve_spend(self, user_id: str, usd: float, *, conversation_id: str) -> str: ...
    def settle_spend(self, spend_id: str, usd: float) -> None: ...
    def spend_since(self, user_id: str, since: float) -> float: ...
    def active_turns(self, owner: str) -> int: ...


@lru_cache(maxsize=1)
def _dearest_prices() -> Prices:
    """The dearest price of each kind over every known model: the bound for a model whose
    price is unknown, so that a limit still binds."""
    tiers = []
    for name in known_models():
        pricing = model_info(name, warn=False).pricing
        if pricing is not None:
            tiers += [pricing.prices] + ([pricing.long_prices] if pricing.long_prices else [])
    return Prices(*(max(getattr(p, f) for p in tiers) for f in Prices.__dataclass_fields__))


def upper_bound_usd(
    model: str, prompt_tokens: int, max_tokens: int, budget: int | Literal["max"] | None
) -> float:
    """The most a turn can cost: its prompt (capped by an int budget) all written to the
    1-hour cache, the dearest input price, and ``max_tokens`` of output; at the long-prompt
    tier when the prompt passes its threshold, at the dearest known prices when the model's
    are unknown."""
    capped = min(prompt_tokens, budget) if isinstance(budget, int) else prompt_tokens
    prompt = max(0, capped)
    pricing = model_info(model, warn=False).pricing
    if pricing is None:
        prices = _dearest_prices()
    elif pricing.long_prices is not None and prompt > (pricing.long_threshold or 0):
        prices = pricing.long_prices
    else:
        prices = pricing.prices
    dearest_input = max(prices.input, prices.cache_write_5m, prices.cache_write_1h)
    return (prompt * dearest_input + max(0, max_tokens) * prices.output) / 1_000_000


def _windows(now: float) -> tuple[float, float, float, float]:
    """Start of the UTC day, its end, start of the UTC month, its end (epoch seconds)."""
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    next_month = month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)
    return day.timestamp(), day.timestamp() + 86_400, month.timestamp(), next_month.timestamp()


def _usd(amount: float) -> str:
    """Dollars to the cent, or to four significant digits below a dollar ($0.002)."""
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.4g}"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class Admission:
    """A turn let through: its reservation (None when the user has no spend limit, so
    nothing needed reserving), settled with the exact cost when the turn ends."""

    spend_id: str | None
    upper_usd: float
    _accounts: SpendAccounts
    user_id: str = ""
    conversation_id: str = ""
    settled: bool = False

    def settle(self, exact_usd: float | None) -> None:
        """Replace the reservation by what the turn billed (0 for a turn that never reached
        the API; None, a cost unknown, keeps the reserved bound); a turn that reserved
        nothing records its spend now. Settling twice is a no-op."""
        if self.settled:
            return
        usd = self.upper_usd if exact_usd is None else max(0.0, exact_usd)
        with one_transaction(self._accounts):  # one commit for the spend row
            spend_id = self.spend_id
            if spend_id is None:
                spend_id = self._accounts.reserve_spend(self.user_id, usd,
                                                        conversation_id=self.conversation_id)  # fmt: skip
            self._accounts.settle_spend(spend_id, usd)
        self.spend_id, self.settled = spend_id, True


class SpendGuard:
    """Admits a user's turn or refuses it with SpendLimitExceeded (HTTP 402) or TooManyStreams
    (HTTP 429). Call it before claiming the turn, so the turn itself is not counted."""

    def __init__(self, accounts: SpendAccounts, *, clock: Callable[[], float] = time.time):
        self._accounts = accounts
        self._clock = clock

    def admit(self, user: User, *, conversation_id: str, upper_usd: float) -> Admission:
        """Check the stream quota, reserve ``upper_usd`` and check the day and month limits;
        a refused turn leaves its reservation settled at 0."""
        self._check_streams(user)
        if user.limits.usd_per_day is None and user.limits.usd_per_month is None:
            # No limit to hold: the spend is recorded when the turn settles, so the turn
            # makes one commit fewer before its first token.
            return Admission(None, upper_usd, self._accounts, user.id, conversation_id)
        spend_id = self._accounts.reserve_spend(user.id, upper_usd,
                                                conversation_id=conversation_id)  # fmt: skip
        admission = Admission(spend_id, upper_usd, self._accounts, user.id, conversation_id)
        try:
            self._check_spend(user, upper_usd)
        except SpendLimitExceeded:
            admission.settle(0.0)
            raise
        return admission

    def _check_streams(self, user: User) -> None:
        limit = user.limits.concurrent_streams
        if limit is None:
            return
        active = self._accounts.active_turns(user.id)
        if active >= limit:
            raise TooManyStreams(
                f"{user.name} already has {active} of {limit} concurrent streams running; "
                "wait for one to finish",
                limit=limit,
                active=active,
            )

    def _check_spend(self, user: User, upper_usd: float) -> None:
        day, day_end, month, month_end = _windows(self._clock())
        checks = [("usd_per_day", "daily", user.limits.usd_per_day, day, day_end),
                  ("usd_per_month", "monthly", user.limits.usd_per_month, month, month_end)]  # fmt: skip
        for name, adjective, limit, since, resets_at in checks:
            if limit is None:
                continue
            total = self._accounts.spend_since(user.id, since)  # this turn's bound included
            if total > limit:
                spent = max(0.0, total - upper_usd)
                if spent >= limit:
                    said = (f"{adjective} spend limit of {_usd(limit)} reached for "
                            f"{user.name}: ${spent:.4f} spent")  # fmt: skip
                else:
                    said = (f"{adjective} spend limit of {_usd(limit)} for {user.name} would "
                            f"be passed: ${spent:.4f} spent, this turn may cost up to "
                            f"${upper_usd:.4f} (its prompt, and max_tokens at the output "
                            "price)")  # fmt: skip
                raise SpendLimitExceeded(
                    f"{said}; resets at {_when(resets_at)}",
                    limit=name,
                    limit_usd=limit,
                    spent_usd=spent,
                    resets_at=resets_at,
                )
