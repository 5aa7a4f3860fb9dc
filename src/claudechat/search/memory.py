"""`MemoryIndex`: BM25 and exact dense search held in process memory (tests, benchmarks,
short-lived sessions)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from claudechat.search._units import SearchUnit
from claudechat.search.base import IndexOptions, RankedIndex, Scope
from claudechat.search.bm25 import BM25
from claudechat.search.embedders import Vectors

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["MemoryIndex"]


class MemoryIndex(RankedIndex):
    """In-memory BM25 + optional dense vectors; statistics are per conversation when a
    search names one, so each conversation behaves like an index of its own."""

    def __init__(
        self, *, k1: float = 1.2, b: float = 0.75, **options: Unpack[IndexOptions]
    ) -> None:
        super().__init__(**options)
        self._bm25 = BM25(tokenizer=self.tokenizer, k1=k1, b=b)
        self._units: dict[str, SearchUnit] = {}
        self._slot: dict[str, int] = {}
        self._slot_ids: list[str] = []
        self._vector: dict[str, Vectors] = {}
        self._matrix_cache: dict[Scope, tuple[list[str], Vectors]] = {}

    def __len__(self) -> int:
        return len(self._units)

    def add(self, units: Sequence[SearchUnit]) -> None:
        """Index ``units`` (a unit whose id is already indexed is replaced)."""
        self.delete(u.id for u in units)
        vectors = self._embed_units(units)
        slots = self._bm25.add(u.index_text for u in units)
        for row, (unit, slot) in enumerate(zip(units, slots, strict=True)):
            self._units[unit.id] = unit
            self._slot[unit.id] = slot
            self._slot_ids.append(unit.id)
            if vectors is not None:
                self._vector[unit.id] = vectors[row]
        self._matrix_cache.clear()

    def delete(self, unit_ids: Iterable[str]) -> int:
        """Remove units by id; returns how many were there."""
        gone = [i for i in dict.fromkeys(unit_ids) if i in self._units]
        if gone:
            self._bm25.remove(self._slot.pop(i) for i in gone)
            for i in gone:
                del self._units[i]
                self._vector.pop(i, None)
            self._matrix_cache.clear()
        return len(gone)

    def units(self, conversation_id: str | None = None) -> list[SearchUnit]:
        """The indexed units (of one conversation), in the order they were added."""
        return [
            u
            for u in self._units.values()
            if conversation_id is None or u.conversation_id == conversation_id
        ]

    def indexed(self, conversation_id: str) -> dict[str, tuple[str, ...]]:
        """Ids of one conversation's units, each with the message ids it covers."""
        return {u.id: u.message_ids for u in self.units(conversation_id)}

    def _lexical_scores(self, query: str, scope: Scope, limit: int) -> dict[str, float]:
        among = None
        if scope is not None:
            among = [self._slot[u.id] for u in self._in(scope)]
            if not among:
                return {}
        scores = self._bm25.scores(query, among=among)
        hits = np.flatnonzero(scores > 0)
        if hits.size > limit:
            hits = hits[np.argpartition(-scores[hits], limit)[:limit]]
        return {self._slot_ids[int(s)]: float(scores[s]) for s in hits}

    def _in(self, scope: Scope) -> list[SearchUnit]:
        """The units of ``scope`` (one conversation, several, or all), in insertion order."""
        if scope is None or isinstance(scope, str):
            return self.units(scope)
        return [u for u in self.units() if u.conversation_id in scope]

    def _vectors(self, scope: Scope) -> tuple[list[str], Vectors]:
        cached = self._matrix_cache.get(scope)
        if cached is None:
            ids = [u.id for u in self._in(scope) if u.id in self._vector]
            dim = self.embedder.dim if self.embedder is not None else 0
            matrix = (
                np.stack([self._vector[i] for i in ids])
                if ids
                else np.zeros((0, dim), dtype=np.float32)
            )
            cached = self._matrix_cache[scope] = (ids, matrix)
        return cached

    def _load(self, unit_ids: Collection[str]) -> dict[str, SearchUnit]:
        return {i: self._units[i] for i in unit_ids if i in self._units}
