"""Tokenizing text for lexical search: lowercase words, English stopwords out, light stemming.

Every lexical backend (in-memory BM25, SQLite FTS5, PostgreSQL) indexes the output of the
same `Tokenizer`, so they agree on what a term is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["STOPWORDS", "Tokenizer", "light_stem"]

_WORD = re.compile(r"[0-9a-z]+(?:['’][a-z]+)*")

STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all am an and any are aren as at be because been
    before being below between both but by can couldn cannot could did didn do does doesn
    doing don down during each few for from further had hadn has hasn have haven having he
    her here hers herself him himself his how i if in into is isn it its itself just let
    ll me more most my myself no nor not now of off on once only or other ought our ours
    ourselves out over own re s same shan she should shouldn so some such t than that the
    their theirs them themselves then there these they this those through to too under
    until up very was wasn we were weren what when where which while who whom why will with
    won would wouldn you your yours yourself yourselves ve d m o y ma also
    """.split()  # noqa: SIM905
)
"""English function words dropped before indexing (question words included: they match
nothing useful in the answer turn)."""

_EXCEPTIONS = {"news", "series", "species", "always", "perhaps", "yes", "this", "its"}


def light_stem(word: str) -> str:
    """Strip common English inflections (plural, -ing, -ed, -ly) so that variants share a term.

    Deliberately conservative: it only removes endings that almost never change the stem's
    meaning, and keeps words of three letters or fewer untouched.
    """
    if len(word) <= 3 or word in _EXCEPTIONS or not word.isalpha():
        return word
    for suffix, repl, min_stem in _RULES:
        if word.endswith(suffix):
            stem = word[: len(word) - len(suffix)]
            if len(stem) >= min_stem:
                stem += repl
                if repl == "" and suffix in ("ing", "ed") and _double_consonant(stem):
                    stem = stem[:-1]
                return stem
            return word
    return word


_RULES: tuple[tuple[str, str, int], ...] = (
    ("ies", "y", 3),
    ("sses", "ss", 2),
    ("ss", "ss", 2),
    ("us", "us", 2),
    ("is", "is", 2),
    ("ings", "", 3),
    ("ing", "", 3),
    ("edly", "", 3),
    ("ied", "y", 3),
    ("ed", "", 3),
    ("ly", "", 4),
    ("es", "e", 3),
    ("s", "", 3),
)


def _double_consonant(stem: str) -> bool:
    return len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouls"


@dataclass(frozen=True)
class Tokenizer:
    """Split text into index terms; ``stem=None`` keeps words whole, ``stopwords=()`` keeps all."""

    stopwords: frozenset[str] = STOPWORDS
    stem: Callable[[str], str] | None = light_stem
    _cache: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __call__(self, text: str) -> list[str]:
        """The terms of ``text`` in order, repeats kept (BM25 needs term frequencies)."""
        return list(self.iter_terms(text))

    def iter_terms(self, text: str) -> Iterable[str]:
        """Yield the terms of ``text`` in order."""
        stop = self.stopwords
        for match in _WORD.finditer(text.lower()):
            word = match.group().replace("’", "'")
            if "'" in word:
                word = word.split("'", 1)[0]
            if not word or word in stop:
                continue
            yield self._stem(word)

    def _stem(self, word: str) -> str:
        if self.stem is None:
            return word
        cached = self._cache.get(word)
        if cached is None:
            cached = self._cache[word] = self.stem(word)
        return cached
