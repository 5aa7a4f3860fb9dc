"""Okapi BM25 over an in-memory inverted index (numpy), the lexical half of `MemoryIndex`."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from claudechat.search.tokenize import Tokenizer

__all__ = ["BM25", "bm25_score"]


def bm25_score(
    query_terms: Iterable[str],
    doc_tf: Mapping[str, int],
    doc_length: int,
    df: Mapping[str, int],
    n_docs: int,
    avgdl: float,
    *,
    k1: float = 1.2,
    b: float = 0.75,
) -> float:
    """BM25 of one document (its term frequencies and length) for ``query_terms``, with the
    same Lucene idf as `BM25`; for backends that fetch candidates and statistics by SQL."""
    norm = k1 * (1.0 - b + b * doc_length / max(avgdl, 1e-9))
    total = 0.0
    for term, qtf in Counter(query_terms).items():
        tf = doc_tf.get(term, 0)
        n = df.get(term, 0)
        if tf and n:
            idf = math.log(1.0 + (n_docs - n + 0.5) / (n + 0.5))
            total += qtf * idf * tf * (k1 + 1.0) / (tf + norm)
    return total


class BM25:
    """Okapi BM25 (k1, b) with the Lucene idf ``log(1 + (N - df + .5) / (df + .5))``.

    Documents are addressed by their position in insertion order; removed documents keep
    their slot (emptied) so positions stay stable.
    """

    def __init__(self, *, tokenizer: Tokenizer | None = None, k1: float = 1.2, b: float = 0.75):
        self.tokenizer = tokenizer or Tokenizer()
        self.k1 = k1
        self.b = b
        self._postings: dict[str, dict[int, int]] = {}
        self._lengths: list[int] = []
        self._live: list[bool] = []
        self._total_length = 0
        self._n_live = 0

    def __len__(self) -> int:
        return self._n_live

    def add(self, texts: Iterable[str]) -> list[int]:
        """Index ``texts``; returns their document positions."""
        positions = []
        for text in texts:
            doc = len(self._lengths)
            terms = self.tokenizer(text)
            for term, tf in Counter(terms).items():
                self._postings.setdefault(term, {})[doc] = tf
            self._lengths.append(len(terms))
            self._live.append(True)
            self._total_length += len(terms)
            self._n_live += 1
            positions.append(doc)
        return positions

    def remove(self, positions: Iterable[int]) -> None:
        """Forget the documents at ``positions`` (their slots stay, empty)."""
        doomed = {p for p in positions if 0 <= p < len(self._live) and self._live[p]}
        if not doomed:
            return
        for term in list(self._postings):
            posting = self._postings[term]
            for p in doomed.intersection(posting):
                del posting[p]
            if not posting:
                del self._postings[term]
        for p in doomed:
            self._live[p] = False
            self._total_length -= self._lengths[p]
            self._lengths[p] = 0
            self._n_live -= 1

    def scores(self, query: str, *, among: Sequence[int] | None = None) -> npt.NDArray[np.float64]:
        """BM25 score of every document slot for ``query`` (0 where no term matches).

        ``among`` restricts document-frequency statistics and scoring to those positions
        (one conversation inside a shared index); other slots score 0.
        """
        n_slots = len(self._lengths)
        out = np.zeros(n_slots, dtype=np.float64)
        if n_slots == 0:
            return out
        lengths = np.asarray(self._lengths, dtype=np.float64)
        if among is None:
            n_docs, avgdl, mask = self._n_live, self._total_length / max(self._n_live, 1), None
        else:
            mask = np.zeros(n_slots, dtype=bool)
            mask[np.asarray(among, dtype=np.int64)] = True
            mask &= np.asarray(self._live, dtype=bool)
            n_docs = int(mask.sum())
            avgdl = float(lengths[mask].sum()) / max(n_docs, 1)
        if n_docs == 0:
            return out
        norm = self.k1 * (1.0 - self.b + self.b * lengths / max(avgdl, 1e-9))
        for term, qtf in Counter(self.tokenizer(query)).items():
            posting = self._postings.get(term)
            if not posting:
                continue
            docs = np.fromiter(posting.keys(), dtype=np.int64, count=len(posting))
            tfs = np.fromiter(posting.values(), dtype=np.float64, count=len(posting))
            if mask is not None:
                keep = mask[docs]
                docs, tfs = docs[keep], tfs[keep]
                if docs.size == 0:
                    continue
            df = docs.size
            idf = math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
            out[docs] += qtf * idf * tfs * (self.k1 + 1.0) / (tfs + norm[docs])
        return out
