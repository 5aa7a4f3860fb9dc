"""A user's memories as JSON, and back: what ``claudechat memory export`` writes and
``claudechat memory import`` reads, part of the user's data beside their conversations."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import ClaudeChatError, InvalidImport, MemoryConflict
from ..store.memories import MemoryFiles, parents
from ._paths import ROOT, store_path

__all__ = ["MEMORIES_FORMAT", "export_memories", "import_memories"]

MEMORIES_FORMAT = "claudechat-memories"


def export_memories(store: MemoryFiles, owner: str) -> dict[str, Any]:
    """Every tree of ``owner``: the shared one and each conversation's."""
    entries = [
        {
            "path": e.path,
            "content": e.content,
            "conversation_id": e.conversation_id,
            "created_at": e.created_at,
            "updated_at": e.updated_at,
        }
        for e in store.all_memories(owner)
    ]
    return {"format": MEMORIES_FORMAT, "version": 1, "owner": owner, "memories": entries}


def _entries(data: Any) -> list[Mapping[str, Any]]:
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as err:
            raise InvalidImport(f"memories: not JSON ({err})") from None
    if not isinstance(data, Mapping) or data.get("format") != MEMORIES_FORMAT:
        raise InvalidImport(f"memories: not a {MEMORIES_FORMAT} export")
    entries = data.get("memories")
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise InvalidImport("memories: 'memories' must be a list of objects")
    for i, e in enumerate(entries):
        content, cid = e.get("content"), e.get("conversation_id")
        if not isinstance(e.get("path"), str) or not isinstance(content, str | None):
            raise InvalidImport(f"memories[{i}]: needs a path and text content (or null)")
        if not isinstance(cid, str | None):
            raise InvalidImport(f"memories[{i}]: conversation_id must be text or null")
        if store_path(f"{ROOT}/{e['path']}") != e["path"] or not e["path"]:
            raise InvalidImport(f"memories[{i}]: {e['path']!r} is not a memory path")
    return entries


def import_memories(store: MemoryFiles, owner: str, data: Any) -> tuple[int, int]:
    """Add an export's entries to ``owner``'s trees: (added, skipped). What is there
    already is kept, and so are the trees of conversations this store does not hold."""
    added = skipped = 0
    for e in sorted(_entries(data), key=lambda e: len(parents(str(e["path"])))):
        try:
            store.write_memory(owner, e.get("conversation_id"), e["path"], e.get("content"))
            added += 1
        except MemoryConflict:
            skipped += 1
        except ClaudeChatError:  # the conversation is not in this store
            skipped += 1
    return added, skipped
