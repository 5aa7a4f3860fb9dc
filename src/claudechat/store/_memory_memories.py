"""The ``MemoryFiles`` half of MemoryStore: memory-tool trees in process memory."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace

from ..errors import ConversationNotFound, MemoryConflict
from .memories import MemoryFile, parents, tree_order, under

__all__ = ["MemoryMemories", "check_write", "moved"]

_Tree = dict[str, MemoryFile]


def check_write(tree: dict[str, bool], path: str, expect: str | None, current: str | None) -> None:
    """MemoryConflict unless the write can go on: ``tree`` maps the path and its parents
    that exist to whether each is a directory; ``current`` is the path's text now."""
    for parent in parents(path):
        if tree.get(parent) is False:
            raise MemoryConflict(f"memory {parent} is a file, not a directory")
    if expect is None and path in tree:
        raise MemoryConflict(f"memory {path} exists")
    if expect is not None and (path not in tree or tree[path] or current != expect):
        raise MemoryConflict(f"memory {path} changed or is gone")


def moved(path: str, old: str, new: str) -> str:
    """``path`` (``old`` or inside it) once ``old`` is renamed ``new``."""
    return new + path[len(old) :]


def check_rename(tree: dict[str, bool], old: str, new: str) -> None:
    """MemoryConflict unless ``old`` can move to ``new`` (``tree`` as in check_write,
    for ``old``, ``new`` and the parents of ``new``)."""
    if old not in tree:
        raise MemoryConflict(f"memory {old} is gone")
    if under(new, old):
        raise MemoryConflict(f"memory {new} is inside {old}")
    check_write(tree, new, None, None)


class MemoryMemories:
    """Memory-tool trees keyed by (owner, conversation id or "")."""

    _clock: Callable[[], float]
    _lock: threading.RLock
    _convs: Mapping[str, object]

    def _start_memories(self) -> None:
        self._trees: dict[tuple[str, str], _Tree] = {}

    def _tree(self, owner: str, conversation_id: str | None) -> _Tree:
        return self._trees.setdefault((owner, conversation_id or ""), {})

    def _tree_to_write(self, owner: str, conversation_id: str | None) -> _Tree:
        """The tree to write; ConversationNotFound for a conversation the store lacks."""
        if conversation_id is not None and conversation_id not in self._convs:
            raise ConversationNotFound(f"no conversation {conversation_id}")
        return self._tree(owner, conversation_id)

    def _drop_memories(self, conversation_id: str) -> None:
        """Forget a deleted conversation's own trees."""
        for key in [k for k in self._trees if k[1] == conversation_id]:
            del self._trees[key]

    def memories(
        self, owner: str, conversation_id: str | None, *, prefix: str = ""
    ) -> list[MemoryFile]:
        """The entries of one tree at ``prefix`` and below, in tree order."""
        with self._lock:
            tree = self._tree(owner, conversation_id)
            return tree_order(e for e in tree.values() if under(e.path, prefix))

    def all_memories(self, owner: str) -> list[MemoryFile]:
        """Every entry of every tree of ``owner``, shared first, in tree order."""
        with self._lock:
            return tree_order(
                e for (o, _), tree in self._trees.items() if o == owner for e in tree.values()
            )

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
        with self._lock:
            tree = self._tree_to_write(owner, conversation_id)
            kinds = {p: tree[p].is_dir for p in [*parents(path), path] if p in tree}
            old = tree.get(path)
            check_write(kinds, path, expect, old.content if old else None)
            now = self._clock()
            if old is not None:
                tree[path] = replace(old, content=content, updated_at=now)
                return tree[path]
            for parent in parents(path):
                if parent not in tree:
                    tree[parent] = MemoryFile(parent, None, now, now, owner, conversation_id)
            tree[path] = MemoryFile(path, content, now, now, owner, conversation_id)
            return tree[path]

    def delete_memory(self, owner: str, conversation_id: str | None, path: str) -> int:
        """Delete an entry and everything below it; how many entries went."""
        with self._lock:
            tree = self._tree(owner, conversation_id)
            gone = [p for p in tree if under(p, path)]
            for p in gone:
                del tree[p]
            return len(gone)

    def rename_memory(self, owner: str, conversation_id: str | None, old: str, new: str) -> None:
        """Move an entry and everything below it to ``new`` (missing parents made)."""
        with self._lock:
            tree = self._tree_to_write(owner, conversation_id)
            kinds = {p: tree[p].is_dir for p in [old, *parents(new), new] if p in tree}
            check_rename(kinds, old, new)
            now = self._clock()
            for parent in parents(new):
                if parent not in tree:
                    tree[parent] = MemoryFile(parent, None, now, now, owner, conversation_id)
            for p in [p for p in tree if under(p, old)]:
                entry = tree.pop(p)
                target = moved(p, old, new)
                tree[target] = replace(entry, path=target, updated_at=now)
