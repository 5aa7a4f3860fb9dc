"""The search index for the command line: recall in chats, ``search --semantic``, ``reindex``.

The index lives beside the conversations: in the SQLite database file itself (its own
``search_*`` tables), in PostgreSQL for a ``postgresql://`` store, in memory otherwise.
Chats keep it in step (the Recall policy indexes each finished turn); ``reindex``
rebuilds it. Semantic search uses the offline all-MiniLM-L6-v2 embedder, run with numpy
(no torch import: a call answers in about a second), when the ``embeddings`` extra is
installed, else a hashing embedder (and says so).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..chat import Chat
    from ..context.engine import Budget
    from ..context.recall import Recall
    from ..search import Embedder, RankedIndex, SearchHit
    from ..store.base import Store

__all__ = [
    "open_index",
    "recall_embedder",
    "recall_index",
    "recall_policy",
    "recall_preview",
    "reindex",
    "semantic_embedder",
    "semantic_search",
    "sync_index",
]


def open_index(
    store: Store, *, postgres: str | None = None, embedder: Embedder | None = None
) -> RankedIndex:
    """The search index that goes with ``store`` (``postgres``: the store's conninfo)."""
    from ..search import MemoryIndex, SQLiteIndex

    path = getattr(store, "path", None)
    if isinstance(path, Path):
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        # Chats are built in a background thread and used in the main one.
        conn = sqlite3.connect(path, timeout=10.0, check_same_thread=False)
        return SQLiteIndex(conn, embedder=embedder)
    if postgres:
        from ..search.postgres import PostgresIndex

        return PostgresIndex(postgres, embedder=embedder)
    return MemoryIndex(embedder=embedder)


def semantic_embedder(notice: Callable[[str], None], choice: str = "auto") -> Embedder:
    """all-MiniLM-L6-v2 (offline) for "minilm", or for "auto" when it is installed (else a
    hashing embedder, with a notice); the hashing embedder for "hashing"."""
    from ..search import EmbedderUnavailable, HashingEmbedder, MiniLMEmbedder

    if choice == "hashing":
        return HashingEmbedder()
    try:
        return MiniLMEmbedder()
    except EmbedderUnavailable as err:
        if choice == "minilm":
            raise
        notice(f"{err}; using a hashing embedder (close to lexical search) meanwhile")
        return HashingEmbedder()


def _conversation_ids(store: Store) -> list[str]:
    return [info.conversation.id for info in store.iter_conversations()]


def sync_index(index: RankedIndex, store: Store, conversation_ids: list[str] | None = None) -> int:
    """Index every finished turn the index lacks; embed units that have no vector yet."""
    from ..search.turns import index_turns

    written = 0
    for cid in conversation_ids if conversation_ids is not None else _conversation_ids(store):
        written += index_turns(index, cid, store.branch(cid), include_last=True)
    return written + index.embed_missing()


def reindex(
    index: RankedIndex, store: Store, conversation_ids: list[str] | None = None
) -> tuple[int, int]:
    """Rebuild the index of these (or all) conversations; returns (conversations, turns)."""
    from ..search.turns import reindex_conversation

    ids = conversation_ids if conversation_ids is not None else _conversation_ids(store)
    turns = sum(reindex_conversation(index, store, cid) for cid in ids)
    return len(ids), turns


def semantic_search(
    store: Store,
    query: str,
    *,
    limit: int,
    conversation_id: str | None,
    notice: Callable[[str], None],
    postgres: str | None = None,
    embedder: str = "auto",
) -> list[str]:
    """Lines for ``claudechat search --semantic``: conversation id, date, score, the turn."""
    index = open_index(store, postgres=postgres, embedder=semantic_embedder(notice, embedder))
    try:
        scope = [conversation_id] if conversation_id else None
        sync_index(index, store, scope)
        hits = index.search(query, k=limit, mode="hybrid", conversation_id=conversation_id)
        return [_hit_line(hit) for hit in hits]
    finally:
        index.close()


def _hit_line(hit: SearchHit, width: int = 110) -> str:
    unit = hit.unit
    when = unit.created_at.strftime("%Y-%m-%d %H:%M") if unit.created_at else "?"
    text = " ".join(unit.text.split())
    text = text if len(text) <= width else text[: width - 1] + "…"
    return f"{unit.conversation_id}  {when}  {hit.score:.3f}  {text}"


def recall_embedder(choice: str = "auto") -> Embedder | None:
    """The embedder recall uses: all-MiniLM-L6-v2 for "minilm", and for "auto" when the
    ``embeddings`` extra is installed; None (BM25 alone) otherwise, and for "hashing",
    which adds nothing to BM25."""
    from ..search import EmbedderUnavailable, MiniLMEmbedder

    if choice == "hashing":
        return None
    try:
        return MiniLMEmbedder()
    except EmbedderUnavailable:
        if choice == "minilm":
            raise
        return None


def recall_index(
    store: Store, *, postgres: str | None = None, embedder: str = "auto"
) -> RankedIndex:
    """The index chats recall from: this store's, hybrid (BM25 + all-MiniLM-L6-v2) when the
    embedder is there, else BM25 alone.

    Measured on LoCoMo dev (bench/locomo.py), recall@5: hybrid 0.725, BM25 0.673, each with
    turns lifted by their replies (``successor_weight`` 0.3).
    """
    return open_index(store, postgres=postgres, embedder=recall_embedder(embedder))


def recall_policy(
    store: Store, *, postgres: str | None = None, embedder: str = "auto", budget: Budget = None
) -> Recall:
    """The Recall policy chats use, sized for ``budget`` as `remember_policies` sizes it
    (`recall_sizes`: 25 turns within 45% of the budget, at most 6,000 tokens)."""
    from ..context.engine import DEFAULT_BUDGET
    from ..context.recall import Recall, recall_sizes

    sizes = recall_sizes(budget if isinstance(budget, int) else DEFAULT_BUDGET)
    index = recall_index(store, postgres=postgres, embedder=embedder)
    return Recall(index, k=sizes.k, max_tokens=sizes.max_tokens)


def recall_preview(chat: Chat, text: str | None, *, postgres: str | None = None) -> list[str]:
    """Lines for ``/recall``: what recall would inject for ``text`` (default: the last
    message), given what the window holds now."""
    from ..context.recall import Recall
    from ..errors import UserError

    policy = next((p for p in chat.context.policies if isinstance(p, Recall)), None)
    own = policy is None
    if policy is None:
        policy = recall_policy(chat.store, postgres=postgres, budget=chat.context.budget)
    query = text or next((m.text for m in reversed(chat.history) if m.is_user_text), "")
    if not query.strip():
        raise UserError("nothing to recall for yet: /recall TEXT")
    last = chat.context.last
    window = last.candidate.history if last is not None else chat.history
    try:
        preview = policy.preview(
            query,
            conversation_id=chat.id,
            window=window,
            branch=chat.history,
            counter=chat.context.counter,
        )
    finally:
        if own:
            policy.index.close()
    if not preview.hits:
        return ["nothing to recall: the window holds every relevant turn (or none matches)"]
    lines = [f"{len(preview.hits)} earlier turns would be injected ({preview.tokens:,} tokens):"]
    lines += [f"  {_hit_line(hit, 90)}" for hit in preview.hits]
    return lines
