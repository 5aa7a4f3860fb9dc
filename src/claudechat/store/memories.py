"""The memory tool's files in the store: one ``/memories`` tree per user, and per
conversation when a chat keeps its memories to itself.

A tree is a set of entries, each a file (``content`` is its text) or a directory
(``content`` None), named by its ``path`` below ``/memories`` without a leading slash
(``"notes/coffee.md"``; ``""`` is the root, which always exists and is never stored).
Paths reach the store already checked by the tool (``claudechat.memories``): normalised,
no ``..``, no empty segment. ``conversation_id`` None is the tree every conversation of
the owner shares. MemoryStore, SQLiteStore and PostgresStore implement ``MemoryFiles``;
a conversation's own tree is deleted with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .base import LOCAL_USER

__all__ = ["MemoryFile", "MemoryFiles", "parents", "tree_order", "under"]


@dataclass(frozen=True, slots=True)
class MemoryFile:
    """One entry of a ``/memories`` tree: a file with its text, or a directory."""

    path: str
    content: str | None  # None: a directory
    created_at: float
    updated_at: float
    owner: str = LOCAL_USER
    conversation_id: str | None = None  # None: shared by the owner's conversations

    @property
    def is_dir(self) -> bool:
        """Whether the entry is a directory."""
        return self.content is None

    @property
    def size(self) -> int:
        """The file's size in UTF-8 bytes (0 for a directory)."""
        return 0 if self.content is None else len(self.content.encode("utf-8"))


def parents(path: str) -> list[str]:
    """The directories above ``path``, outermost first (the root left out)."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or inside it (every path is inside the root "")."""
    return not prefix or path == prefix or path.startswith(prefix + "/")


def tree_order(entries: Iterable[MemoryFile]) -> list[MemoryFile]:
    """Entries as a directory listing walks them: by name at each level, a directory's
    contents right after it."""
    return sorted(entries, key=lambda e: (e.conversation_id or "", e.path.split("/")))


@runtime_checkable
class MemoryFiles(Protocol):
    """The memory tool's storage: small atomic operations on one owner's tree."""

    def memories(
        self, owner: str, conversation_id: str | None, *, prefix: str = ""
    ) -> list[MemoryFile]:
        """The entries of one tree at ``prefix`` and below, in ``tree_order``."""
        ...

    def all_memories(self, owner: str) -> list[MemoryFile]:
        """Every entry of every tree of ``owner`` (shared first), in ``tree_order``."""
        ...

    def write_memory(
        self,
        owner: str,
        conversation_id: str | None,
        path: str,
        content: str | None,
        *,
        expect: str | None = None,
    ) -> MemoryFile:
        """Create a file (``content`` None: a directory) with its missing parent
        directories, or with ``expect`` replace a file's text if it is still ``expect``;
        MemoryConflict when the path is taken (create), changed or gone (replace), or a
        parent is a file."""
        ...

    def delete_memory(self, owner: str, conversation_id: str | None, path: str) -> int:
        """Delete an entry and everything below it; how many entries went (0: none was there)."""
        ...

    def rename_memory(self, owner: str, conversation_id: str | None, old: str, new: str) -> None:
        """Move an entry and everything below it to ``new`` (missing parents made);
        MemoryConflict when ``old`` is gone, ``new`` is taken or is inside ``old``, or a
        parent of ``new`` is a file."""
        ...
