"""Accounting: what the API billed, by token kind and by purpose, from a chat's ledger or
from the store (each request once, copies counted where they were first billed)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from .errors import ConversationNotFound
from .messages import Message
from .metadata import COPIED_FROM, COPIED_FROM_CONVERSATION, SIDE_USAGE
from .models.capabilities import model_prices
from .store.base import Store, Summary
from .usage import LedgerEntry, Usage

__all__ = ["CostLine", "CostReport", "cost_report", "store_cost_report"]


@dataclass(frozen=True, slots=True)
class CostLine:
    """Tokens of one kind and what they cost (None when a price is unknown)."""

    kind: str
    tokens: int
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class CostReport:
    """Cost by token kind, with the cache hit ratio and the split by purpose."""

    lines: list[CostLine]
    usage: Usage
    cost_usd: float | None
    by_purpose: dict[str, float | None]
    copied: Usage = field(default_factory=Usage)  # copies of spend counted where first billed
    copied_usd: float | None = 0.0

    @property
    def cache_hit_ratio(self) -> float | None:
        """Cache-read tokens over all input tokens (None when nothing was sent)."""
        return self.usage.cache_hit_ratio


_KINDS = (
    ("input", "input_tokens", "input"),
    ("cache write 5m", "cache_write_5m_tokens", "cache_write_5m"),
    ("cache write 1h", "cache_write_1h_tokens", "cache_write_1h"),
    ("cache read", "cache_read_tokens", "cache_read"),
    ("output", "output_tokens", "output"),
    ("server iterations in", "iteration_input_tokens", "input"),
    ("server iterations out", "iteration_output_tokens", "output"),
)


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _entries(items: Iterable[LedgerEntry | Message]) -> Iterator[LedgerEntry]:
    """Ledger entries, and for stored messages their usage plus the side requests (summaries)
    recorded in ``metadata["side_usage"]``."""
    for item in items:
        if isinstance(item, LedgerEntry):
            yield item
            continue
        for side in item.metadata.get(SIDE_USAGE) or ():
            usage = Usage.from_dict(side.get("usage") or {})
            model = str(side.get("model") or "")
            yield LedgerEntry(
                model,
                usage,
                usage.cost_usd(model, model_prices),
                str(side.get("purpose", "summary")),
            )
        if item.usage is not None:
            model = item.model or ""
            purpose = str(item.metadata.get("purpose", "reply"))
            yield LedgerEntry(model, item.usage, None, purpose)


def cost_report(items: Iterable[LedgerEntry | Message]) -> CostReport:
    """Sum ledger entries (or stored messages with usage) into a cost report."""
    tokens = {k: 0 for k, _, _ in _KINDS}
    costs: dict[str, float | None] = {k: 0.0 for k, _, _ in _KINDS}
    total = Usage()
    purposes: dict[str, float | None] = {}
    for item in _entries(items):
        usage, model, purpose = item.usage, item.model, item.purpose
        total = total + usage
        pricing = model_prices(model)
        prices = None if pricing is None else pricing.prices_for(usage)
        entry_cost: float | None = 0.0
        for kind, attr, price in _KINDS:
            n = int(getattr(usage, attr))
            tokens[kind] += n
            c = None if prices is None else n * float(getattr(prices, price)) / 1_000_000
            costs[kind] = _add(costs[kind], c) if n else costs[kind]
            entry_cost = _add(entry_cost, c) if n else entry_cost
        if item.cost_usd is not None:
            entry_cost = item.cost_usd
        purposes[purpose] = _add(purposes.get(purpose, 0.0), entry_cost)
    lines = [CostLine(k, tokens[k], costs[k]) for k, _, _ in _KINDS]
    cost: float | None = 0.0
    for p in purposes.values():
        cost = _add(cost, p)
    return CostReport(lines, total, cost, purposes)


def store_cost_report(
    store: Store, conversation_ids: Iterable[str], *, origins: Store | None = None
) -> CostReport:
    """What the API billed for these conversations, each request once: replies, and the
    summary requests kept with the summaries they made. A copy made by fork or import
    counts only while what it copies is no longer in the store: in ``origins`` when given
    (the whole store behind a user's scoped view: a copy of another user's conversation,
    imported from its export, was billed to that user, not again to this one)."""
    ids = list(conversation_ids)
    origins = store if origins is None else origins
    messages = [m for cid in ids for m in store.all_messages(cid)]
    summaries = [s for cid in ids for s in store.summaries(cid)]
    known = {m.id for m in messages} | {s.id for s in summaries}
    billed: list[Message] = []
    copies: list[Message] = []
    for item in [*messages, *map(_as_message, summaries)]:
        origin = item.metadata.get(COPIED_FROM)
        copied = isinstance(origin, str) and (origin in known or _stored(origins, item, origin))
        (copies if copied else billed).append(item)
    report = cost_report(billed)
    if not copies:
        return report
    copy = cost_report(copies)
    return replace(report, copied=copy.usage, copied_usd=copy.cost_usd)


def _as_message(summary: Summary) -> Message:
    """A stand-in message carrying a summary's side usage, for ``cost_report``."""
    return Message("assistant", [], id=summary.id, metadata=dict(summary.metadata))


def _stored(store: Store, item: Message, origin: str) -> bool:
    """Whether the message (or, for a summary, the summary) ``origin`` is in the store."""
    conversation = item.metadata.get(COPIED_FROM_CONVERSATION)
    try:
        if isinstance(conversation, str):
            return any(s.id == origin for s in store.summaries(conversation))
        store.get_message(origin)
    except ConversationNotFound:
        return False
    return True
