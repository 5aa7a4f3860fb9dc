"""Each recently active conversation's ``AsyncChat``, kept in the worker between its turns.

Building a chat reads the whole active branch from the store and decodes it: 0.7 ms for a
20-message conversation, 4 ms for 200 and 20 ms for 1,000 on the development machine,
before every turn's first token and growing with the conversation. A chat kept open in
one process, as the CLI keeps one, reads it once. ``KeptChats`` keeps the chat of the
last ``keep`` turns that ended well (a reply, whole or partial, nothing held in memory),
for ``idle_seconds``. The next turn of the same user on the same conversation takes it
back only if the conversation's stored row is still the one the chat holds (head,
version, model, system prompt, settings, title: any change by another route, worker or
process, and it is built anew); a turn that another writer stored since, without
changing the row the chat saw, cannot exist (every message moves the version). The turn
lease then catches up as for any chat (``SharedWriter._claim_turn``). A taken chat is
out of the table until its turn ends, so no two turns share one.

A kept chat holds its branch in memory (some KB a message, thinking included), so the
table is bounded in messages as well as in chats: ``most_messages`` in all (the oldest
dropped first); a conversation longer than that alone is built for each turn.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ..chat import AsyncChat
from ..store.base import Conversation

__all__ = ["KeptChats"]


class KeptChats:
    """The chats of the ``keep`` most recently ended turns, by (user, conversation), each
    for ``idle_seconds``, with at most ``most_messages`` messages in their branches in all
    (turns are opened in worker threads: a lock guards the table)."""

    def __init__(
        self,
        *,
        keep: int = 256,
        most_messages: int = 20_000,
        idle_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keep = keep
        self.most_messages = most_messages
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._chats: OrderedDict[tuple[str, str], _Kept] = OrderedDict()
        self.messages = 0  # in the branches of the chats kept now
        self._lock = threading.Lock()
        self.hits = 0  # turns that took a kept chat
        self.misses = 0  # turns that built theirs (none kept, or the row changed)

    def take(self, user_id: str, conversation: Conversation) -> AsyncChat | None:
        """The kept chat of ``user_id`` on ``conversation`` (the row just read from the
        store), removed until ``give``; None when none is kept or the row has changed."""
        with self._lock:
            self._prune()
            kept = self._drop((user_id, conversation.id))
            found = kept is not None and kept.chat.conversation == conversation
            if found:
                self.hits += 1
            else:
                self.misses += 1
        return kept.chat if found and kept is not None else None

    def give(self, user_id: str, chat: AsyncChat) -> None:
        """Keep the chat of a turn that ended for the conversation's next turn (dropping
        the oldest); a chat holding unsaved messages or a lease, or more messages than
        ``most_messages``, is not kept."""
        if chat.id is None or chat.unsaved or chat.holds_turn:
            return
        size = len(chat.history)
        with self._lock:
            self._drop((user_id, chat.id))
            if size > self.most_messages or not self.keep:
                return
            self._chats[(user_id, chat.id)] = _Kept(chat, self._clock(), size)
            self.messages += size
            while len(self._chats) > self.keep or self.messages > self.most_messages:
                self._drop(next(iter(self._chats)))

    def clear(self) -> None:
        """Forget every kept chat (the app stops: their upstream pools close)."""
        with self._lock:
            self._chats.clear()
            self.messages = 0

    def __len__(self) -> int:
        return len(self._chats)

    def __contains__(self, key: object) -> bool:
        """True when the chat of ``(user_id, conversation_id)`` is kept now."""
        return key in self._chats

    def _prune(self) -> None:
        """Drop the chats idle for longer than ``idle_seconds`` (the oldest first)."""
        cutoff = self._clock() - self.idle_seconds
        while self._chats:
            key, kept = next(iter(self._chats.items()))
            if kept.since >= cutoff:
                return
            self._drop(key)

    def _drop(self, key: tuple[str, str]) -> _Kept | None:
        kept = self._chats.pop(key, None)
        if kept is not None:
            self.messages -= kept.size
        return kept


@dataclass(frozen=True, slots=True)
class _Kept:
    chat: AsyncChat
    since: float  # when it was given back
    size: int  # messages in its branch
