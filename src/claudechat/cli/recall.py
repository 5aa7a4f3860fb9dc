"""Semantic search and recall previews for the command line (``search --semantic``, ``/recall``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UserError

if TYPE_CHECKING:
    from ..chat import Chat
    from ..store.base import Store

__all__ = ["recall_preview", "semantic_search"]


def semantic_search(
    store: Store, query: str, *, limit: int, conversation_id: str | None
) -> list[str]:
    """Lines for ``claudechat search --semantic``."""
    raise UserError("semantic search is not available yet")


def recall_preview(chat: Chat, text: str | None) -> list[str]:
    """Lines for ``/recall``: what recall would inject for the next message."""
    raise UserError("recall is not available yet")
