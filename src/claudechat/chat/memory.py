"""The memory tool of a chat made with ``memory="shared"`` or ``memory="conversation"``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..memorytool import AsyncMemoryTool, MemoryScope, MemoryTool, check_scope
from ..store.base import LOCAL_USER
from ..store.memories import MemoryFiles
from ..tools import Tool

if TYPE_CHECKING:
    from .base import ChatBase

__all__ = ["memory_tool"]


def memory_tool(chat: ChatBase[Any], scope: str) -> Tool | None:
    """The memory tool on ``chat``'s store for ``scope`` (None for "off"): the tree of the
    conversation's owner, shared by their conversations or this conversation's own."""
    checked: MemoryScope = check_scope(scope)
    if checked == "off":
        return None
    if not isinstance(chat.store, MemoryFiles):
        raise UserError(f"memory={scope!r} needs a store that holds memories; "
                        f"{type(chat.store).__name__} does not")  # fmt: skip

    def owner() -> str:
        conv = chat.conversation
        return conv.owner if conv is not None else LOCAL_USER

    def conversation() -> str | None:
        return chat.id if checked == "conversation" else None

    cls = AsyncMemoryTool if chat.asynchronous else MemoryTool
    return cls(chat.store, owner=owner, conversation_id=conversation).tool()
