"""The `SearchIndex` protocol and `RankedIndex`, the ranking logic every backend shares.

A backend supplies three things: lexical scores for a query, the stored vectors of a
conversation, and units by id. `RankedIndex.search` does the rest: dense scoring by exact
cosine, exclusion of turns the caller already holds, fusion of the two runs, lifting
each turn by a share of its successor's score, and the turns of a speaker the query names.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Literal, Protocol, TypedDict, get_args

from claudechat.errors import ConfigError
from claudechat.search._units import SearchHit, SearchUnit
from claudechat.search.dense import embed_query, top_k
from claudechat.search.embedders import Embedder, Vectors
from claudechat.search.fusion import Fusion, WeightedScoreFusion
from claudechat.search.tokenize import Tokenizer

__all__ = [
    "DEFAULT_FUSION",
    "DenseText",
    "IndexOptions",
    "Mode",
    "RankedIndex",
    "Scope",
    "SearchIndex",
]

Mode = Literal["lexical", "dense", "hybrid"]
_MODES = get_args(Mode)
# What a search looks at: one conversation's units, several conversations' (a user's), or all.
Scope = str | frozenset[str] | None
DenseText = Literal["text", "key"]

DEFAULT_FUSION: Fusion = WeightedScoreFusion()
"""The fusion `RankedIndex` uses unless told otherwise (chosen on LoCoMo, see bench/locomo.py)."""

DEFAULT_SUCCESSOR_WEIGHT = 0.3
"""Share of the next turn's score a turn gains. Measured on LoCoMo (bench/locomo.py
--variants): hybrid recall@10 0.799 -> 0.818 (0.2: 0.814, 0.4: 0.819); a reply often
names what the turn before it only implied ("Which city?" -- "Seattle, for the game")."""


DEFAULT_SPEAKER_WEIGHT = 0.2
"""A query that names exactly one speaker of the candidate turns multiplies that speaker's
scores by 1 + this. Measured on LoCoMo, tuned there (bench/locomo.py --variants): hybrid
recall@5 0.725 -> 0.733, recall@10 0.818 -> 0.823; 915 of its 997 questions name one
speaker, who said 78% of their evidence turns."""


class SearchIndex(Protocol):
    """An index of turns that answers queries with ranked `SearchHit` lists."""

    def add(self, units: Sequence[SearchUnit]) -> None:
        """Index ``units`` (a unit whose id is already indexed is replaced)."""
        ...

    def delete(self, unit_ids: Iterable[str]) -> int:
        """Remove units by id; returns how many were there."""
        ...

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: Mode | None = None,
        conversation_id: str | None = None,
        exclude_message_ids: Collection[str] = (),
        where: Callable[[SearchUnit], bool] | None = None,
    ) -> list[SearchHit]:
        """The ``k`` best units for ``query``, best first."""
        ...

    def indexed(self, conversation_id: str) -> dict[str, tuple[str, ...]]:
        """Ids of one conversation's units, each with the message ids it covers."""
        ...

    def units(self, conversation_id: str | None = None) -> list[SearchUnit]:
        """The indexed units (of one conversation), in the order they were added."""
        ...

    def embed_missing(self) -> int:
        """Embed the units that have no vector from this index's embedder yet (units
        indexed without one, or by another); returns how many were embedded."""
        ...

    def close(self) -> None:
        """Release the index's connection, if it has one."""
        ...

    def __len__(self) -> int: ...


class IndexOptions(TypedDict, total=False):
    """The keyword options every `RankedIndex` backend takes (see `RankedIndex`)."""

    embedder: Embedder | None
    tokenizer: Tokenizer | None
    fusion: Fusion | None
    mode: Mode | None
    depth: int
    dense_text: DenseText
    successor_weight: float
    speaker_weight: float


class RankedIndex(ABC):
    """Shared search logic; subclasses store units, lexical postings and vectors.

    ``tokenizer`` splits texts and queries into terms (default `Tokenizer()`);
    ``mode`` defaults to ``"hybrid"`` with an embedder and ``"lexical"`` without one;
    ``depth`` is how many candidates each retriever contributes before fusion;
    ``dense_text`` says what is embedded: the bare turn ``"text"`` (the default: best in
    hybrid search on LoCoMo, and 3x cheaper to embed) or the context-expanded ``"key"``;
    ``successor_weight`` is the share of the next turn's score (in the same session: the
    unit whose ``previous`` names it) that a turn gains in lexical and hybrid search, 0 to
    rank turns alone (dense search never lifts: every cosine is positive, and lifting
    costs dense-only recall@10 2.5 points on LoCoMo); ``speaker_weight``: when the query
    names exactly one of the candidates' speakers (a whole, case-sensitive word), that
    speaker's turns score 1 + ``speaker_weight`` times as much in lexical and hybrid search
    (0: off; dense search is left alone, as it is by the lift: cosines are not on the
    scale the weight was chosen for, and dense-only recall@10 would lose 2.6 points).
    """

    def __init__(
        self,
        *,
        embedder: Embedder | None = None,
        tokenizer: Tokenizer | None = None,
        fusion: Fusion | None = None,
        mode: Mode | None = None,
        depth: int = 100,
        dense_text: DenseText = "text",
        successor_weight: float = DEFAULT_SUCCESSOR_WEIGHT,
        speaker_weight: float = DEFAULT_SPEAKER_WEIGHT,
    ) -> None:
        self.embedder = embedder
        self.tokenizer = tokenizer or Tokenizer()
        self.dense_text: DenseText = dense_text
        self.fusion: Fusion = fusion or DEFAULT_FUSION
        self.default_mode: Mode = mode or ("hybrid" if embedder is not None else "lexical")
        self.depth = depth
        if successor_weight < 0:
            raise ConfigError(f"successor_weight must be 0 or more, got {successor_weight}")
        self.successor_weight = successor_weight
        if speaker_weight < 0:
            raise ConfigError(f"speaker_weight must be 0 or more, got {speaker_weight}")
        self.speaker_weight = speaker_weight
        self._check_mode(self.default_mode)

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def add(self, units: Sequence[SearchUnit]) -> None:
        """Index ``units`` (a unit whose id is already indexed is replaced)."""

    @abstractmethod
    def delete(self, unit_ids: Iterable[str]) -> int:
        """Remove units by id; returns how many were there."""

    @abstractmethod
    def indexed(self, conversation_id: str) -> dict[str, tuple[str, ...]]:
        """Ids of one conversation's units, each with the message ids it covers."""

    @abstractmethod
    def units(self, conversation_id: str | None = None) -> list[SearchUnit]:
        """The indexed units (of one conversation), in the order they were added."""

    def embed_missing(
        self, *, batch: int = 256, conversation_ids: Collection[str] | None = None
    ) -> int:
        """Embed the units that have no vector from this index's embedder yet (units
        indexed without one, or by another), ``batch`` at a time (only those of
        ``conversation_ids`` when given); returns how many."""
        if self.embedder is None:
            return 0
        if conversation_ids is None:
            have, units = set(self._vectors(None)[0]), self.units()
        else:
            have = set(self._vectors(frozenset(conversation_ids))[0])
            units = [unit for cid in conversation_ids for unit in self.units(cid)]
        missing = [unit for unit in units if unit.id not in have]
        for start in range(0, len(missing), batch):
            self.add(missing[start : start + batch])
        return len(missing)

    def close(self) -> None:
        """Release the index's connection (an index in memory holds none)."""
        return None

    @abstractmethod
    def _lexical_scores(self, query: str, scope: Scope, limit: int) -> dict[str, float]:
        """Up to ``limit`` best lexical matches in ``scope``: unit id -> score (higher is
        better)."""

    @abstractmethod
    def _vectors(self, scope: Scope) -> tuple[list[str], Vectors]:
        """Ids and unit-length vectors (rows) of the units in ``scope``."""

    @abstractmethod
    def _load(self, unit_ids: Collection[str]) -> dict[str, SearchUnit]:
        """The stored units with these ids."""

    def _check_mode(self, mode: str) -> None:
        if mode not in _MODES:
            raise ConfigError(f"search mode must be one of {_MODES}, got {mode!r}")
        if mode != "lexical" and self.embedder is None:
            raise ConfigError(f"{mode} search needs an embedder (give embedder=...)")

    def _embed_units(self, units: Sequence[SearchUnit]) -> Vectors | None:
        if self.embedder is None or not units:
            return None
        if self.dense_text == "key":
            return self.embedder.embed([unit.index_text for unit in units])
        return self.embedder.embed([unit.text for unit in units])

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: Mode | None = None,
        conversation_id: str | None = None,
        exclude_message_ids: Collection[str] = (),
        where: Callable[[SearchUnit], bool] | None = None,
        conversation_ids: Collection[str] | None = None,
    ) -> list[SearchHit]:
        """The ``k`` best units for ``query``, best first, skipping any unit that covers one
        of ``exclude_message_ids`` (the turns the caller already holds) or that ``where``
        rejects. ``conversation_ids``: only those conversations' units are retrieved (a
        user's, in a store of many users), in place of ``conversation_id``."""
        mode = mode or self.default_mode
        self._check_mode(mode)
        scope: Scope = conversation_id
        if conversation_ids is not None:
            scope = frozenset(conversation_ids)
            if not scope:
                return []
        if k <= 0 or not query.strip():
            return []
        exclude = frozenset(exclude_message_ids)
        depth = max(self.depth, 2 * k + len(exclude))
        runs: dict[str, dict[str, float]] = {}
        if mode != "dense":
            runs["lexical"] = self._lexical_scores(query, scope, depth)
        if mode != "lexical":
            assert self.embedder is not None
            ids, matrix = self._vectors(scope)
            rows, scores = top_k(matrix, embed_query(self.embedder, query), depth)
            runs["dense"] = {ids[r]: float(s) for r, s in zip(rows, scores, strict=True)}
        units = self._allowed(set().union(*runs.values()), exclude, where)
        runs = {name: {i: s for i, s in run.items() if i in units} for name, run in runs.items()}
        fused = self.fusion(runs) if len(runs) > 1 else next(iter(runs.values()))
        if mode != "dense":
            fused = self._lift_previous(fused, units, exclude, where)
            fused = self._favour_named_speaker(query, fused, units)
        best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [
            SearchHit(
                unit=units[i],
                score=score,
                scores={name: run[i] for name, run in runs.items() if i in run},
            )
            for i, score in best
        ]

    def _allowed(
        self,
        unit_ids: Collection[str],
        exclude: frozenset[str],
        where: Callable[[SearchUnit], bool] | None,
    ) -> dict[str, SearchUnit]:
        """The units with these ids that the caller does not hold and ``where`` accepts."""
        units = self._load(unit_ids)
        if exclude:
            units = {i: u for i, u in units.items() if exclude.isdisjoint(u.message_ids)}
        if where is not None:
            units = {i: u for i, u in units.items() if where(u)}
        return units

    def _favour_named_speaker(
        self, query: str, fused: dict[str, float], units: dict[str, SearchUnit]
    ) -> dict[str, float]:
        """Scale the scores of the one speaker ``query`` names by 1 + ``speaker_weight``
        (unchanged when it names none of the candidates' speakers, or several)."""
        if self.speaker_weight <= 0:
            return fused
        speakers = {units[i].speaker for i in fused if units[i].speaker}
        named = [s for s in speakers if re.search(rf"(?<!\w){re.escape(s)}(?!\w)", query)]
        if len(named) != 1:
            return fused
        factor = 1.0 + self.speaker_weight
        return {
            i: score * factor if score > 0 and units[i].speaker == named[0] else score
            for i, score in fused.items()
        }

    def _lift_previous(
        self,
        fused: dict[str, float],
        units: dict[str, SearchUnit],
        exclude: frozenset[str],
        where: Callable[[SearchUnit], bool] | None,
    ) -> dict[str, float]:
        """Add ``successor_weight`` times each candidate's score to the turn before it
        (loaded into ``units`` when it was no candidate itself)."""
        links = {u.previous: i for i, u in units.items() if u.previous and i in fused}
        if self.successor_weight <= 0 or not links:
            return fused
        units.update(self._allowed([p for p in links if p not in units], exclude, where))
        out = dict(fused)
        for previous, successor in links.items():
            if previous in units:
                out[previous] = out.get(previous, 0.0) + self.successor_weight * fused[successor]
        return out
