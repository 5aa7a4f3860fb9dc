"""``ScopedStore``: one user's view of a store, the only store the service's endpoints get.

Every read and write is limited to conversations the user owns. Another owner's
conversation (or a message in it) is reported exactly as an unknown id is, so the view
does not even tell that it exists; what is created or imported through the view is owned
by the user; lists and searches see only the user's conversations, and the memory tool's
trees are the user's own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from ..errors import ConversationNotFound
from ..messages import Message
from .accounts import ServiceStore
from .base import (
    LOCAL_USER,
    Conversation,
    ConversationInfo,
    MessageHit,
    Summary,
    TurnLease,
    one_transaction,
    turn_held,
)
from .memories import MemoryFile

__all__ = ["ScopedStore"]


class ScopedStore:
    """A ``Store`` limited to the conversations ``user_id`` owns."""

    def __init__(self, store: ServiceStore, user_id: str) -> None:
        self.store = store
        self.user_id = user_id
        self._owned: set[str] = set()  # conversations this view has found to be the user's

    def __repr__(self) -> str:
        return f"ScopedStore({self.store!r}, {self.user_id!r})"

    def _own(self, conversation_id: str) -> Conversation:
        """The conversation if the user owns it; else ConversationNotFound, as if unknown."""
        conv = self.store.get_conversation(conversation_id)
        if conv.owner != self.user_id:
            raise ConversationNotFound(f"no conversation {conversation_id}")
        self._owned.add(conversation_id)
        return conv

    def _own_for_write(self, conversation_id: str) -> None:
        """``_own`` for the writes of a turn, without reading the conversation again once
        this view has found it to be the user's: a conversation's owner never changes, and
        the store's write itself refuses a conversation deleted since (not found). A turn
        writes four to six times; each check was a read of the conversation's row."""
        if conversation_id not in self._owned:
            self._own(conversation_id)

    def _owner(self, owner: str | None) -> str | None:
        """The owner to filter on: the user; None (nothing) when asked for someone else."""
        return self.user_id if owner is None or owner == self.user_id else None

    # conversations ------------------------------------------------------------------------

    def create_conversation(
        self,
        *,
        title: str | None = None,
        model: str | None = None,
        system: str | None = None,
        metadata: dict[str, Any] | None = None,
        id: str | None = None,
        owner: str = LOCAL_USER,
    ) -> Conversation:
        """Create an empty conversation owned by the user (``owner`` is ignored)."""
        return self.store.create_conversation(
            title=title, model=model, system=system, metadata=metadata, id=id, owner=self.user_id
        )

    def get_conversation(self, conversation_id: str) -> Conversation:
        """The user's conversation; ConversationNotFound if it is not theirs."""
        return self._own(conversation_id)

    def update_conversation(
        self,
        conversation_id: str,
        *,
        title: str | None = None,
        model: str | None = None,
        system: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Conversation:
        """Change the given fields of the user's conversation."""
        self._own(conversation_id)
        return self.store.update_conversation(
            conversation_id, title=title, model=model, system=system, metadata=metadata
        )

    def list_conversations(
        self, *, limit: int = 50, offset: int = 0, owner: str | None = None
    ) -> list[ConversationInfo]:
        """The user's conversations, most recently updated first, with their figures."""
        mine = self._owner(owner)
        if mine is None:
            return []
        return self.store.list_conversations(limit=limit, offset=offset, owner=mine)

    def iter_conversations(
        self, *, page: int = 500, owner: str | None = None
    ) -> Iterator[ConversationInfo]:
        """Every conversation of the user, most recently updated first."""
        mine = self._owner(owner)
        if mine is not None:
            yield from self.store.iter_conversations(page=page, owner=mine)

    def latest_conversation(self, *, owner: str | None = None) -> Conversation | None:
        """The user's most recently updated conversation, if any."""
        mine = self._owner(owner)
        return None if mine is None else self.store.latest_conversation(owner=mine)

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete the user's conversation and everything in it."""
        self._own(conversation_id)
        self.store.delete_conversation(conversation_id)
        self._owned.discard(conversation_id)

    # messages -----------------------------------------------------------------------------

    def append(
        self,
        conversation_id: str,
        message: Message,
        *,
        expect_version: int | None = None,
        move_head: bool = True,
        lease: str | None = None,
    ) -> Conversation:
        """Store a message in the user's conversation (see ``Store.append``)."""
        self._own_for_write(conversation_id)
        return self.store.append(
            conversation_id, message, expect_version=expect_version, move_head=move_head,
            lease=lease,
        )  # fmt: skip

    def set_head(
        self,
        conversation_id: str,
        message_id: str | None,
        *,
        expect_version: int | None = None,
        lease: str | None = None,
    ) -> Conversation:
        """Move the head of the user's conversation."""
        self._own_for_write(conversation_id)
        return self.store.set_head(
            conversation_id, message_id, expect_version=expect_version, lease=lease
        )

    def transaction(self) -> AbstractContextManager[Any]:
        """The writes of the block in one commit, where the store offers it."""
        return one_transaction(self.store)

    def claim_turn(self, conversation_id: str, owner: str, *, ttl: float) -> TurnLease:
        """Hold the next turn of the user's conversation (``owner`` names the writer)."""
        self._own_for_write(conversation_id)
        return self.store.claim_turn(conversation_id, owner, ttl=ttl)

    def release_turn(self, conversation_id: str, owner: str) -> None:
        """Give the turn of the user's conversation back."""
        self._own_for_write(conversation_id)
        self.store.release_turn(conversation_id, owner)

    def turn_held(self, conversation_id: str) -> bool:
        """True while a writer holds the turn of the user's conversation."""
        self._own(conversation_id)
        return turn_held(self.store, conversation_id)

    def get_message(self, message_id: str) -> Message:
        """A message of one of the user's conversations; else ConversationNotFound."""
        try:
            self._own(self.store.message_conversation(message_id))
        except ConversationNotFound:
            raise ConversationNotFound(f"no message {message_id}") from None
        return self.store.get_message(message_id)

    def branch(self, conversation_id: str, head_id: str | None = None) -> list[Message]:
        """Root → ``head_id`` (default: the head) in the user's conversation."""
        self._own(conversation_id)
        return self.store.branch(conversation_id, head_id)

    def children(self, conversation_id: str, parent_id: str | None) -> list[Message]:
        """Direct replies to a message in the user's conversation."""
        self._own(conversation_id)
        return self.store.children(conversation_id, parent_id)

    def leaves(self, conversation_id: str) -> list[Message]:
        """The tips of every branch of the user's conversation."""
        self._own(conversation_id)
        return self.store.leaves(conversation_id)

    def all_messages(self, conversation_id: str) -> list[Message]:
        """Every message of the user's conversation, in insertion order."""
        self._own(conversation_id)
        return self.store.all_messages(conversation_id)

    # summaries ----------------------------------------------------------------------------

    def add_summary(self, summary: Summary) -> None:
        """Store a summary beside the user's conversation."""
        self._own(summary.conversation_id)
        self.store.add_summary(summary)

    def summaries(self, conversation_id: str) -> list[Summary]:
        """The summaries of the user's conversation, oldest first."""
        self._own(conversation_id)
        return self.store.summaries(conversation_id)

    # search -------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        conversation_id: str | None = None,
        limit: int = 20,
        owner: str | None = None,
    ) -> list[MessageHit]:
        """Full-text search over the user's conversations (or one of them), best first."""
        mine = self._owner(owner)
        if conversation_id is not None:
            self._own(conversation_id)
        if mine is None:
            return []
        return self.store.search(query, conversation_id=conversation_id, limit=limit, owner=mine)

    # the memory tool's trees (the user's own, whatever ``owner`` says) --------------------

    def _tree(self, conversation_id: str | None) -> tuple[str, str | None]:
        if conversation_id is not None:
            self._own(conversation_id)
        return self.user_id, conversation_id

    def memories(
        self, owner: str, conversation_id: str | None, *, prefix: str = ""
    ) -> list[MemoryFile]:
        """The entries of one of the user's trees at ``prefix`` and below."""
        return self.store.memories(*self._tree(conversation_id), prefix=prefix)

    def all_memories(self, owner: str) -> list[MemoryFile]:
        """Every entry of the user's trees (``owner`` is ignored)."""
        return self.store.all_memories(self.user_id)

    def write_memory(
        self,
        owner: str,
        conversation_id: str | None,
        path: str,
        content: str | None,
        *,
        expect: str | None = None,
    ) -> MemoryFile:
        """Create or replace an entry of one of the user's trees."""
        return self.store.write_memory(*self._tree(conversation_id), path, content, expect=expect)

    def delete_memory(self, owner: str, conversation_id: str | None, path: str) -> int:
        """Delete an entry of one of the user's trees and everything below it."""
        return self.store.delete_memory(*self._tree(conversation_id), path)

    def rename_memory(self, owner: str, conversation_id: str | None, old: str, new: str) -> None:
        """Move an entry of one of the user's trees."""
        self.store.rename_memory(*self._tree(conversation_id), old, new)

    # bulk ---------------------------------------------------------------------------------

    def import_messages(
        self, conversation: Conversation, messages: Sequence[Message], summaries: Sequence[Summary]
    ) -> Conversation:
        """Insert a whole conversation, owned by the user whatever ``conversation.owner``."""
        mine = replace(conversation, owner=self.user_id)
        return self.store.import_messages(mine, messages, summaries)

    def close(self) -> None:
        """Nothing: the view does not own the store it looks through."""
