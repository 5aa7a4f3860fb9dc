"""The search index the service's recall uses: the store's own, persistent search tables.

A SQLite store keeps its turns' index in its own file (the ``search_*`` tables, as the CLI
does), a PostgreSQL store in its database. With SQLite each worker thread opens the file
once and keeps it (concurrent turns never share a connection); with PostgreSQL each call
takes a pooled connection and gives it back. A store with nothing to keep tables in (in memory) gets an index in
memory, built for the chat. Recall searches one conversation's turns at a time: the one
the user's scoped store let the chat open, so no other user's turn can come back.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..chat.base import ChatBase
from ..context.recall import Recall
from ..errors import StoreError
from ..search import Mode, RankedIndex, SearchHit, SearchIndex, SearchUnit
from ..store.base import Store
from ..store.scoped import ScopedStore
from ..store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from ..store.postgres import PostgresStore

__all__ = ["StoreIndex", "forget_turns", "index_finished_turn", "turn_index"]

Opener = Callable[[], AbstractContextManager[RankedIndex]]


class StoreIndex:
    """A `SearchIndex` over a store's search tables, opened for each call."""

    def __init__(self, opener: Opener) -> None:
        self._open = opener

    def add(self, units: Sequence[SearchUnit]) -> None:
        """Index ``units`` (replacing any with the same id)."""
        with self._open() as index:
            index.add(units)

    def delete(self, unit_ids: Iterable[str]) -> int:
        """Remove units by id; returns how many were there."""
        with self._open() as index:
            return index.delete(unit_ids)

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
        with self._open() as index:
            return index.search(query, k=k, mode=mode, conversation_id=conversation_id,
                                exclude_message_ids=exclude_message_ids, where=where)  # fmt: skip

    def indexed(self, conversation_id: str) -> dict[str, tuple[str, ...]]:
        """Ids of one conversation's units, each with the message ids it covers."""
        with self._open() as index:
            return index.indexed(conversation_id)

    def units(self, conversation_id: str | None = None) -> list[SearchUnit]:
        """The indexed units (of one conversation), in the order they were added."""
        with self._open() as index:
            return index.units(conversation_id)

    def embed_missing(self) -> int:
        """Nothing to embed: the service's recall is BM25 (as the frontier measured it)."""
        return 0

    def close(self) -> None:
        """Nothing stays open between calls."""

    def __len__(self) -> int:
        with self._open() as index:
            return len(index)


def turn_index(store: Store) -> SearchIndex:
    """The persistent index of ``store`` (a user's scoped view: the store under it), or a
    new in-memory one for a store without tables of its own."""
    base = store.store if isinstance(store, ScopedStore) else store
    if isinstance(base, SQLiteStore) and isinstance(base.path, Path):
        sqlite_store = base
        return StoreIndex(lambda: _sqlite_index(sqlite_store))
    postgres = _postgres_store(base)
    if postgres is not None:
        return StoreIndex(lambda: _postgres_index(postgres))
    from ..search import MemoryIndex

    return MemoryIndex()


def index_finished_turn(chat: ChatBase[Any]) -> int:
    """Index the turn the chat just finished, where it recalls (in the thread that settles
    the turn, after its reply): the next turn's recall then knows the index up to date
    without checking it before its request. Returns how many units were written."""
    recall = next((p for p in chat.context.policies if isinstance(p, Recall)), None)
    if recall is None or chat.id is None:
        return 0
    return recall.index_branch(chat.id, chat.history, include_last=True)


def forget_turns(store: Store, conversation_id: str) -> int:
    """Take a deleted conversation's turns out of the store's index (the CLI's ``rm`` does
    the same); returns how many units went."""
    index = turn_index(store)
    try:
        return index.delete(list(index.indexed(conversation_id)))
    finally:
        index.close()


_THREAD = threading.local()  # each worker thread's open index of each store


@contextmanager
def _sqlite_index(store: SQLiteStore) -> Iterator[RankedIndex]:
    """This thread's index of the store's file: opened (and its tables checked) once per
    thread, not at every call of every turn; a thread's connection is never used by
    another. It reads on that connection and writes through the store's own
    (`SQLiteStore.write_connection`): a turn's index rows are committed with the store's
    writes instead of queueing for the file's write lock beside them."""
    from ..search import SQLiteIndex

    opened: weakref.WeakKeyDictionary[SQLiteStore, RankedIndex]
    opened = _THREAD.__dict__.setdefault("indexes", weakref.WeakKeyDictionary())
    index = opened.get(store)
    if index is None:
        assert store.path is not None
        connection = sqlite3.connect(store.path, timeout=10.0)
        index = opened[store] = SQLiteIndex(connection, writer=_writer_of(store))
    yield index


def _writer_of(store: SQLiteStore) -> Callable[[], AbstractContextManager[sqlite3.Connection]]:
    """The store's writer connection, without keeping the store alive (the thread's entry
    for it goes when the store does)."""
    owner = weakref.ref(store)

    def write() -> AbstractContextManager[sqlite3.Connection]:
        alive = owner()
        if alive is None:
            raise StoreError("the store of this search index is gone")
        return alive.write_connection()

    return write


def _postgres_store(store: Store) -> PostgresStore | None:
    """``store`` when it is a PostgresStore (None without psycopg: then it cannot be)."""
    try:
        from ..store.postgres import PostgresStore
    except ImportError:
        return None
    return store if isinstance(store, PostgresStore) else None


@contextmanager
def _postgres_index(store: PostgresStore) -> Iterator[RankedIndex]:
    from ..search.postgres import PostgresIndex

    with store.connection() as conn:  # the pool takes it back; the index never closes it
        yield PostgresIndex(conn)
