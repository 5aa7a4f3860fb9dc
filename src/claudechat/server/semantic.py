"""Search by meaning (``GET /v1/search?semantic=true``), when the service is configured
with an embedder (``CLAUDECHAT_SERVE_SEMANTIC``): hybrid retrieval (BM25 and the
embedder's vectors, fused as ``claudechat search --semantic`` fuses them) over the turns of
the user's own conversations only.

It searches the store's own search tables, the ones recall writes at the end of each turn
(turn_index.py). Before a search, the user's conversations whose turns are not all there
(imported, written with recall off, or by the CLI) are indexed from the store, and the
turns with no vector from this embedder yet are embedded: the first search of a long
history takes that time once (some 11 ms a turn with all-MiniLM-L6-v2 on the development
machine); the turns themselves never wait for an embedder.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..search import Embedder, RankedIndex, SearchHit
from ..search.turns import index_turns
from ..store.base import Store
from ..store.scoped import ScopedStore
from ..store.sqlite import SQLiteStore
from .turn_index import _postgres_store, _writer_of

__all__ = ["SEMANTIC_CHOICES", "semantic_embedder", "semantic_hits"]

SEMANTIC_CHOICES = ("off", "on", "hashing")
SNIPPET_CHARS = 300


def semantic_embedder(choice: str) -> Embedder | None:
    """The embedder of ``choice``: None for "off", all-MiniLM-L6-v2 for "on" (ConfigError
    naming the extra when it is not installed), the hashing embedder for "hashing" (close
    to lexical search: for a machine without the extra, and for tests)."""
    from ..search import EmbedderUnavailable, HashingEmbedder, MiniLMEmbedder

    if choice == "off":
        return None
    if choice == "hashing":
        return HashingEmbedder()
    if choice != "on":
        raise ConfigError(
            f"semantic search must be one of {', '.join(SEMANTIC_CHOICES)}, not {choice!r}"
        )
    try:
        return MiniLMEmbedder()
    except EmbedderUnavailable as err:
        raise ConfigError(
            f"semantic search needs the embeddings extra ({err}): install "
            "'claudechat[embeddings]', or set CLAUDECHAT_SERVE_SEMANTIC=off"
        ) from None


def semantic_hits(
    store: Store,
    embedder: Embedder,
    query: str,
    *,
    conversation_id: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The ``limit`` turns of the user's conversations (``store``: their scoped view; only
    ``conversation_id`` when given) closest to ``query``, best first, as hits."""
    infos = [info for info in store.iter_conversations()
             if conversation_id is None or info.conversation.id == conversation_id]  # fmt: skip
    ids = [info.conversation.id for info in infos]
    with _index(store, embedder) as index:
        for info in infos:
            covered = sum(
                len(messages) for messages in index.indexed(info.conversation.id).values()
            )
            if covered < info.messages:  # some of its turns are not indexed yet
                cid = info.conversation.id
                index_turns(index, cid, store.branch(cid), include_last=True)
        index.embed_missing(conversation_ids=ids)
        hits = index.search(query, k=limit, mode="hybrid", conversation_ids=ids)
    return [_hit_json(hit) for hit in hits]


def _hit_json(hit: SearchHit) -> dict[str, Any]:
    """A turn found by meaning, in the shape of a full-text hit: its first message (the
    question) is where it is; the snippet is the turn's text, shortened."""
    unit = hit.unit
    text = " ".join(unit.text.split())
    if len(text) > SNIPPET_CHARS:
        text = text[: SNIPPET_CHARS - 1] + "…"
    return {
        "conversation_id": unit.conversation_id,
        "message_id": unit.message_ids[0],
        "message_ids": list(unit.message_ids),
        "role": unit.speaker or "user",
        "snippet": text,
        "score": hit.score,
        "created_at": unit.created_at.timestamp() if unit.created_at is not None else None,
    }


@contextmanager
def _index(store: Store, embedder: Embedder) -> Iterator[RankedIndex]:
    """The store's search tables with ``embedder``, opened for one search (a search is
    rare beside turns: no connection is kept for it); an index in memory, built for the
    search, for a store with no tables (in memory)."""
    base = store.store if isinstance(store, ScopedStore) else store
    if isinstance(base, SQLiteStore) and isinstance(base.path, Path):
        from ..search import SQLiteIndex

        connection = sqlite3.connect(base.path, timeout=10.0)
        try:
            yield SQLiteIndex(connection, writer=_writer_of(base), embedder=embedder)
        finally:
            connection.close()
        return
    postgres = _postgres_store(base)
    if postgres is not None:
        from ..search.postgres import PostgresIndex

        with postgres.connection() as conn:
            yield PostgresIndex(conn, embedder=embedder)
        return
    from ..search import MemoryIndex

    yield MemoryIndex(embedder=embedder)
