"""The ``Store`` protocol: durable, append-only, branching conversations.

Every message row has a parent; a conversation's ``head_id`` names the active leaf and
its ``version`` grows by one at every head move. Writers pass the version they read
(``expect_version``); if another writer moved the head first, the store raises
``ConcurrentUpdate`` and changes nothing.

Every conversation has an ``owner``, a user id (``LOCAL_USER`` for the CLI and the
library); the owner filters of the read methods take None for every owner.

A writer first claims the conversation's turn (``claim_turn``): while its lease lasts,
head moves by anyone else are refused, so a turn is never interleaved with another.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..messages import Message

__all__ = [
    "LOCAL_USER",
    "Conversation",
    "ConversationInfo",
    "MessageHit",
    "Store",
    "Summary",
    "TurnLease",
    "branch_tips",
    "one_transaction",
    "turn_held",
]

LOCAL_USER = "local"  # the user of the CLI and the library, and of conversations made before users


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation's own row."""

    id: str
    title: str | None
    created_at: float
    updated_at: float
    head_id: str | None
    version: int
    model: str | None = None
    system: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    owner: str = LOCAL_USER


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    """A conversation with the figures ``claudechat list`` shows (active branch)."""

    conversation: Conversation
    messages: int
    turns: int
    tokens: int  # input + output tokens billed for its assistant messages
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class Summary:
    """A rolling summary of a range of the transcript, stored beside it."""

    id: str
    conversation_id: str
    text: str
    first_id: str  # first message covered
    last_id: str  # last message covered
    created_at: float
    model: str | None = None
    tokens: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MessageHit:
    """A message that full-text search matched: where it is, a snippet with the matches
    marked, and its score (higher is better)."""

    conversation_id: str
    message_id: str
    role: str
    snippet: str
    score: float
    created_at: float


@dataclass(frozen=True, slots=True)
class TurnLease:
    """A writer's hold on a conversation's next turn, until ``expires_at`` (store clock);
    ``version`` and ``head_id`` are the conversation's when the lease was taken."""

    conversation_id: str
    owner: str
    expires_at: float
    version: int
    head_id: str | None


@runtime_checkable
class Store(Protocol):
    """Conversation storage; MemoryStore, SQLiteStore and PostgresStore implement it."""

    # conversations
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
        """Create an empty conversation owned by ``owner``."""
        ...

    def get_conversation(self, conversation_id: str) -> Conversation:
        """The conversation; ConversationNotFound if there is none."""
        ...

    def update_conversation(
        self,
        conversation_id: str,
        *,
        title: str | None = None,
        model: str | None = None,
        system: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Conversation:
        """Change the given fields (None leaves a field as it is)."""
        ...

    def list_conversations(
        self, *, limit: int = 50, offset: int = 0, owner: str | None = None
    ) -> list[ConversationInfo]:
        """Conversations (of ``owner``; None: everyone's), most recently updated first,
        with their figures."""
        ...

    def iter_conversations(
        self, *, page: int = 500, owner: str | None = None
    ) -> Iterator[ConversationInfo]:
        """Every conversation (of ``owner``; None: everyone's) with its figures, most
        recently updated first, as ``list_conversations`` orders them; a backend reads
        ``page`` at a time."""
        ...

    def latest_conversation(self, *, owner: str | None = None) -> Conversation | None:
        """The most recently updated conversation (of ``owner``; None: anyone's), if any."""
        ...

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete a conversation and everything in it."""
        ...

    # messages
    def append(
        self,
        conversation_id: str,
        message: Message,
        *,
        expect_version: int | None = None,
        move_head: bool = True,
        lease: str | None = None,
    ) -> Conversation:
        """Store a message (its parent_id must be in the conversation, or None for a root),
        and move the head to it unless ``move_head`` is false. Appending a message whose id
        exists replaces it only if the stored one is ``partial`` (a checkpointed stream).
        A head move is refused (ConcurrentUpdate) while a writer other than ``lease`` holds
        the turn. Returns the conversation after the write."""
        ...

    def set_head(
        self,
        conversation_id: str,
        message_id: str | None,
        *,
        expect_version: int | None = None,
        lease: str | None = None,
    ) -> Conversation:
        """Move the head (checkout / undo); refused while another writer holds the turn."""
        ...

    def claim_turn(self, conversation_id: str, owner: str, *, ttl: float) -> TurnLease:
        """Hold the conversation's next turn for ``ttl`` seconds (the same owner renews);
        ConcurrentUpdate at once if another owner's lease has not expired."""
        ...

    def release_turn(self, conversation_id: str, owner: str) -> None:
        """Give the turn back (nothing happens unless ``owner`` holds it)."""
        ...

    def get_message(self, message_id: str) -> Message:
        """One message by id; ConversationNotFound if unknown."""
        ...

    def branch(self, conversation_id: str, head_id: str | None = None) -> list[Message]:
        """The messages from the root to ``head_id`` (default: the head), oldest first,
        reading nothing else."""
        ...

    def children(self, conversation_id: str, parent_id: str | None) -> list[Message]:
        """Direct replies to a message (roots when parent_id is None), oldest first."""
        ...

    def leaves(self, conversation_id: str) -> list[Message]:
        """The tips of every branch, oldest first."""
        ...

    def all_messages(self, conversation_id: str) -> list[Message]:
        """Every message of every branch, in insertion order."""
        ...

    # summaries
    def add_summary(self, summary: Summary) -> None:
        """Store a summary beside the transcript."""
        ...

    def summaries(self, conversation_id: str) -> list[Summary]:
        """The conversation's summaries, oldest first."""
        ...

    # search
    def search(
        self,
        query: str,
        *,
        conversation_id: str | None = None,
        limit: int = 20,
        owner: str | None = None,
    ) -> list[MessageHit]:
        """Full-text search over message text (of ``owner``'s conversations; None: all),
        best first."""
        ...

    # bulk
    def import_messages(
        self, conversation: Conversation, messages: Sequence[Message], summaries: Sequence[Summary]
    ) -> Conversation:
        """Insert a whole conversation in one transaction: all of it or nothing; it keeps
        ``conversation.owner``."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def one_transaction(store: object) -> AbstractContextManager[Any]:
    """``store.transaction()`` where the store offers one: the writes of the block in one
    commit (SQLite, PostgreSQL); a store without it (in memory, a user's own) writes each at
    once, as before."""
    transaction = getattr(store, "transaction", None)
    return transaction() if callable(transaction) else nullcontext()


def turn_held(store: object, conversation_id: str) -> bool:
    """True while a writer holds the conversation's turn (a reply may be being written: its
    partial save is not an interrupted reply), where the store can tell (``turn_held``);
    False for a store that cannot."""
    held = getattr(store, "turn_held", None)
    return bool(held(conversation_id)) if callable(held) else False


def branch_tips(store: Store, conversation_id: str) -> list[Message]:
    """The tip of every branch, oldest first: the leaves, where a billed record (a request
    stopped before any content, kept for its cost) stands for the message it answers (the
    branch ends there, unanswered), unless that message has other replies."""
    tips: dict[str, Message] = {}
    for leaf in store.leaves(conversation_id):
        if not leaf.is_billed_record:
            tips[leaf.id] = leaf
            continue
        if leaf.parent_id is None or leaf.parent_id in tips:
            continue
        answers = store.children(conversation_id, leaf.parent_id)
        if all(m.is_billed_record for m in answers):
            tips[leaf.parent_id] = store.get_message(leaf.parent_id)
    return sorted(tips.values(), key=lambda m: m.created_at)
