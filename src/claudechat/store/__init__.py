"""Conversation stores: memory, SQLite (default), PostgreSQL."""

from .base import Conversation, ConversationInfo, SearchHit, Store, Summary
from .memory import MemoryStore

__all__ = ["Conversation", "ConversationInfo", "MemoryStore", "SearchHit", "Store", "Summary"]
