"""``MemoryStore``: the ``Store`` contract in dicts, for tests and throwaway chats.

A message is kept as it was appended (no copy on the write path, which every turn takes):
whoever appends it must not change its content or metadata afterwards. ``Chat`` never
does. Everything read back is a copy, so readers cannot change what is stored.
"""

from __future__ import annotations

import copy
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ConcurrentUpdate, ConversationNotFound, StoreError
from ..messages import Message, new_id
from ._blobs import Blob, encoded, join_blobs, split_blobs
from ._memory_accounts import MemoryAccounts
from ._memory_memories import MemoryMemories
from ._rows import (
    SNIPPET_END,
    SNIPPET_START,
    PathFigures,
    busy,
    check_import,
    check_json,
    check_lease,
    check_message,
    query_terms,
    searchable_text,
)
from .base import LOCAL_USER, Conversation, ConversationInfo, MessageHit, Summary, TurnLease

__all__ = ["MemoryStore"]

_WORD = re.compile(r"[^\W_]+")


@dataclass(slots=True)
class _Row:
    conversation_id: str
    message: Message
    figures: PathFigures | None  # made from the parent's when first asked (``_figures``)
    text: str


def _copy(m: Message) -> Message:
    """A copy whose content and metadata the caller cannot change under the store."""
    return replace(m, content=copy.deepcopy(m.content), metadata=copy.deepcopy(m.metadata))


def snippet(text: str, terms: Sequence[str], *, words: int = 16) -> str:
    """A window of ``words`` words around the first match, matches marked « »."""
    tokens = list(_WORD.finditer(text))
    wanted = set(terms)
    first = next((i for i, t in enumerate(tokens) if t.group().lower() in wanted), 0)
    lo = max(0, first - words // 2)
    hi = min(len(tokens), lo + words)
    if not tokens:
        return text[:120]
    out, pos = [], tokens[lo].start()
    for t in tokens[lo:hi]:
        out.append(text[pos : t.start()])
        w = t.group()
        out.append(f"{SNIPPET_START}{w}{SNIPPET_END}" if w.lower() in wanted else w)
        pos = t.end()
    body = "".join(out)
    return ("…" if lo else "") + body + ("…" if hi < len(tokens) else "")


class MemoryStore(MemoryAccounts, MemoryMemories):
    """Conversations and accounts in process memory, guarded by one lock; gone when the
    process ends.

    Appended messages are kept as given: do not mutate a message after appending it.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._convs: dict[str, Conversation] = {}
        self._rows: dict[str, _Row] = {}
        self._order: dict[str, list[str]] = {}
        self._kids: dict[tuple[str, str | None], list[str]] = {}
        self._summaries: dict[str, list[Summary]] = {}
        self._leases: dict[str, tuple[str, float]] = {}  # conversation id → (owner, expires)
        self._stops: set[str] = set()  # conversations whose held turn was asked to stop
        self._blobs: dict[str, str] = {}  # attachments once each: SHA-256 → base64 text
        self._blob_users: dict[str, set[str]] = {}  # SHA-256 → ids of the messages using it
        self._start_accounts()
        self._start_memories()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        """Create an empty conversation owned by ``owner``."""
        now = self._clock()
        conv = Conversation(
            id=id or new_id(),
            title=title,
            created_at=now,
            updated_at=now,
            head_id=None,
            version=0,
            model=model,
            system=system,
            metadata=copy.deepcopy(metadata or {}),
            owner=owner,
        )
        with self._lock:
            if conv.id in self._convs:
                raise StoreError(f"conversation {conv.id} exists already")
            self._put_conv(conv)
        return conv

    def _put_conv(self, conv: Conversation) -> None:
        self._convs[conv.id] = conv
        self._order.setdefault(conv.id, [])
        self._summaries.setdefault(conv.id, [])

    def _conv(self, conversation_id: str) -> Conversation:
        try:
            return self._convs[conversation_id]
        except KeyError:
            raise ConversationNotFound(f"no conversation {conversation_id}") from None

    def get_conversation(self, conversation_id: str) -> Conversation:
        """The conversation; ConversationNotFound if there is none."""
        with self._lock:
            return self._conv(conversation_id)

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
        with self._lock:
            conv = self._conv(conversation_id)
            conv = replace(
                conv,
                title=conv.title if title is None else title,
                model=conv.model if model is None else model,
                system=conv.system if system is None else system,
                metadata=conv.metadata if metadata is None else copy.deepcopy(metadata),
                updated_at=self._clock(),
            )
            self._convs[conv.id] = conv
            return conv

    def _owned(self, owner: str | None) -> list[Conversation]:
        """The conversations of ``owner`` (None: all), most recently updated first."""
        convs = [c for c in self._convs.values() if owner is None or c.owner == owner]
        return sorted(convs, key=lambda c: (c.updated_at, c.id), reverse=True)

    def list_conversations(
        self, *, limit: int = 50, offset: int = 0, owner: str | None = None
    ) -> list[ConversationInfo]:
        """Conversations (of ``owner``; None: all), most recently updated first, with
        their figures."""
        with self._lock:
            convs = self._owned(owner)
            out = []
            for c in convs[offset : offset + limit]:
                figures = self._figures(c.head_id) if c.head_id else PathFigures()
                out.append(figures.info(c))
            return out

    def iter_conversations(
        self, *, page: int = 500, owner: str | None = None
    ) -> Iterator[ConversationInfo]:
        """Every conversation (of ``owner``; None: all), most recently updated first (as
        they were when asked)."""
        with self._lock:
            infos = self.list_conversations(limit=len(self._convs), owner=owner)
        yield from infos

    def latest_conversation(self, *, owner: str | None = None) -> Conversation | None:
        """The most recently updated conversation (of ``owner``; None: anyone's), if any."""
        with self._lock:
            convs = self._owned(owner)
            return convs[0] if convs else None

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete a conversation and everything in it."""
        with self._lock:
            self._conv(conversation_id)
            for mid in self._order.pop(conversation_id):
                row = self._rows.pop(mid)
                self._kids.pop((conversation_id, row.message.parent_id), None)
                self._unlink_blobs(mid)
            del self._convs[conversation_id]
            del self._summaries[conversation_id]
            self._leases.pop(conversation_id, None)
            self._stops.discard(conversation_id)
            self._drop_memories(conversation_id)

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
        """Store a message under its parent and move the head to it (see ``Store.append``).

        The message is kept as given, not copied: do not mutate it afterwards.
        """
        check_message(message)
        check_json(message)
        stored, blobs = split_blobs(message)
        with self._lock:
            conv = self._writable(conversation_id, expect_version, lease, moves_head=move_head)
            self._check_parent(conversation_id, message.parent_id)
            row = _Row(conversation_id, stored, None, searchable_text(message.content))
            old = self._rows.get(message.id)
            if old is not None:
                self._check_replace(old, conversation_id, message)
                self._unlink_blobs(message.id)
            self._link_blobs(message.id, blobs)
            if old is None:
                self._order[conversation_id].append(message.id)
                self._kids.setdefault((conversation_id, message.parent_id), []).append(message.id)
            self._rows[message.id] = row
            conv = Conversation(  # the fields spelled out: replace() is slow on this path
                conv.id,
                conv.title,
                conv.created_at,
                self._clock(),
                message.id if move_head else conv.head_id,
                conv.version + 1 if move_head else conv.version,
                conv.model,
                conv.system,
                conv.metadata,
                conv.owner,
            )
            self._convs[conv.id] = conv
            return conv

    def _link_blobs(self, message_id: str, blobs: Sequence[Blob]) -> None:
        """Keep each attachment once, and note that ``message_id`` uses it."""
        for b in blobs:
            if b.sha256 not in self._blobs:
                self._blobs.update(encoded([(b.sha256, b.data)]))
            self._blob_users.setdefault(b.sha256, set()).add(message_id)

    def _unlink_blobs(self, message_id: str) -> None:
        """Forget that ``message_id`` uses its attachments; drop those nobody uses."""
        for sha in [s for s, users in self._blob_users.items() if message_id in users]:
            users = self._blob_users[sha]
            users.discard(message_id)
            if not users:
                del self._blob_users[sha], self._blobs[sha]

    def _out(self, m: Message) -> Message:
        """A stored message as readers get it: a copy, its attachments' data in place."""
        return _copy(join_blobs(m, self._blobs))

    def blob_count(self) -> int:
        """How many distinct attachments the store holds."""
        with self._lock:
            return len(self._blobs)

    def _check_parent(self, conversation_id: str, parent_id: str | None) -> None:
        if parent_id is None:
            return
        row = self._rows.get(parent_id)
        if row is None or row.conversation_id != conversation_id:
            raise ConversationNotFound(f"no message {parent_id} in conversation {conversation_id}")

    def _figures(self, message_id: str) -> PathFigures:
        """The figures of the path root → ``message_id``: made from the nearest ancestor
        that has them, once (an append makes none, so storing stays cheap)."""
        chain: list[_Row] = []
        row = self._rows[message_id]
        figures = row.figures
        while figures is None:
            chain.append(row)
            parent = row.message.parent_id
            if parent is None:
                figures = PathFigures()
                break
            row = self._rows[parent]
            figures = row.figures
        for r in reversed(chain):
            figures = r.figures = figures.then(r.message)
        return figures

    def _check_replace(self, old: _Row, conversation_id: str, message: Message) -> None:
        m = old.message
        if old.conversation_id != conversation_id or m.status != "partial":
            raise StoreError(f"message {m.id} exists already (only a partial one is replaced)")
        if m.parent_id != message.parent_id or m.role != message.role:
            raise StoreError(f"message {m.id}: a replacement keeps its parent and role")
        if self._kids.get((conversation_id, m.id)):
            raise StoreError(f"message {m.id} has replies and cannot be replaced")

    def set_head(
        self,
        conversation_id: str,
        message_id: str | None,
        *,
        expect_version: int | None = None,
        lease: str | None = None,
    ) -> Conversation:
        """Move the head (checkout / undo); refused while another writer holds the turn."""
        with self._lock:
            conv = self._writable(conversation_id, expect_version, lease, moves_head=True)
            if message_id is not None:
                self._check_parent(conversation_id, message_id)
            conv = replace(
                conv, head_id=message_id, version=conv.version + 1, updated_at=self._clock()
            )
            self._convs[conv.id] = conv
            return conv

    def _writable(
        self, conversation_id: str, expect: int | None, lease: str | None, *, moves_head: bool
    ) -> Conversation:
        """The conversation, after the checks of a write: the version the writer read, and
        no turn lease held by another writer when the head moves."""
        conv = self._conv(conversation_id)
        owner, expires = self._leases.get(conversation_id, (None, 0.0))
        if moves_head and owner is not None and owner != lease:
            left = expires - self._clock()
            if left > 0:
                raise busy(conversation_id, left)
        if expect is not None and conv.version != expect:
            raise ConcurrentUpdate(
                f"conversation {conversation_id} is at version {conv.version}, not {expect}"
            )
        return conv

    # the turn lease -----------------------------------------------------------------------

    def claim_turn(self, conversation_id: str, owner: str, *, ttl: float) -> TurnLease:
        """Hold the conversation's next turn for ``ttl`` seconds (the same owner renews);
        ConcurrentUpdate at once if another owner's lease has not expired."""
        check_lease(owner, ttl)
        with self._lock:
            conv = self._conv(conversation_id)
            now = self._clock()
            holder, expires = self._leases.get(conversation_id, (owner, now))
            if holder != owner and expires > now:
                raise busy(conversation_id, expires - now)
            if holder != owner or expires <= now:  # a new turn, not a renewal
                self._stops.discard(conversation_id)
            self._leases[conversation_id] = (owner, now + ttl)
            return TurnLease(conversation_id, owner, now + ttl, conv.version, conv.head_id)

    def release_turn(self, conversation_id: str, owner: str) -> None:
        """Give the turn back (nothing happens unless ``owner`` holds it)."""
        with self._lock:
            if self._leases.get(conversation_id, (None, 0.0))[0] == owner:
                del self._leases[conversation_id]
                self._stops.discard(conversation_id)

    def turn_held(self, conversation_id: str) -> bool:
        """True while a writer holds the conversation's turn (its lease not yet expired)."""
        with self._lock:
            _, expires = self._leases.get(conversation_id, (None, 0.0))
            return expires > self._clock()

    def get_message(self, message_id: str) -> Message:
        """One message by id; ConversationNotFound if unknown."""
        with self._lock:
            row = self._rows.get(message_id)
            if row is None:
                raise ConversationNotFound(f"no message {message_id}")
            return self._out(row.message)

    def message_conversation(self, message_id: str) -> str:
        """The id of the conversation a message is in; ConversationNotFound if unknown."""
        with self._lock:
            row = self._rows.get(message_id)
            if row is None:
                raise ConversationNotFound(f"no message {message_id}")
            return row.conversation_id

    def branch(self, conversation_id: str, head_id: str | None = None) -> list[Message]:
        """The messages from the root to ``head_id`` (default: the head), oldest first."""
        with self._lock:
            conv = self._conv(conversation_id)
            mid = conv.head_id if head_id is None else head_id
            if mid is not None:
                self._check_parent(conversation_id, mid)
            out: list[Message] = []
            while mid is not None:
                m = self._rows[mid].message
                out.append(self._out(m))
                mid = m.parent_id
            out.reverse()
            return out

    def children(self, conversation_id: str, parent_id: str | None) -> list[Message]:
        """Direct replies to a message (roots when parent_id is None), oldest first."""
        with self._lock:
            self._conv(conversation_id)
            ids = self._kids.get((conversation_id, parent_id), [])
            return [self._out(self._rows[i].message) for i in ids]

    def leaves(self, conversation_id: str) -> list[Message]:
        """The tips of every branch, oldest first."""
        with self._lock:
            self._conv(conversation_id)
            return [
                self._out(self._rows[i].message)
                for i in self._order[conversation_id]
                if not self._kids.get((conversation_id, i))
            ]

    def all_messages(self, conversation_id: str) -> list[Message]:
        """Every message of every branch, in insertion order."""
        with self._lock:
            self._conv(conversation_id)
            return [self._out(self._rows[i].message) for i in self._order[conversation_id]]

    # summaries ----------------------------------------------------------------------------

    def add_summary(self, summary: Summary) -> None:
        """Store a summary beside the transcript."""
        with self._lock:
            self._check_summary(summary)
            self._summaries[summary.conversation_id].append(
                replace(summary, metadata=copy.deepcopy(summary.metadata))
            )

    def _check_summary(self, summary: Summary) -> None:
        self._conv(summary.conversation_id)
        for mid in (summary.first_id, summary.last_id):
            self._check_parent(summary.conversation_id, mid)
        if any(s.id == summary.id for ss in self._summaries.values() for s in ss):
            raise StoreError(f"summary {summary.id} exists already")

    def summaries(self, conversation_id: str) -> list[Summary]:
        """The conversation's summaries, oldest first."""
        with self._lock:
            self._conv(conversation_id)
            return [
                replace(s, metadata=copy.deepcopy(s.metadata))
                for s in self._summaries[conversation_id]
            ]

    # search -------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        conversation_id: str | None = None,
        limit: int = 20,
        owner: str | None = None,
    ) -> list[MessageHit]:
        """Messages holding every word of ``query`` (in ``owner``'s conversations; None:
        all), best first; matches marked « »."""
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        hits: list[tuple[float, int, MessageHit]] = []
        with self._lock:
            for seq, row in enumerate(self._rows.values()):
                if conversation_id is not None and row.conversation_id != conversation_id:
                    continue
                if owner is not None and self._convs[row.conversation_id].owner != owner:
                    continue
                words = [w.lower() for w in _WORD.findall(row.text)]
                if not words or not all(t in words for t in terms):
                    continue
                tf = sum(words.count(t) for t in terms)
                score = tf / math.sqrt(len(words))
                m = row.message
                hit = MessageHit(
                    row.conversation_id, m.id, m.role, snippet(row.text, terms), score, m.created_at
                )
                hits.append((-score, seq, hit))
        hits.sort(key=lambda h: (h[0], h[1]))
        return [h[2] for h in hits[:limit]]

    # bulk ---------------------------------------------------------------------------------

    def import_messages(
        self, conversation: Conversation, messages: Sequence[Message], summaries: Sequence[Summary]
    ) -> Conversation:
        """Insert a whole conversation at once: all of it or nothing."""
        ordered = check_import(conversation, messages, summaries)
        for m in ordered:
            check_json(m)
        with self._lock:
            if conversation.id in self._convs:
                raise StoreError(f"conversation {conversation.id} exists already")
            taken = next((m.id for m in ordered if m.id in self._rows), None)
            if taken is not None:
                raise StoreError(f"message {taken} exists already")
            known = {s.id for ss in self._summaries.values() for s in ss}
            clash = next((s.id for s in summaries if s.id in known), None)
            if clash is not None:
                raise StoreError(f"summary {clash} exists already")
            self._put_conv(replace(conversation, metadata=copy.deepcopy(conversation.metadata)))
            for m in ordered:
                stored, blobs = split_blobs(_copy(m))
                self._link_blobs(m.id, blobs)
                self._rows[m.id] = _Row(conversation.id, stored, None, searchable_text(m.content))
                self._order[conversation.id].append(m.id)
                self._kids.setdefault((conversation.id, m.parent_id), []).append(m.id)
            self._summaries[conversation.id].extend(summaries)
            return self._convs[conversation.id]

    def close(self) -> None:
        """Nothing to release."""
