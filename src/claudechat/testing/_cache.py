"""Prompt-cache simulation: prefix entries at breakpoints, 20-block lookback, TTLs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._prefix import PrefixUnit

LOOKBACK_BLOCKS = 20
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """A cache breakpoint: the unit index it closes and its TTL name."""

    index: int
    ttl: str


@dataclass(slots=True)
class CacheOutcome:
    """The usage split of one request's input tokens."""

    input_tokens: int = 0
    cache_read_input_tokens: int = 0
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0

    @property
    def cache_creation_input_tokens(self) -> int:
        """Tokens written to the cache, both TTLs together."""
        return self.ephemeral_5m_input_tokens + self.ephemeral_1h_input_tokens

    def usage(self) -> dict[str, Any]:
        """The usage fields, shaped as the Messages API reports them."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.ephemeral_5m_input_tokens,
                "ephemeral_1h_input_tokens": self.ephemeral_1h_input_tokens,
            },
        }


def ttl_of(control: dict[str, Any]) -> str:
    """The TTL name of a `cache_control` value ("5m" unless it says "1h")."""
    return "1h" if control.get("ttl") == "1h" else "5m"


def breakpoints(units: list[PrefixUnit], automatic: dict[str, Any] | None) -> list[Breakpoint]:
    """Breakpoints in prefix order; `automatic` (top-level cache_control) marks the last block."""
    found = {i: ttl_of(u.cache_control) for i, u in enumerate(units) if u.cache_control}
    if automatic is not None:
        last = max((i for i, u in enumerate(units) if u.cacheable), default=None)
        if last is not None and last not in found:
            found[last] = ttl_of(automatic)
    return [Breakpoint(i, found[i]) for i in sorted(found)]


@dataclass
class PromptCache:
    """The emulator's cache: entries keyed by prefix hash (the hash includes the model)."""

    entries: dict[str, tuple[float, float]] = field(default_factory=dict)

    def _alive(self, key: str, now: float) -> bool:
        entry = self.entries.get(key)
        return entry is not None and entry[0] > now

    def _touch(self, key: str, now: float, ttl: float) -> None:
        _, old_ttl = self.entries.get(key, (0.0, 0.0))
        keep = max(ttl, old_ttl)
        self.entries[key] = (now + keep, keep)

    def apply(
        self, units: list[PrefixUnit], points: list[Breakpoint], minimum: int, *, now: float
    ) -> CacheOutcome:
        """Read and write entries for one request; return how its input tokens split."""
        self.entries = {k: v for k, v in self.entries.items() if v[0] > now}  # expired: gone
        prefix = [0]
        for unit in units:
            prefix.append(prefix[-1] + unit.tokens)
        outcome = CacheOutcome()
        done = 0  # number of units already read or written
        for point in points:
            end = point.index + 1
            if prefix[end] < minimum or end <= done:
                continue
            key = units[point.index].key
            ttl = TTL_SECONDS[point.ttl]
            if self._alive(key, now):
                outcome.cache_read_input_tokens += prefix[end] - prefix[done]
                self._touch(key, now, ttl)
                done = end
                continue
            for earlier in range(point.index - 1, max(point.index - LOOKBACK_BLOCKS, 0) - 1, -1):
                if earlier + 1 <= done:
                    break
                earlier_key = units[earlier].key
                if self._alive(earlier_key, now):
                    outcome.cache_read_input_tokens += prefix[earlier + 1] - prefix[done]
                    self._touch(earlier_key, now, self.entries[earlier_key][1])
                    done = earlier + 1
                    break
            written = prefix[end] - prefix[done]
            if point.ttl == "1h":
                outcome.ephemeral_1h_input_tokens += written
            else:
                outcome.ephemeral_5m_input_tokens += written
            self._touch(key, now, ttl)
            done = end
        outcome.input_tokens = prefix[-1] - prefix[done]
        return outcome

    def clear(self) -> None:
        """Forget every entry."""
        self.entries.clear()
