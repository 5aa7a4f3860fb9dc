"""The ``MemoryFiles`` half of the SQL stores, written once for SQLite and PostgreSQL.

Mixed into ``SQLStore``: the table comes from migration 0004 (``memories``). Each write
is one transaction that first serialises the writers of its tree (SQLite's ``BEGIN
IMMEDIATE`` does; PostgreSQL takes an advisory lock named after the tree), then checks
and changes the rows, so a check and its write see the same tree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ._memory_memories import check_rename, check_write, moved
from .memories import MemoryFile, parents, tree_order

if TYPE_CHECKING:
    from ._sql import Executor

__all__ = ["SQLMemories"]

_COLS = "path, content, created_at, updated_at, owner, conversation_id"
_INSERT = f"INSERT INTO memories ({_COLS}) VALUES (?, ?, ?, ?, ?, ?)"
_UNDER = "(path = ? OR substr(path, 1, ?) = ?)"  # an entry or anything inside it


def _entry(row: Sequence[Any]) -> MemoryFile:
    return MemoryFile(row[0], row[1], float(row[2]), float(row[3]), row[4], row[5])


def _under_args(prefix: str) -> tuple[str, int, str]:
    return prefix, len(prefix) + 1, prefix + "/"


class SQLMemories:
    """Memory-tool trees in the store's ``memories`` table."""

    _clock: Callable[[], float]
    _same: str
    _tree_lock = ""  # a statement serialising the writers of one tree, where one is needed

    def _tx(self, where: str, *, write: bool = False) -> AbstractContextManager[Executor]:
        raise NotImplementedError

    def _tree_sql(self) -> str:
        return f"owner = ? AND conversation_id {self._same} ?"

    def _lock_tree(self, db: Executor, owner: str, conversation_id: str | None) -> None:
        if self._tree_lock:
            db.execute(self._tree_lock, (f"memories {owner} {conversation_id or ''}",))

    def _kinds(
        self, db: Executor, owner: str, cid: str | None, paths: list[str]
    ) -> dict[str, MemoryFile]:
        """The entries at ``paths`` that exist."""
        marks = ", ".join("?" * len(paths))
        rows = db.execute(
            f"SELECT {_COLS} FROM memories WHERE {self._tree_sql()} AND path IN ({marks})",
            (owner, cid, *paths),
        ).fetchall()
        return {r[0]: _entry(r) for r in rows}

    def memories(
        self, owner: str, conversation_id: str | None, *, prefix: str = ""
    ) -> list[MemoryFile]:
        """The entries of one tree at ``prefix`` and below, in tree order."""
        where = self._tree_sql()
        args: list[str | int | None] = [owner, conversation_id]
        if prefix:
            where, args = f"{where} AND {_UNDER}", [*args, *_under_args(prefix)]
        with self._tx("memories") as db:
            rows = db.execute(f"SELECT {_COLS} FROM memories WHERE {where}", args).fetchall()
        return tree_order(_entry(r) for r in rows)

    def all_memories(self, owner: str) -> list[MemoryFile]:
        """Every entry of every tree of ``owner``, shared first, in tree order."""
        with self._tx("all_memories") as db:
            rows = db.execute(f"SELECT {_COLS} FROM memories WHERE owner = ?", (owner,)).fetchall()
        return tree_order(_entry(r) for r in rows)

    def write_memory(
        self,
        owner: str,
        conversation_id: str | None,
        path: str,
        content: str | None,
        *,
        expect: str | None = None,
    ) -> MemoryFile:
        """Create an entry (and its parents), or replace a file's text still ``expect``."""
        cid = conversation_id
        with self._tx("write_memory", write=True) as db:
            self._lock_tree(db, owner, cid)
            found = self._kinds(db, owner, cid, [*parents(path), path])
            old = found.get(path)
            check_write({p: e.is_dir for p, e in found.items()}, path, expect,
                        old.content if old else None)  # fmt: skip
            now = self._clock()
            if old is not None:
                db.execute(
                    f"UPDATE memories SET content = ?, updated_at = ? WHERE {self._tree_sql()} "
                    "AND path = ?",
                    (content, now, owner, cid, path),
                )
                return MemoryFile(path, content, old.created_at, now, owner, cid)
            rows = [(p, None, now, now, owner, cid) for p in parents(path) if p not in found]
            db.executemany(_INSERT, [*rows, (path, content, now, now, owner, cid)])
            return MemoryFile(path, content, now, now, owner, cid)

    def delete_memory(self, owner: str, conversation_id: str | None, path: str) -> int:
        """Delete an entry and everything below it; how many entries went."""
        with self._tx("delete_memory", write=True) as db:
            self._lock_tree(db, owner, conversation_id)
            cur = db.execute(
                f"DELETE FROM memories WHERE {self._tree_sql()} AND {_UNDER}",
                (owner, conversation_id, *_under_args(path)),
            )
            return int(cur.rowcount)

    def rename_memory(self, owner: str, conversation_id: str | None, old: str, new: str) -> None:
        """Move an entry and everything below it to ``new`` (missing parents made)."""
        cid = conversation_id
        with self._tx("rename_memory", write=True) as db:
            self._lock_tree(db, owner, cid)
            found = self._kinds(db, owner, cid, [old, *parents(new), new])
            check_rename({p: e.is_dir for p, e in found.items()}, old, new)
            now = self._clock()
            rows = db.execute(
                f"SELECT {_COLS} FROM memories WHERE {self._tree_sql()} AND {_UNDER}",
                (owner, cid, *_under_args(old)),
            ).fetchall()
            db.execute(
                f"DELETE FROM memories WHERE {self._tree_sql()} AND {_UNDER}",
                (owner, cid, *_under_args(old)),
            )
            made = [(p, None, now, now, owner, cid) for p in parents(new) if p not in found]
            kept = [(moved(r[0], old, new), r[1], r[2], now, owner, cid) for r in rows]
            db.executemany(_INSERT, [*made, *kept])
