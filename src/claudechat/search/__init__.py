"""Indexing and retrieval over conversation turns: lexical BM25 (in memory, SQLite FTS5,
PostgreSQL full text), dense vectors through a pluggable `Embedder`, and hybrid fusion.

An index answers ``search(query, mode=...)``, where ``Mode`` is "lexical", "dense" or
"hybrid". ``PostgresIndex`` is imported lazily from `claudechat.search.postgres` (it needs
psycopg). The scoring pieces (BM25, stemmers, fusion functions) stay in their modules.
"""

from claudechat.search._units import SearchHit, SearchUnit
from claudechat.search.base import Mode, RankedIndex, SearchIndex
from claudechat.search.embedders import (
    Embedder,
    EmbedderUnavailable,
    HashingEmbedder,
    MiniLMEmbedder,
    VoyageEmbedder,
)
from claudechat.search.fusion import Fusion, ReciprocalRankFusion, WeightedScoreFusion
from claudechat.search.keys import TurnKeys
from claudechat.search.memory import MemoryIndex
from claudechat.search.sqlite import SQLiteIndex
from claudechat.search.tokenize import Tokenizer
from claudechat.search.turns import index_turns, reindex_conversation

__all__ = [
    "Embedder",
    "EmbedderUnavailable",
    "Fusion",
    "HashingEmbedder",
    "MemoryIndex",
    "MiniLMEmbedder",
    "Mode",
    "RankedIndex",
    "ReciprocalRankFusion",
    "SQLiteIndex",
    "SearchHit",
    "SearchIndex",
    "SearchUnit",
    "Tokenizer",
    "TurnKeys",
    "VoyageEmbedder",
    "WeightedScoreFusion",
    "index_turns",
    "reindex_conversation",
]
