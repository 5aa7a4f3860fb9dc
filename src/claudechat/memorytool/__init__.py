"""The memory tool (``memory_20250818``) on claudechat's store.

Claude keeps notes across turns, and across conversations, in a ``/memories`` tree it
reads and edits with six commands (view, create, str_replace, insert, delete, rename).
The tree lives in the store (``store.memories``): per user, and per conversation when a
chat keeps its memories to itself. ``MemoryTool`` answers each command with the texts of
the SDK's own memory tool, refuses paths that would leave the tree, and is given to a
chat like any tool; ``Chat(memory="shared" | "conversation")`` does that for you::

    tool = MemoryTool(store, owner="local", conversation_id=None)   # the shared tree
    chat = Chat(tools=[tool.tool()], store=store)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ..errors import UserError
from ..store.base import LOCAL_USER
from ..store.memories import MemoryFiles
from ..tools import Tool
from ._commands import MAX_FILE_BYTES, MAX_LINES, Tree, run_command
from ._export import MEMORIES_FORMAT, export_memories, import_memories
from ._paths import MAX_NAME_BYTES, MAX_PATH_CHARS, ROOT, store_path

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_LINES",
    "MAX_NAME_BYTES",
    "MAX_PATH_CHARS",
    "MEMORIES_FORMAT",
    "MEMORY_SCOPES",
    "ROOT",
    "SCHEMA",
    "AsyncMemoryTool",
    "MemoryScope",
    "MemoryTool",
    "check_scope",
    "export_memories",
    "import_memories",
    "store_path",
]

SCHEMA: dict[str, Any] = {"type": "memory_20250818", "name": "memory"}
MemoryScope = Literal["off", "conversation", "shared"]
MEMORY_SCOPES: tuple[MemoryScope, ...] = ("off", "conversation", "shared")

ConversationRef = str | None | Callable[[], str | None]


def check_scope(value: str) -> MemoryScope:
    """A memory scope: "off", "conversation" (each conversation its own tree) or "shared"
    (one tree for all of a user's conversations); UserError otherwise."""
    for scope in MEMORY_SCOPES:
        if value == scope:
            return scope
    raise UserError(f"memory must be one of {', '.join(MEMORY_SCOPES)}, not {value!r}")


class MemoryTool:
    """The memory tool over one tree of ``store``: ``owner``'s, shared by their
    conversations (``conversation_id`` None) or one conversation's. Owner and id can be
    functions giving them when the tool runs (a chat has no id before its first turn)."""

    def __init__(
        self,
        store: MemoryFiles,
        *,
        owner: str | Callable[[], str] = LOCAL_USER,
        conversation_id: ConversationRef = None,
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        if not isinstance(store, MemoryFiles):
            raise UserError(f"{type(store).__name__} cannot hold memories (no MemoryFiles)")
        self.store = store
        self._owner = owner
        self._conversation = conversation_id
        self.max_file_bytes = max_file_bytes

    @property
    def tree(self) -> Tree:
        """The tree the next command works on."""
        ref = self._conversation
        cid = ref() if callable(ref) else ref
        owner = self._owner() if callable(self._owner) else self._owner
        return Tree(self.store, owner, cid, self.max_file_bytes)

    def run(self, command: Mapping[str, Any]) -> str:
        """Run one command (a tool_use input); ToolRefused carries the error result."""
        return run_command(self.tree, command)

    def __call__(self, **command: Any) -> str:
        """The command given as keywords, as a chat's tool registry calls it."""
        return self.run(command)

    def tool(self) -> Tool:
        """This tool for ``Chat(tools=[…])``: the ``memory_20250818`` definition."""
        return Tool(self, dict(SCHEMA))


class AsyncMemoryTool(MemoryTool):
    """The memory tool for AsyncChat: each command runs in a worker thread, so a store
    round trip does not hold the event loop."""

    async def arun(self, command: Mapping[str, Any]) -> str:
        """Run one command in a worker thread."""
        return await asyncio.to_thread(self.run, command)

    def tool(self) -> Tool:
        """This tool for ``AsyncChat(tools=[…])``."""

        async def memory(**command: Any) -> str:
            return await self.arun(command)

        return Tool(memory, dict(SCHEMA))
