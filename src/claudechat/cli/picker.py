"""``/open`` without an id: pick a conversation by fuzzy match over titles and first lines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..messages import text_of

if TYPE_CHECKING:
    from ..store.base import Store

__all__ = ["Candidate", "candidates", "fuzzy_rank", "pick", "score"]

PICK_FROM = 100  # the most recent conversations the picker looks at
PICK_SHOWN = 10  # the best matches shown at a time


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


def pick(
    items: Sequence[Candidate],
    query: str,
    *,
    say: Callable[[str], None],
    choose: Callable[[str], str | None],
    hint: Callable[[str], None],
) -> str | None:
    """The id picked: the single match of ``query``, else a number chosen from the best
    matches shown (words narrow them); None when cancelled or there is no one to ask."""
    from .render import short_id
    from .slash import SlashError

    while True:
        ranked = fuzzy_rank(query, items)
        if not ranked:
            raise SlashError(f"no conversation matches {query!r} (/list shows them)")
        if query and len(ranked) == 1:
            return ranked[0].id
        for n, c in enumerate(ranked[:PICK_SHOWN], 1):
            first = f" — {c.first_line}" if c.first_line and c.first_line != c.title else ""
            say(f"{n:>2}. {short_id(c.id)}  {c.title}{first}")
        answer = choose("number to open, words to narrow, Enter to cancel")
        if answer is None:
            hint("/open ID (or words of its title) opens one")
            return None
        if not answer.strip():
            hint("not opened")
            return None
        if answer.strip().isdigit() and 1 <= int(answer) <= min(len(ranked), PICK_SHOWN):
            return ranked[int(answer) - 1].id
        query = answer
