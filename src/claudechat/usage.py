"""Token usage of requests, their USD cost, and the per-chat ledger."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .metadata import COPIED_FROM, COPIED_FROM_CONVERSATION, SIDE_USAGE

__all__ = [
    "Ledger",
    "LedgerEntry",
    "PriceLookup",
    "Prices",
    "Pricing",
    "Usage",
    "copy_metadata",
]


def copy_metadata(
    metadata: Mapping[str, Any],
    original_id: str,
    *,
    billed: bool,
    conversation_id: str | None = None,
) -> dict[str, Any]:
    """The metadata of a copy of message (or summary) ``original_id``: when it carries
    spend (``billed``, or summaries' ``side_usage``), it names what was first billed for it."""
    out = dict(metadata)
    if (billed or out.get(SIDE_USAGE)) and COPIED_FROM not in out:
        out[COPIED_FROM] = original_id
        if conversation_id is not None:
            out[COPIED_FROM_CONVERSATION] = conversation_id
    return out


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million tokens."""

    input: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    output: float

    def cost_usd(self, usage: Usage) -> float:
        """The price of ``usage`` at these prices."""
        micro = (
            usage.input_tokens * self.input
            + usage.cache_write_5m_tokens * self.cache_write_5m
            + usage.cache_write_1h_tokens * self.cache_write_1h
            + usage.cache_read_tokens * self.cache_read
            + usage.output_tokens * self.output
            + usage.iteration_input_tokens * self.input
            + usage.iteration_output_tokens * self.output
        )
        return micro / 1_000_000


@dataclass(frozen=True, slots=True)
class Pricing:
    """What a model costs: ``prices``, or ``long_prices`` for a single request whose
    prompt holds more than ``long_threshold`` tokens."""

    prices: Prices
    long_prices: Prices | None = None
    long_threshold: int | None = None

    def prices_for(self, usage: Usage) -> Prices:
        """The prices that apply to ``usage`` (a sum of requests pays the base prices)."""
        if (
            self.long_prices is not None
            and self.long_threshold is not None
            and usage.requests <= 1
            and usage.total_input_tokens > self.long_threshold
        ):
            return self.long_prices
        return self.prices

    def cost_usd(self, usage: Usage) -> float:
        """The price of ``usage``, at the tier it falls in."""
        return self.prices_for(usage).cost_usd(usage)


PriceLookup = Callable[[str], Pricing | None]
"""Model name -> its pricing, or None when the price is unknown
(`claudechat.models.model_prices` knows the published ones)."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one request (or a sum of requests), split by how they are billed.

    ``input_tokens`` counts only what followed the last cache breakpoint; the total input of
    a request is input + cache writes + cache reads. ``iteration_*`` are server-side
    iterations (compaction) that the API bills but leaves out of the top-level figures.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    iteration_input_tokens: int = 0
    iteration_output_tokens: int = 0
    requests: int = 0

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_5m_tokens + other.cache_write_5m_tokens,
            self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.iteration_input_tokens + other.iteration_input_tokens,
            self.iteration_output_tokens + other.iteration_output_tokens,
            self.requests + other.requests,
        )

    @property
    def cache_write_tokens(self) -> int:
        """Tokens written to the prompt cache, both TTLs."""
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def total_input_tokens(self) -> int:
        """Every prompt token of the request(s): uncached input, cache writes, cache reads."""
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens

    @property
    def cache_hit_ratio(self) -> float | None:
        """Share of prompt tokens read from cache (None when nothing was sent)."""
        total = self.total_input_tokens
        return self.cache_read_tokens / total if total else None

    def cost_usd(self, model: str, prices: PriceLookup) -> float | None:
        """The price of this usage on ``model`` as ``prices`` knows it; None (never 0) when
        its price is unknown."""
        pricing = prices(model)
        if pricing is None:
            return None
        return pricing.cost_usd(self)

    def to_dict(self) -> dict[str, int]:
        """Plain-dict form for storage and JSON export."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        """Inverse of ``to_dict``; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in data.items() if k in names and v is not None})

    @classmethod
    def from_api(cls, usage: Mapping[str, Any]) -> Usage:
        """Read the API's ``usage`` object (a dict) of one response."""

        num = _num
        creation = usage.get("cache_creation") or {}
        w5 = num("ephemeral_5m_input_tokens", creation)
        w1 = num("ephemeral_1h_input_tokens", creation)
        total_write = num("cache_creation_input_tokens", usage)
        if w5 + w1 == 0 and total_write:
            w5 = total_write
        it_in = it_out = 0
        for it in usage.get("iterations") or []:
            if isinstance(it, Mapping) and it.get("type") != "message":
                it_in += num("input_tokens", it)
                it_out += num("output_tokens", it)
        return cls(
            input_tokens=num("input_tokens", usage),
            output_tokens=num("output_tokens", usage),
            cache_write_5m_tokens=w5,
            cache_write_1h_tokens=w1,
            cache_read_tokens=num("cache_read_input_tokens", usage),
            iteration_input_tokens=it_in,
            iteration_output_tokens=it_out,
            requests=1,
        )


def _num(key: str, src: Mapping[str, Any]) -> int:
    value = src.get(key)
    return int(value) if isinstance(value, int | float) else 0


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One billed request: which model, its usage, its cost (None if unknown)."""

    model: str
    usage: Usage
    cost_usd: float | None
    purpose: str = "reply"  # reply, summary, count, ...
    message_id: str | None = None


@dataclass(slots=True)
class Ledger:
    """Every request a chat made, with per-turn and cumulative totals, priced by
    ``prices`` (`claudechat.models.model_prices` for the published prices)."""

    prices: PriceLookup = field(kw_only=True)
    entries: list[LedgerEntry] = field(default_factory=list)
    _turn_start: int = 0

    def record(
        self, model: str, usage: Usage, *, purpose: str = "reply", message_id: str | None = None
    ) -> LedgerEntry:
        """Add one request's usage, priced for ``model``."""
        entry = LedgerEntry(model, usage, usage.cost_usd(model, self.prices), purpose, message_id)
        self.entries.append(entry)
        return entry

    def start_turn(self) -> None:
        """Mark the beginning of a user turn, for ``turn_usage`` / ``turn_cost_usd``."""
        self._turn_start = len(self.entries)

    @staticmethod
    def _sum(entries: Iterable[LedgerEntry]) -> tuple[Usage, float | None]:
        usage, cost, unknown = Usage(), 0.0, False
        for e in entries:
            usage = usage + e.usage
            if e.cost_usd is None:
                unknown = True
            else:
                cost += e.cost_usd
        return usage, (None if unknown else cost)

    @property
    def usage(self) -> Usage:
        """Cumulative usage."""
        return self._sum(self.entries)[0]

    @property
    def cost_usd(self) -> float | None:
        """Cumulative cost; None when any request was on a model with no known price."""
        return self._sum(self.entries)[1]

    @property
    def turn_usage(self) -> Usage:
        """Usage since the last ``start_turn``."""
        return self._sum(self.entries[self._turn_start :])[0]

    @property
    def turn_cost_usd(self) -> float | None:
        """Cost since the last ``start_turn``."""
        return self._sum(self.entries[self._turn_start :])[1]
