"""The chat's side of sharing a conversation: the turn lease it holds, and the messages it
keeps in memory while the store fails.

A turn claims the conversation's lease before anything is stored or sent (``Store.
claim_turn``), renews it while the reply runs and releases it at the end. A message the
store cannot take (a database outage) is kept in ``unsaved`` and stored with the next write.
While a reply stream this chat handed out is unfinished, the chat starts no other turn.
"""

from __future__ import annotations

import inspect
import logging
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..errors import ConversationNotFound, StoreError, UserError
from ..messages import Message, new_id
from ..store.base import Conversation, Store, TurnLease

__all__ = ["BLOCKING_LEASE_SECONDS", "TURN_LEASE_SECONDS", "SharedWriter"]

log = logging.getLogger("claudechat")

TURN_LEASE_SECONDS = 30.0  # how long a crashed writer blocks a conversation (renewed)
BLOCKING_LEASE_SECONDS = 600.0  # a wait without events: a whole request (SDK timeout), a tool


class SharedWriter:
    """Lease and held-message bookkeeping, mixed into ChatBase (which sets the fields)."""

    store: Store
    _conv: Conversation | None
    _branch: list[Message]
    _owner: str  # this chat's name in the conversation's turn lease
    _lease: TurnLease | None
    _lease_renewed: float  # time.monotonic() of the last claim
    _unsaved: list[Message]  # messages the store failed to take, oldest first
    _open_stream: weakref.ref[Any] | None  # the reply stream this chat handed out last

    def _start_sharing(self) -> None:
        """This chat's own fields: no lease held, nothing held in memory yet."""
        self._owner = new_id()
        self._lease = None
        self._lease_renewed = 0.0
        self._unsaved = []
        self._open_stream = None

    @property
    def holds_turn(self) -> bool:
        """True while this chat holds its conversation's turn lease (a turn is open)."""
        return self._lease is not None

    @property
    def unsaved(self) -> list[Message]:
        """Messages the store failed to take (an outage): kept here, stored with the next
        write or by ``store_unsaved()``."""
        return list(self._unsaved)

    def reload(self) -> None:
        """Re-read the conversation head and branch (ChatBase defines it)."""
        raise NotImplementedError

    def _head(self) -> str | None:  # defined by ChatBase
        raise NotImplementedError

    def _opened(self, stream: S) -> S:
        """Remember the reply stream this chat handed out: until it ends, no new turn."""
        self._open_stream = weakref.ref(stream)
        return stream

    def _check_no_open_stream(self) -> None:
        """UserError while this chat's own reply stream is unfinished; a stream dropped
        without being read gives its turn back here."""
        stream = self._open_stream() if self._open_stream is not None else None
        if stream is not None and _running(stream):
            raise UserError(
                "a reply of this chat is still streaming: read it to the end or close() it "
                "before the next message"
            )
        self._open_stream = None
        self._release_turn()  # a turn left by a stream that was never read

    def _claim_turn(self) -> None:
        """Take the lease of the (existing) conversation; catch up with what other writers
        stored since this chat last looked. ConcurrentUpdate if another writer holds it."""
        conv = self._conv
        assert conv is not None
        lease = self.store.claim_turn(conv.id, self._owner, ttl=TURN_LEASE_SECONDS)
        self._lease, self._lease_renewed = lease, time.monotonic()
        try:
            held = bool(self._unsaved)
            if held and not self.store_unsaved():
                raise StoreError("the store still fails to take the messages kept in memory")
            if held or lease.version != conv.version or lease.head_id != self._head():
                self.reload()  # another writer's turn ended since: continue after it
        except BaseException:
            self._release_turn()
            raise

    @contextmanager
    def _turn_held(self) -> Iterator[None]:
        """Hold the turn for a head move outside a turn (undo, checkout, system…)."""
        if self._lease is not None or self._conv is None:  # inside a turn already
            yield
            return
        self._claim_turn()
        try:
            yield
        finally:
            self._release_turn()

    def _renew_turn(self, *, ttl: float = TURN_LEASE_SECONDS, force: bool = False) -> None:
        """Extend the lease once a quarter of it has passed (a long stream), or now for a
        wait without events; a failure is logged, never allowed to cut the reply."""
        lease = self._lease
        if lease is None or not (force or self._renew_due()):
            return
        try:
            self._lease = self.store.claim_turn(lease.conversation_id, self._owner, ttl=ttl)
            self._lease_renewed = time.monotonic()
        except StoreError as err:
            log.warning("could not renew the turn lease of %s: %s", lease.conversation_id, err)

    def _renew_due(self) -> bool:
        """True once a quarter of the held lease has passed."""
        return (
            self._lease is not None
            and time.monotonic() - self._lease_renewed >= TURN_LEASE_SECONDS / 4
        )

    def _release_turn(self) -> None:
        """Give the turn back (a failure only leaves the lease to expire)."""
        lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            self.store.release_turn(lease.conversation_id, self._owner)
        except StoreError as err:
            log.warning("could not release the turn of %s (it expires by itself): %s",
                        lease.conversation_id, err)  # fmt: skip

    def _hold(self, message: Message, err: StoreError | None) -> Message:
        """Keep a message the store could not take; it is stored with the next write."""
        if err is not None:
            log.warning("the store failed (%s): the message is kept in memory and stored "
                        "with the next write", err)  # fmt: skip
        self._unsaved.append(message)
        self._branch.append(message)
        return message

    def store_unsaved(self, *, quiet: bool = False) -> bool:
        """Store the messages kept since a store failure, oldest first; True when none are
        left (False, with a warning unless ``quiet``, if the store still fails)."""
        conv = self._conv
        if not self._unsaved or conv is None:
            return not self._unsaved
        try:
            current = self.store.get_conversation(conv.id)
            while self._unsaved:
                m = self._unsaved[0]
                if not self._stored(m):
                    on_head = current.head_id == m.parent_id
                    current = self.store.append(conv.id, m, move_head=on_head, lease=self._owner)
                self._unsaved.pop(0)
        except StoreError as err:
            if not quiet:
                log.warning("the store still fails (%s): %d message(s) kept in memory",
                            err, len(self._unsaved))  # fmt: skip
            return False
        log.warning("stored the messages kept in memory since the store failed")
        self._conv = current
        return True

    def _stored(self, message: Message) -> bool:
        """True if the store already has this message whole (a write that did commit)."""
        try:
            return self.store.get_message(message.id).status != "partial"
        except ConversationNotFound:
            return False


S = TypeVar("S")


def _running(stream: Any) -> bool:
    """True while a generator (sync or async) handed out has not finished or been closed."""
    if inspect.isasyncgen(stream):
        return stream.ag_frame is not None
    return getattr(stream, "gi_frame", None) is not None
