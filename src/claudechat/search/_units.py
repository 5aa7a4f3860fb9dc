"""The unit of retrieval (one conversation turn) and a ranked hit."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

__all__ = ["SearchHit", "SearchUnit"]


@dataclass(frozen=True, slots=True)
class SearchUnit:
    """One indexed turn: what it says, who said it, when, and the message ids it covers.

    ``key`` is the text that is indexed (the turn with its speaker, date and neighbouring
    context, see `claudechat.search.keys`); when empty, ``text`` is indexed. ``previous``
    is the id of the turn before it in the same session ("" for none): a search lifts a
    turn whose successor matches (see `RankedIndex`).
    """

    id: str
    conversation_id: str
    text: str
    message_ids: tuple[str, ...] = ()
    speaker: str = ""
    created_at: datetime | None = None
    key: str = ""
    previous: str = ""

    @property
    def index_text(self) -> str:
        """The text the indexes see: ``key`` when set, else ``text``."""
        return self.key or self.text

    def with_key(self, key: str, previous: str | None = None) -> SearchUnit:
        """A copy whose indexing key is ``key`` (and previous turn ``previous``, if given)."""
        if previous is None:
            return replace(self, key=key)
        return replace(self, key=key, previous=previous)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A unit found by a search, its fused ``score`` and each retriever's own score."""

    unit: SearchUnit
    score: float
    scores: dict[str, float] = field(default_factory=dict)
