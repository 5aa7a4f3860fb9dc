"""The turn loop: ``Chat`` and ``AsyncChat``, siblings over one shared base.

| module | what it holds |
| --- | --- |
| ``sync_chat.py`` / ``async_chat.py`` | the two loops that wait on the model (never import each other) |
| ``base.py`` | ``ChatBase``: state, branches, the request of each call, bookkeeping |
| ``fold.py`` | one call as a pure fold over its stream events; what comes after a reply |
| ``checks.py`` | the checks made before anything is stored or sent |
| ``lease.py`` | the turn lease shared writers take, and messages held through a store outage |
| ``reply.py`` | ``Reply`` (what a turn returns) and ``TurnState`` |
| ``thinking.py`` | the ``thinking`` field each request sends (adaptive by default where taken) |
| ``memory.py`` | the memory tool of a chat made with ``memory=`` |
"""

from .async_chat import AsyncChat
from .base import DEFAULT_MODEL
from .reply import Reply
from .sync_chat import Chat
from .thinking import ThinkingDeprecationWarning

__all__ = ["DEFAULT_MODEL", "AsyncChat", "Chat", "Reply", "ThinkingDeprecationWarning"]
