"""The JSON the service answers with: conversations (Conv), messages (Msg), models, hits.

Plain functions from the library's types to dicts, so every route shows a thing the same
way. The conversation's owner is not shown: a view only ever holds the caller's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from ..chat_settings import ChatSettings
from ..messages import Message
from ..models.capabilities import ModelInfo
from ..store._rows import PathFigures
from ..store.accounts import User
from ..store.base import Conversation, ConversationInfo, MessageHit
from ..usage import Usage
from .render import render_markdown
from .uploads import attachments_json, without_data

__all__ = [
    "Siblings",
    "conv_json",
    "hit_json",
    "info_of",
    "model_json",
    "msg_json",
    "usage_json",
    "user_json",
]


def usage_json(usage: Usage | None) -> dict[str, int] | None:
    """A usage as the API names its fields (None when the message has none)."""
    return None if usage is None else usage.to_dict()


def msg_json(message: Message, siblings: Siblings | None = None) -> dict[str, Any]:
    """A stored message: ids, role, content blocks, its text and its sanitised HTML (the
    web chat shows only that), model, usage, cost, status; with ``siblings``, its place
    among its parent's children (the branch navigator's ‹ 2/3 ›). Attachments are named
    (``attachments``: name, media type, size) and their base64 data left out of
    ``content`` (``GET .../messages/{mid}/attachments/{n}`` and the export carry it)."""
    cost = None
    if message.usage is not None and message.model:
        from ..models.capabilities import model_prices

        cost = message.usage.cost_usd(message.model, model_prices)
    return {
        "id": message.id,
        "parent_id": message.parent_id,
        "role": message.role,
        "content": without_data(message.content),
        "attachments": attachments_json(message),
        "text": message.text,
        "html": render_markdown(message.text),
        "model": message.model,
        "usage": usage_json(message.usage),
        "cost_usd": cost,
        "stop_reason": message.stop_reason,
        "status": message.status,
        "created_at": message.created_at,
        **({"siblings": siblings.at(message)} if siblings is not None else {}),
    }


class Siblings:
    """The children of each parent in a conversation, in the order they were stored (a
    billed record of a request stopped before any content is no alternative to show)."""

    def __init__(self, messages: Iterable[Message]) -> None:
        self._children: dict[str | None, list[str]] = {}
        for message in messages:
            if not message.is_billed_record:
                self._children.setdefault(message.parent_id, []).append(message.id)

    def at(self, message: Message) -> dict[str, Any]:
        """``{"index", "count", "ids"}`` of the message among its parent's children."""
        ids = self._children.get(message.parent_id, [message.id])
        index = ids.index(message.id) if message.id in ids else 0
        return {"index": index, "count": len(ids), "ids": list(ids)}


def info_of(conversation: Conversation, branch: Sequence[Message]) -> ConversationInfo:
    """A conversation's figures from its active branch (as ``list_conversations`` counts)."""
    figures = PathFigures()
    for message in branch:
        figures = figures.then(message)
    return figures.info(conversation)


def conv_json(info: ConversationInfo) -> dict[str, Any]:
    """A conversation with its figures (active branch)."""
    c = info.conversation
    return {
        "id": c.id,
        "title": c.title,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "model": c.model,
        "system": c.system,
        "head_id": c.head_id,
        "version": c.version,
        "messages": info.messages,
        "turns": info.turns,
        "tokens": info.tokens,
        "cost_usd": info.cost_usd,
        "settings": ChatSettings.of(c).to_json(),
    }


def model_json(info: ModelInfo, display_name: str) -> dict[str, Any]:
    """A model the service offers: window, output cap and prices per million tokens."""
    prices = asdict(info.prices) if info.prices is not None else None
    return {
        "id": info.name,
        "display_name": display_name,
        "context_window": info.context_window,
        "max_output_tokens": info.max_output,
        "prices": prices,
    }


def hit_json(hit: MessageHit) -> dict[str, Any]:
    """A search hit: where it is, a snippet with the matches marked, its score."""
    return asdict(hit)


def user_json(user: User) -> dict[str, Any]:
    """A user of the service: id, name, admin, limits (never a credential)."""
    return {
        "id": user.id,
        "name": user.name,
        "created_at": user.created_at,
        "is_admin": user.is_admin,
        "has_password": user.has_password,
        "limits": asdict(user.limits),
    }
