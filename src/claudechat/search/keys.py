"""Turn keys: the text indexed for a turn, built to retrieve well.

Measured on LoCoMo (bench/locomo.py --variants): the turn followed by the two turns before
it in the same session, then the session date, lifts BM25 recall@5 from 0.55 (bare turn)
to 0.66, and hybrid from 0.59 to 0.71. Questions often name what the *previous* speaker
asked about, and the date answers "when" questions; three earlier turns dilute the key
(0.62). Only earlier turns are used, so a key never changes once written and indexing
stays append-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from claudechat.search._units import SearchUnit

__all__ = ["TurnKeys", "format_date", "protocol_text"]


def protocol_text(speaker: str, text: str, caption: str | None = None) -> str:
    """The LoCoMo retrieval protocol's unit text: ``Ann said, "..." and shared <caption>``."""
    out = f'{speaker} said, "{text}"'
    return f"{out} and shared {caption}" if caption else out


def format_date(moment: datetime) -> str:
    """A date as words ("8 May 2023"), matching how people write dates in questions."""
    return f"{moment.day} {moment:%B %Y}"


@dataclass(frozen=True)
class TurnKeys:
    """Builds each unit's key from its text, ``before`` earlier turns and its date.

    Earlier turns count as context only while they belong to the same session: the same
    conversation and less than ``session_gap`` earlier (None: no time limit).
    """

    before: int = 2
    date: bool = True
    session_gap: timedelta | None = timedelta(hours=4)

    def key(self, unit: SearchUnit, previous: Sequence[SearchUnit] = ()) -> str:
        """The key of ``unit`` given the turns before it (oldest first)."""
        parts = [unit.text]
        if self.before > 0:
            parts.extend([p.text for p in previous if self._same_session(p, unit)][-self.before :])
        if self.date and unit.created_at is not None:
            parts.append(format_date(unit.created_at))
        return "\n".join(parts)

    def apply(self, units: Sequence[SearchUnit]) -> list[SearchUnit]:
        """Copies of ``units`` (in conversation order) with their keys set, each linked to
        the unit before it when that one belongs to the same session."""
        out = []
        for i, unit in enumerate(units):
            previous = units[max(0, i - self.before) : i] if self.before > 0 else ()
            link = units[i - 1].id if i > 0 and self._same_session(units[i - 1], unit) else ""
            out.append(unit.with_key(self.key(unit, previous), link))
        return out

    def _same_session(self, earlier: SearchUnit, unit: SearchUnit) -> bool:
        if earlier.conversation_id != unit.conversation_id:
            return False
        if self.session_gap is None or earlier.created_at is None or unit.created_at is None:
            return True
        return timedelta(0) <= unit.created_at - earlier.created_at < self.session_gap
