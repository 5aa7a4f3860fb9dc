"""Converting units to and from the column values the SQL backends store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from claudechat.search._units import SearchUnit

__all__ = ["or_query_terms", "unit_from_row", "unit_values"]


def unit_values(unit: SearchUnit) -> tuple[str, str, str, str, str | None, str, str, str]:
    """``(id, conversation_id, message_ids JSON, speaker, created_at ISO, text, key,
    previous)``."""
    created = unit.created_at.isoformat() if unit.created_at is not None else None
    return (
        unit.id,
        unit.conversation_id,
        json.dumps(list(unit.message_ids)),
        unit.speaker,
        created,
        unit.text,
        unit.key,
        unit.previous,
    )


def unit_from_row(row: Sequence[Any]) -> SearchUnit:
    """The unit stored as the columns `unit_values` produced (same order)."""
    unit_id, conversation_id, message_ids, speaker, created, text, key, previous = row
    return SearchUnit(
        id=unit_id,
        conversation_id=conversation_id,
        message_ids=tuple(json.loads(message_ids)),
        speaker=speaker,
        created_at=datetime.fromisoformat(created) if created else None,
        text=text,
        key=key,
        previous=previous,
    )


def or_query_terms(terms: Sequence[str]) -> list[str]:
    """Distinct terms in first-seen order (a natural-language query is an OR of its terms)."""
    return list(dict.fromkeys(t for t in terms if t))
