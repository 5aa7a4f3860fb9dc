"""``/open`` without an id: pick a conversation by fuzzy match over titles and first lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..messages import text_of

if TYPE_CHECKING:
    from ..store.base import Store

__all__ = ["Candidate", "candidates", "fuzzy_rank", "score"]

PICK_FROM = 100  # the most recent conversations the picker looks at


@dataclass(frozen=True, slots=True)
class Candidate:
    """A conversation as the picker shows it."""

    id: str
    title: str
    first_line: str

    @property
    def text(self) -> str:
        """What the query is matched against."""
        return f"{self.title} {self.first_line}"


def candidates(store: Store, *, limit: int = PICK_FROM) -> list[Candidate]:
    """The most recent conversations, newest first, with their first prompt's first line."""
    out: list[Candidate] = []
    for info in store.list_conversations(limit=limit):
        c = info.conversation
        first = next((m for m in store.branch(c.id) if m.is_user_text), None)
        line = " ".join(text_of(first.content).split())[:80] if first is not None else ""
        out.append(Candidate(c.id, c.title or "(untitled)", line))
    return out


def score(query: str, text: str) -> int | None:
    """How well ``text`` matches: every query word must appear in order as a subsequence
    (None otherwise); lower is better (fewer gaps; a plain substring costs nothing)."""
    haystack = text.lower()
    total = 0
    for word in query.lower().split():
        if word in haystack:
            continue
        at, gaps = -1, 0
        for char in word:
            found = haystack.find(char, at + 1)
            if found < 0:
                return None
            gaps += found - at - 1 if at >= 0 else 0
            at = found
        total += 1 + gaps
    return total


def fuzzy_rank(query: str, items: Sequence[Candidate]) -> list[Candidate]:
    """The items that match ``query``, best first (recency breaks ties)."""
    scored = [(s, n, c) for n, c in enumerate(items) if (s := score(query, c.text)) is not None]
    return [c for _, _, c in sorted(scored, key=lambda t: (t[0], t[1]))]
