"""Indexing and retrieval over conversation turns: lexical BM25 (in memory, SQLite FTS5,
PostgreSQL full text), dense vectors through a pluggable `Embedder`, and hybrid fusion.

``PostgresIndex`` is imported lazily from `claudechat.search.postgres` (it needs psycopg).
"""

from claudechat.search._units import SearchHit, SearchUnit
from claudechat.search.base import DEFAULT_FUSION, DenseText, Mode, RankedIndex, SearchIndex
from claudechat.search.bm25 import BM25
from claudechat.search.embedders import (
    Embedder,
    EmbedderUnavailable,
    HashingEmbedder,
    MiniLMEmbedder,
    VoyageEmbedder,
)
from claudechat.search.fusion import (
    Fusion,
    ReciprocalRankFusion,
    WeightedScoreFusion,
    reciprocal_rank_fusion,
    weighted_score_fusion,
)
from claudechat.search.keys import TurnKeys, format_date, protocol_text
from claudechat.search.memory import MemoryIndex
from claudechat.search.porter import porter_stem
from claudechat.search.sqlite import SQLiteIndex
from claudechat.search.tokenize import STOPWORDS, Tokenizer, light_stem
from claudechat.search.turns import (
    DEFAULT_TURN_KEYS,
    index_turns,
    reindex_conversation,
    turn_text,
    turn_units,
)

__all__ = [
    "BM25",
    "DEFAULT_FUSION",
    "DEFAULT_TURN_KEYS",
    "STOPWORDS",
    "DenseText",
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
    "format_date",
    "index_turns",
    "light_stem",
    "porter_stem",
    "protocol_text",
    "reciprocal_rank_fusion",
    "reindex_conversation",
    "turn_text",
    "turn_units",
    "weighted_score_fusion",
]
