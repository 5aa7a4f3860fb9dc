"""``claudechat models``: the models on offer with window, output cap, prices and life
cycle, and the aliases ``-m`` takes."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from typing import Any

import click

from ..errors import ModelError
from ..models.aliases import builtin_aliases
from ..models.catalog import ListedModel, list_models, table_models
from .options import runtime_from

__all__ = ["COMMANDS"]

log = logging.getLogger("claudechat")


def _tokens(n: int | None) -> str:
    if n is None:
        return "?"
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n // 1000}K" if n % 1000 == 0 else f"{n:,}"


def _price(value: float) -> str:
    return f"{value:g}"


def _row(m: ListedModel) -> list[str]:
    p = m.prices
    prices = f"{_price(p.input)} / {_price(p.output)}" if p else "?"
    read = _price(p.cache_read) if p else "?"
    status = m.lifecycle
    if m.retires is not None and m.lifecycle != "active":
        status += f", retire{'d' if m.lifecycle == 'retired' else 's'} {m.retires.isoformat()}"
    return [m.id, _tokens(m.context_window), _tokens(m.max_output), prices, read, status]


def _table(rows: list[list[str]]) -> list[str]:
    head = ["model", "window", "output", "$/MTok in / out", "cache read", "status"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in [head, *rows]]  # fmt: skip


def _listed(runtime: Any, *, offline: bool, include_retired: bool) -> tuple[list[ListedModel], str]:
    """The models and where they came from: the Models API, or the table when it fails."""
    if offline:
        return table_models(include_retired=include_retired), "the capability table"
    try:
        listed = list_models(runtime.client(), include_retired=include_retired)
        return listed, "the Models API"
    except ModelError as err:
        log.debug("the Models API did not answer", exc_info=True)
        reason = str(err).splitlines()[0]
        return table_models(include_retired=include_retired), (
            f"the capability table (the Models API did not answer: {reason})"
        )


@click.command()
@click.option("--all", "include_retired", is_flag=True, help="Include retired models.")
@click.option("--offline", is_flag=True, help="List the capability table; ask no API.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def models(include_retired: bool, offline: bool, as_json: bool) -> None:
    """Models with window, output cap, prices per million tokens and life cycle (from the
    Models API, or the capability table), and the aliases -m takes."""
    with runtime_from({}) as runtime:
        listed, source = _listed(runtime, offline=offline, include_retired=include_retired)
        aliases = {**builtin_aliases(), **runtime.settings.aliases}
    if as_json:
        data = [{**asdict(m), "retires": m.retires and m.retires.isoformat()} for m in listed]
        click.echo(json.dumps({"source": source, "models": data, "aliases": aliases}, indent=2))
        return
    for line in _table([_row(m) for m in listed]):
        click.echo(line)
    click.echo(f"from {source}")
    click.echo("aliases: " + ", ".join(f"{k} = {v}" for k, v in sorted(aliases.items())))


COMMANDS = (models,)
