"""``claudechat cost ID --misses``: each prompt-cache miss of a conversation, why and what
it cost (from the cache diagnostics stored with each reply)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from ..cache_misses import CacheMiss, cache_misses
from ..store.base import Store
from .render import usd

__all__ = ["show_misses"]


def _total(misses: list[CacheMiss]) -> float | None:
    total = 0.0
    for miss in misses:
        if miss.cost_usd is None:
            return None
        total += miss.cost_usd
    return total


def _as_dict(miss: CacheMiss) -> dict[str, object]:
    return {
        "message_id": miss.message_id,
        "model": miss.model,
        "reason": miss.reason,
        "missed_tokens": miss.missed_tokens,
        "cost_usd": miss.cost_usd,
    }


def _line(number: int, miss: CacheMiss) -> str:
    when = datetime.fromtimestamp(miss.created_at, UTC).strftime("%Y-%m-%d %H:%M")
    tokens = "?" if miss.missed_tokens is None else f"{miss.missed_tokens:,}"
    return (
        f"{number:>3}  {when}  {miss.reason:<27} {tokens:>10} tokens  {usd(miss.cost_usd):>9}"
        f"  {miss.model or '?'}  {miss.message_id}"
    )


def show_misses(store: Store, conversation_id: str, *, as_json: bool) -> None:
    """Print the misses of one conversation (every stored reply, all branches), with a total."""
    misses = cache_misses(store.all_messages(conversation_id))
    if as_json:
        data = {
            "conversation": conversation_id,
            "misses": [_as_dict(m) for m in misses],
            "cost_usd": _total(misses),
        }
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"conversation {conversation_id}, {len(misses)} cache misses")
    for number, miss in enumerate(misses, 1):
        click.echo(_line(number, miss))
    if misses:
        tokens = sum(m.missed_tokens or 0 for m in misses)
        click.echo(f"total: {tokens:,} tokens missed, {usd(_total(misses))} more than cache reads")
