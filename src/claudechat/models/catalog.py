"""The models on offer: from the Models API (``client.models.list``) when it answers,
else from the capability table; each with its window, output cap, prices (the table's:
the Models API has none) and life cycle (deprecation, retirement)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from ..usage import Prices
from .capabilities import known_models, model_info

__all__ = ["ListedModel", "alist_models", "list_models", "table_models"]


@dataclass(frozen=True, slots=True)
class ListedModel:
    """One model as ``claudechat models`` shows it; ``source`` says where it was listed."""

    id: str
    display_name: str
    context_window: int | None
    max_output: int | None
    prices: Prices | None
    lifecycle: str  # "active", "deprecated" or "retired"
    retires: date | None
    source: Literal["api", "table"]


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _from_api(item: Any) -> ListedModel:
    """An SDK ``ModelInfo`` with the table's prices (and, where the API says nothing, its
    window, output cap and retirement date)."""
    info = model_info(str(item.id), warn=False)
    window: int | None = getattr(item, "max_input_tokens", None)
    output: int | None = getattr(item, "max_tokens", None)
    retires = _day(getattr(item, "retires_at", None))
    if info.known:
        window, output = window or info.context_window, output or info.max_output
        retires = retires or info.retires
    return ListedModel(
        id=str(item.id),
        display_name=str(item.display_name),
        context_window=window,
        max_output=output,
        prices=info.prices,
        lifecycle=str(getattr(item, "lifecycle", None) or "active"),
        retires=retires,
        source="api",
    )


def _lifecycles(include_retired: bool) -> list[str]:
    return ["active", "deprecated", "retired"] if include_retired else ["active", "deprecated"]


def list_models(client: Any, *, include_retired: bool = False) -> list[ListedModel]:
    """Every model the Models API lists (all pages, newest first), through a sync SDK
    client; claudechat errors for a failed call."""
    from .anthropic import sdk_errors

    with sdk_errors():
        items = list(client.models.list(limit=100, lifecycle=_lifecycles(include_retired)))
    return [_from_api(item) for item in items]


async def alist_models(client: Any, *, include_retired: bool = False) -> list[ListedModel]:
    """``list_models`` through an async SDK client."""
    from .anthropic import sdk_errors

    items: list[Any] = []
    with sdk_errors():
        async for item in client.models.list(limit=100, lifecycle=_lifecycles(include_retired)):
            items.append(item)
    return [_from_api(item) for item in items]


def _display(name: str) -> str:
    words = name.removeprefix("claude-").split("-")
    numbers = [w for w in words if w.isdigit()]
    names = ["Claude", *(w.capitalize() for w in words if not w.isdigit())]
    return " ".join([*names, ".".join(numbers)] if numbers else names)


def table_models(
    *, include_retired: bool = False, today: date | None = None, names: Iterable[str] | None = None
) -> list[ListedModel]:
    """The capability table as a list (offline, or when the Models API does not answer)."""
    today = today or datetime.now(UTC).date()
    out = []
    for name in names or known_models():
        info = model_info(name, warn=False)
        stage = "active"
        if info.retires is not None:
            stage = "retired" if today >= info.retires else "deprecated"
        if stage == "retired" and not include_retired:
            continue
        out.append(ListedModel(name, _display(name), info.context_window, info.max_output,
                               info.prices, stage, info.retires, "table"))  # fmt: skip
    return out
