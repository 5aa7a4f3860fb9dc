"""Cache misses of a conversation: each reply whose request missed the prompt cache, why
(the API's cache diagnostics) and what the miss cost.

The API estimates how many input tokens would have been read from the cache had the
prefix matched (``metadata.CACHE_MISSED_TOKENS``). Those tokens were paid at the full input
price instead of the cache-read price, so a miss costs ``tokens × (input − cache read)``
at the replying model's prices (the tier the reply's own usage falls in).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .messages import Message
from .metadata import CACHE_MISS_REASON, CACHE_MISSED_TOKENS
from .models.capabilities import model_prices
from .usage import Usage

__all__ = ["CacheMiss", "cache_misses"]


@dataclass(frozen=True, slots=True)
class CacheMiss:
    """One reply whose request missed the cache: why, how many tokens, what it cost
    (None when the model's price or the token estimate is unknown)."""

    message_id: str
    model: str | None
    created_at: float
    reason: str
    missed_tokens: int | None
    cost_usd: float | None


def _miss_cost(model: str | None, missed: int | None, usage: Usage | None) -> float | None:
    """What ``missed`` tokens cost over reading them from the cache, at ``model``'s prices."""
    pricing = model_prices(model) if model else None
    if pricing is None or missed is None:
        return None
    prices = pricing.prices_for(usage or Usage())
    return missed * (prices.input - prices.cache_read) / 1_000_000


def cache_misses(messages: Iterable[Message]) -> list[CacheMiss]:
    """The misses the API diagnosed among ``messages``, in order (``previous_message_not_found``
    included: it says no comparison was possible, with no tokens)."""
    out: list[CacheMiss] = []
    for m in messages:
        reason = m.metadata.get(CACHE_MISS_REASON)
        if m.role != "assistant" or not isinstance(reason, str):
            continue
        missed = m.metadata.get(CACHE_MISSED_TOKENS)
        tokens = missed if isinstance(missed, int) and not isinstance(missed, bool) else None
        out.append(
            CacheMiss(
                m.id, m.model, m.created_at, reason, tokens, _miss_cost(m.model, tokens, m.usage)
            )
        )
    return out
