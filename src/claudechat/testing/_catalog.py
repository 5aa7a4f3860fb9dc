"""The Models API as the emulator answers it: ``GET /v1/models`` (newest first, paged by
``after_id`` / ``before_id`` / ``limit``, filtered by ``lifecycle``) and
``GET /v1/models/{id}``, in the shapes of the SDK's ``ModelInfo`` and ``SyncPage``.

The catalogue is the emulator's own (release dates, lines and life-cycle stages are
fixed, so answers do not change with the day the tests run); windows and output caps come
from the emulator's model facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from ._errors import EmuAPIError, invalid
from ._models import model_facts

__all__ = ["model_object", "model_page"]


@dataclass(frozen=True, slots=True)
class _Entry:
    id: str
    released: str  # YYYY-MM-DD
    lifecycle: str = "active"
    deprecated: str | None = None
    retires: str | None = None


# Newest first, as the API lists them.
_CATALOG: tuple[_Entry, ...] = (
    _Entry("claude-haiku-5-5", "2026-10-28"),
    _Entry("claude-sonnet-5-5", "2026-10-14"),
    _Entry("claude-opus-5-5", "2026-10-13"),
    _Entry("claude-mythos-5-1", "2026-09-23"),
    _Entry("claude-fable-5-1", "2026-09-22"),
    _Entry("claude-opus-5", "2026-07-15"),
    _Entry("claude-sonnet-5", "2026-06-10"),
    _Entry("claude-mythos-5", "2026-05-21"),
    _Entry("claude-fable-5", "2026-05-20"),
    _Entry("claude-opus-4-8", "2026-04-16"),
    _Entry("claude-mythos-preview", "2026-04-07", "retired", "2026-05-21", "2026-06-30"),
    _Entry("claude-opus-4-7", "2026-03-05"),
    _Entry("claude-sonnet-4-6", "2026-02-17"),
    _Entry("claude-opus-4-6", "2026-02-05"),
    _Entry("claude-opus-4-5", "2025-11-24", "deprecated", "2026-10-22", "2027-01-22"),
    _Entry("claude-haiku-4-5", "2025-10-15"),
    _Entry("claude-sonnet-4-5", "2025-09-29", "deprecated", "2026-08-31", "2026-11-30"),
)
_LINES = ("opus", "sonnet", "haiku", "fable", "mythos")
_DEFAULT_LIFECYCLES = ("active", "deprecated")


def _display_name(name: str) -> str:
    words = name.removeprefix("claude-").split("-")
    numbers = [w for w in words if w.isdigit()]
    names = ["Claude", *(w.capitalize() for w in words if not w.isdigit())]
    return " ".join([*names, ".".join(numbers)] if numbers else names)


def _stamp(day: str | None) -> str | None:
    return None if day is None else f"{day}T00:00:00Z"


def model_object(name: str, window: int | None = None) -> dict[str, Any]:
    """One model as ``GET /v1/models/{id}`` answers (a name outside the catalogue is
    described as an active model released at the epoch)."""
    entry = next((e for e in _CATALOG if e.id == name), None) or _Entry(name, "1970-01-01")
    facts = model_facts(name)
    line = next((part for part in name.split("-") if part in _LINES), None)
    return {
        "type": "model",
        "id": name,
        "display_name": _display_name(name),
        "created_at": _stamp(entry.released),
        "lifecycle": entry.lifecycle,
        "deprecated_at": _stamp(entry.deprecated),
        "retires_at": _stamp(entry.retires),
        "line": line,
        "max_input_tokens": window or facts.context_window,
        "max_tokens": facts.max_output_tokens,
    }


def _limit(query: dict[str, list[str]]) -> int:
    raw = (query.get("limit") or ["20"])[-1]
    try:
        limit = int(raw)
    except ValueError as err:
        raise invalid("limit: Input should be a valid integer") from err
    if not 1 <= limit <= 1000:
        raise invalid("limit: Input should be between 1 and 1000")
    return limit


def _index(ids: list[str], cursor: str, field: str) -> int:
    if cursor not in ids:
        raise EmuAPIError(404, f"{field}: model {cursor!r} not found")
    return ids.index(cursor)


def _cursor(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def model_page(query_string: str, window: int | None = None) -> dict[str, Any]:
    """One page of ``GET /v1/models`` for the request's query string."""
    query = parse_qs(query_string)
    wanted = query.get("lifecycle[]") or query.get("lifecycle") or list(_DEFAULT_LIFECYCLES)
    entries = [e for e in _CATALOG if e.lifecycle in wanted]
    ids = [e.id for e in entries]
    limit = _limit(query)
    after, before = _cursor(query, "after_id"), _cursor(query, "before_id")
    if after is not None and before is not None:
        raise invalid("after_id and before_id cannot both be given")
    if before is not None:
        end = _index(ids, before, "before_id")
        start = max(0, end - limit)
        has_more = start > 0
    else:
        start = _index(ids, after, "after_id") + 1 if after is not None else 0
        end = min(len(ids), start + limit)
        has_more = end < len(ids)
    data = [model_object(e.id, window) for e in entries[start:end]]
    return {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
