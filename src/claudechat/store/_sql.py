"""``SQLStore``: the ``Store`` contract written once in SQL for SQLite and PostgreSQL.

A dialect supplies transactions (``_tx``), row locking and full-text search; statements
use ``?`` placeholders, which the PostgreSQL dialect rewrites. Every write is one
transaction that ends with a compare-and-swap on the conversation's ``version``. The turn
lease lives in the conversation row (``lease_owner``, ``lease_expires``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, ParamSpec, Protocol, TypeVar

from ..errors import ConcurrentUpdate, ConversationNotFound, StoreError, UserError
from ..messages import Message, new_id
from ._blobs import Blob, encoded, join_blobs, message_refs, split_blobs
from ._rows import (
    PathFigures,
    busy,
    check_import,
    check_lease,
    check_message,
    conversation_of,
    dumps,
    message_of,
    message_row,
    summary_of,
)
from ._sql_accounts import SQLAccounts
from ._sql_memories import SQLMemories
from .base import LOCAL_USER, Conversation, ConversationInfo, MessageHit, Summary, TurnLease

__all__ = ["Executor", "SQLStore"]

CONV = "id, title, created_at, updated_at, head_id, version, model, system, metadata, owner"
MSG = "id, parent_id, role, content, model, usage, stop_reason, status, created_at, metadata"
FIG = "path_messages, path_turns, path_tokens, path_cost_usd, path_unpriced"
SUM = "id, conversation_id, text, first_id, last_id, created_at, model, tokens, metadata"
_MSG_INSERT = (
    f"INSERT INTO messages (conversation_id, {MSG}, text, {FIG}) VALUES ({', '.join(['?'] * 17)})"
)
_MSG_REPLACE = (
    "UPDATE messages SET content = ?, model = ?, usage = ?, stop_reason = ?, status = ?, "
    "created_at = ?, metadata = ?, text = ?, path_messages = ?, path_turns = ?, "
    "path_tokens = ?, path_cost_usd = ?, path_unpriced = ? WHERE id = ?"
)
_BRANCH = f"""
WITH RECURSIVE chain AS (
    SELECT {MSG}, path_messages FROM messages WHERE id = ? AND conversation_id = ?
    UNION ALL
    SELECT {", ".join("m." + c for c in MSG.split(", "))}, m.path_messages
    FROM messages AS m JOIN chain ON m.id = chain.parent_id
)
SELECT {MSG} FROM chain ORDER BY path_messages
"""


class Cursor(Protocol):
    """What a statement returns (sqlite3 and psycopg cursors both fit)."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Executor(Protocol):
    """Runs ``?``-placeholder statements inside the current transaction."""

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> Cursor: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any: ...


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _text_checked(write: Callable[_P, _R]) -> Callable[_P, _R]:
    """A write that refuses text the database cannot encode (a lone surrogate) with UserError;
    the transaction is rolled back, so nothing is written."""

    @functools.wraps(write)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return write(*args, **kwargs)
        except UnicodeEncodeError as err:
            raise UserError(
                f"cannot store text that is not valid Unicode ({err.reason}, character "
                f"{err.start}); nothing was stored"
            ) from None

    return checked


def _not_found(conversation_id: str) -> ConversationNotFound:
    return ConversationNotFound(f"no conversation {conversation_id}")


def _owner_filter(owner: str | None, table: str) -> tuple[str, tuple[str, ...]]:
    """A WHERE clause keeping ``owner``'s conversations (none for None), and its argument."""
    return ("", ()) if owner is None else (f"WHERE {table}owner = ?", (owner,))


class SQLStore(SQLAccounts, SQLMemories):
    """The store logic over a dialect's transactions; subclasses add connections and search;
    the accounts half comes from ``SQLAccounts``, the memory tool's from ``SQLMemories``."""

    _clock: Callable[[], float]
    _lock_row = ""  # " FOR UPDATE" where rows can be locked
    _same = "IS"  # null-safe equality

    def _tx(self, where: str, *, write: bool = False) -> AbstractContextManager[Executor]:
        raise NotImplementedError

    def __enter__(self) -> SQLStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release connections."""

    # conversations ------------------------------------------------------------------------

    @_text_checked
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
            id or new_id(), title, now, now, None, 0, model, system, metadata or {}, owner
        )
        with self._tx("create_conversation", write=True) as db:
            if db.execute("SELECT 1 FROM conversations WHERE id = ?", (conv.id,)).fetchone():
                raise StoreError(f"conversation {conv.id} exists already")
            self._insert_conversation(db, conv)
        return conv

    @staticmethod
    def _insert_conversation(db: Executor, c: Conversation) -> None:
        db.execute(
            f"INSERT INTO conversations ({CONV}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (c.id, c.title, c.created_at, c.updated_at, c.head_id, c.version, c.model, c.system,
             dumps(c.metadata), c.owner),
        )  # fmt: skip

    def _get(self, db: Executor, conversation_id: str, *, lock: bool = False) -> Conversation:
        row = db.execute(
            f"SELECT {CONV} FROM conversations WHERE id = ?{self._lock_row if lock else ''}",
            (conversation_id,),
        ).fetchone()
        if row is None:
            raise _not_found(conversation_id)
        return conversation_of(row)

    def get_conversation(self, conversation_id: str) -> Conversation:
        """The conversation; ConversationNotFound if there is none."""
        with self._tx("get_conversation") as db:
            return self._get(db, conversation_id)

    @_text_checked
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
        meta = None if metadata is None else dumps(metadata)
        with self._tx("update_conversation", write=True) as db:
            rows = db.execute(
                "UPDATE conversations SET title = coalesce(?, title), model = coalesce(?, model), "
                "system = coalesce(?, system), metadata = coalesce(?, metadata), updated_at = ? "
                f"WHERE id = ? RETURNING {CONV}",
                (title, model, system, meta, self._clock(), conversation_id),
            ).fetchall()
        if not rows:
            raise _not_found(conversation_id)
        return conversation_of(rows[0])

    def list_conversations(
        self, *, limit: int = 50, offset: int = 0, owner: str | None = None
    ) -> list[ConversationInfo]:
        """Conversations (of ``owner``; None: all), most recently updated first, with their
        figures (head row only)."""
        where, args = _owner_filter(owner, "c.")
        return self._infos("list_conversations", where, args, limit, offset)

    def iter_conversations(
        self, *, page: int = 500, owner: str | None = None
    ) -> Iterator[ConversationInfo]:
        """Every conversation (of ``owner``; None: all), most recently updated first, read
        ``page`` rows at a time (each page starts after the last row of the one before)."""
        where, args = _owner_filter(owner, "c.")
        batch = self._infos("iter_conversations", where, args, page, 0)
        while batch:
            yield from batch
            last = batch[-1].conversation
            batch = self._infos(
                "iter_conversations",
                f"{where or 'WHERE TRUE'} AND "
                "(c.updated_at < ? OR (c.updated_at = ? AND c.id < ?))",
                (*args, last.updated_at, last.updated_at, last.id),
                page,
                0,
            )

    def _infos(
        self, where: str, condition: str, args: Sequence[Any], limit: int, offset: int
    ) -> list[ConversationInfo]:
        cols = ", ".join(f"c.{c}" for c in CONV.split(", "))
        figs = ", ".join(f"m.{c}" for c in FIG.split(", "))
        with self._tx(where) as db:
            rows = db.execute(
                f"SELECT {cols}, {figs} FROM conversations AS c "
                f"LEFT JOIN messages AS m ON m.id = c.head_id {condition} "
                "ORDER BY c.updated_at DESC, c.id DESC LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        out = []
        for r in rows:
            figures = PathFigures(*r[10:]) if r[10] is not None else PathFigures()
            out.append(figures.info(conversation_of(r)))
        return out

    def latest_conversation(self, *, owner: str | None = None) -> Conversation | None:
        """The most recently updated conversation (of ``owner``; None: anyone's), if any."""
        where, args = _owner_filter(owner, "")
        with self._tx("latest_conversation") as db:
            row = db.execute(
                f"SELECT {CONV} FROM conversations {where} "
                "ORDER BY updated_at DESC, id DESC LIMIT 1",
                args,
            ).fetchone()
        return conversation_of(row) if row else None

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete a conversation and everything in it."""
        with self._tx("delete_conversation", write=True) as db:
            used = db.execute(
                "SELECT DISTINCT b.sha256 FROM message_blobs AS b JOIN messages AS m "
                "ON m.id = b.message_id WHERE m.conversation_id = ?",
                (conversation_id,),
            ).fetchall()
            cur = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if cur.rowcount == 0:
                raise _not_found(conversation_id)
            db.executemany(  # attachments no other message uses
                "DELETE FROM blobs WHERE sha256 = ? AND NOT EXISTS "
                "(SELECT 1 FROM message_blobs AS u WHERE u.sha256 = blobs.sha256)",
                [(r[0],) for r in used],
            )

    # messages -----------------------------------------------------------------------------

    @_text_checked
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

        Constant cost whatever the history: index lookups, one insert, one CAS update.
        """
        check_message(message)
        stored, blobs = split_blobs(message)
        with self._tx("append", write=True) as db:
            version = self._version(
                db, conversation_id, expect_version, lease=lease, moves_head=move_head
            )
            figures = self._figures(db, conversation_id, message.parent_id).then(message)
            row = message_row(stored, figures)
            old = db.execute(
                "SELECT conversation_id, parent_id, role, status FROM messages WHERE id = ?",
                (message.id,),
            ).fetchone()
            if old is None:
                db.execute(_MSG_INSERT, (conversation_id, *row))
            else:
                self._check_replace(db, old, conversation_id, message)
                db.execute(_MSG_REPLACE, (*row[3:], message.id))
                db.execute("DELETE FROM message_blobs WHERE message_id = ?", (message.id,))
            self._insert_blobs(db, [(message.id, blobs)])
            return self._move(db, conversation_id, version, message.id, move=move_head)

    def _insert_blobs(self, db: Executor, links: Sequence[tuple[str, Sequence[Blob]]]) -> None:
        """Store each blob once (a blob stored already is kept) and which messages use it."""
        blobs = {b.sha256: b for _, bs in links for b in bs}
        if not blobs:
            return
        now = self._clock()
        db.executemany(
            "INSERT INTO blobs (sha256, media_type, size, data, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
            [(b.sha256, b.media_type, len(b.data), b.data, now) for b in blobs.values()],
        )
        db.executemany(
            "INSERT INTO message_blobs (message_id, sha256) VALUES (?, ?) "
            "ON CONFLICT (message_id, sha256) DO NOTHING",
            [(mid, b.sha256) for mid, bs in links for b in bs],
        )

    @staticmethod
    def _joined(db: Executor, messages: list[Message]) -> list[Message]:
        """Messages with their attachments' base64 data back in place of the references
        (each blob read and encoded once however many messages use it)."""
        wanted = sorted(message_refs(messages))
        if not wanted:
            return messages
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = db.execute(
                f"SELECT sha256, data FROM blobs WHERE sha256 IN ({', '.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            found.update(encoded((r[0], r[1]) for r in rows))
        return [join_blobs(m, found) for m in messages]

    def blob_count(self) -> int:
        """How many distinct attachments the store holds."""
        with self._tx("blob_count") as db:
            return int(db.execute("SELECT count(*) FROM blobs").fetchone()[0])

    def _version(
        self,
        db: Executor,
        conversation_id: str,
        expect: int | None,
        *,
        lease: str | None,
        moves_head: bool,
    ) -> int:
        """The version to compare-and-swap on, after the checks of a head move: the version
        the writer read, and no turn lease held by another writer."""
        found = db.execute(
            "SELECT version, lease_owner, lease_expires FROM conversations "
            f"WHERE id = ?{self._lock_row}",
            (conversation_id,),
        ).fetchone()
        if found is None:
            raise _not_found(conversation_id)
        version, owner, expires = found
        if moves_head and owner is not None and owner != lease:
            left = float(expires) - self._clock()
            if left > 0:
                raise busy(conversation_id, left)
        if expect is not None and version != expect:
            raise ConcurrentUpdate(
                f"conversation {conversation_id} is at version {version}, not {expect}"
            )
        return int(version)

    @staticmethod
    def _figures(db: Executor, conversation_id: str, mid: str | None) -> PathFigures:
        if mid is None:
            return PathFigures()
        row = db.execute(
            f"SELECT {FIG} FROM messages WHERE id = ? AND conversation_id = ?",
            (mid, conversation_id),
        ).fetchone()
        if row is None:
            raise ConversationNotFound(f"no message {mid} in conversation {conversation_id}")
        return PathFigures(*row)

    @staticmethod
    def _check_replace(db: Executor, old: Sequence[Any], conversation_id: str, m: Message) -> None:
        if old[0] != conversation_id or old[3] != "partial":
            raise StoreError(f"message {m.id} exists already (only a partial one is replaced)")
        if old[1] != m.parent_id or old[2] != m.role:
            raise StoreError(f"message {m.id}: a replacement keeps its parent and role")
        if db.execute("SELECT 1 FROM messages WHERE parent_id = ? LIMIT 1", (m.id,)).fetchone():
            raise StoreError(f"message {m.id} has replies and cannot be replaced")

    def _move(
        self, db: Executor, conversation_id: str, version: int, head: str | None, *, move: bool
    ) -> Conversation:
        """Compare-and-swap on ``version``: move the head (if ``move``), or raise."""
        args: tuple[Any, ...] = (head, self._clock()) if move else (self._clock(),)
        sql = "head_id = ?, version = version + 1, updated_at = ?" if move else "updated_at = ?"
        rows = db.execute(
            f"UPDATE conversations SET {sql} WHERE id = ? AND version = ? RETURNING {CONV}",
            (*args, conversation_id, version),
        ).fetchall()
        if not rows:
            raise ConcurrentUpdate(f"conversation {conversation_id} moved on; re-read it")
        return conversation_of(rows[0])

    def set_head(
        self,
        conversation_id: str,
        message_id: str | None,
        *,
        expect_version: int | None = None,
        lease: str | None = None,
    ) -> Conversation:
        """Move the head (checkout / undo); refused while another writer holds the turn."""
        with self._tx("set_head", write=True) as db:
            version = self._version(db, conversation_id, expect_version, lease=lease,
                                    moves_head=True)  # fmt: skip
            if message_id is not None:
                self._figures(db, conversation_id, message_id)
            return self._move(db, conversation_id, version, message_id, move=True)

    # the turn lease -----------------------------------------------------------------------

    def claim_turn(self, conversation_id: str, owner: str, *, ttl: float) -> TurnLease:
        """Hold the conversation's next turn for ``ttl`` seconds (the same owner renews);
        ConcurrentUpdate at once if another owner's lease has not expired."""
        check_lease(owner, ttl)
        now = self._clock()
        with self._tx("claim_turn", write=True) as db:
            for _ in range(2):  # again if the holder released it between the two statements
                rows = db.execute(  # a new turn (not a renewal) clears a stop request
                    "UPDATE conversations SET lease_owner = ?, lease_expires = ?, "
                    "stop_requested = CASE WHEN lease_owner = ? AND lease_expires > ? "
                    "THEN stop_requested ELSE ? END WHERE id = ? "
                    "AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires <= ?) "
                    "RETURNING version, head_id",
                    (owner, now + ttl, owner, now, False, conversation_id, owner, now),
                ).fetchall()
                if rows:
                    return TurnLease(conversation_id, owner, now + ttl, int(rows[0][0]), rows[0][1])
                held = db.execute(
                    "SELECT lease_expires FROM conversations WHERE id = ?", (conversation_id,)
                ).fetchone()
                if held is None:
                    raise _not_found(conversation_id)
                if held[0] is not None:
                    raise busy(conversation_id, float(held[0]) - now)
        raise busy(conversation_id, 0.0)

    def release_turn(self, conversation_id: str, owner: str) -> None:
        """Give the turn back (nothing happens unless ``owner`` holds it)."""
        with self._tx("release_turn", write=True) as db:
            db.execute(
                "UPDATE conversations SET lease_owner = NULL, lease_expires = NULL, "
                "stop_requested = ? WHERE id = ? AND lease_owner = ?",
                (False, conversation_id, owner),
            )

    def turn_held(self, conversation_id: str) -> bool:
        """True while a writer holds the conversation's turn (its lease not yet expired)."""
        with self._tx("turn_held") as db:
            row = db.execute(
                "SELECT lease_expires FROM conversations WHERE id = ? AND lease_owner IS NOT NULL",
                (conversation_id,),
            ).fetchone()
        return row is not None and row[0] is not None and float(row[0]) > self._clock()

    def message_conversation(self, message_id: str) -> str:
        """The id of the conversation a message is in; ConversationNotFound if unknown."""
        with self._tx("message_conversation") as db:
            row = db.execute(
                "SELECT conversation_id FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
        if row is None:
            raise ConversationNotFound(f"no message {message_id}")
        return str(row[0])

    def get_message(self, message_id: str) -> Message:
        """One message by id; ConversationNotFound if unknown."""
        with self._tx("get_message") as db:
            row = db.execute(f"SELECT {MSG} FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                raise ConversationNotFound(f"no message {message_id}")
            return self._joined(db, [message_of(row)])[0]

    def branch(self, conversation_id: str, head_id: str | None = None) -> list[Message]:
        """Root → ``head_id`` (default: the head), read up the parent chain and nothing else."""
        with self._tx("branch") as db:
            head = self._get(db, conversation_id).head_id if head_id is None else head_id
            if head is None:
                return []
            rows = db.execute(_BRANCH, (head, conversation_id)).fetchall()
            if not rows:
                self._get(db, conversation_id)
                raise ConversationNotFound(f"no message {head} in conversation {conversation_id}")
            return self._joined(db, [message_of(r) for r in rows])

    def _select(self, where: str, sql: str, conversation_id: str, *args: Any) -> list[Message]:
        with self._tx(where) as db:
            self._get(db, conversation_id)
            rows = db.execute(sql, (conversation_id, *args)).fetchall()
            return self._joined(db, [message_of(r) for r in rows])

    def children(self, conversation_id: str, parent_id: str | None) -> list[Message]:
        """Direct replies to a message (roots when parent_id is None), oldest first."""
        return self._select(
            "children",
            f"SELECT {MSG} FROM messages WHERE conversation_id = ? AND parent_id {self._same} ? "
            "ORDER BY seq",
            conversation_id,
            parent_id,
        )

    def leaves(self, conversation_id: str) -> list[Message]:
        """The tips of every branch, oldest first."""
        return self._select(
            "leaves",
            f"SELECT {MSG} FROM messages AS m WHERE conversation_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM messages AS c WHERE c.parent_id = m.id) ORDER BY seq",
            conversation_id,
        )

    def all_messages(self, conversation_id: str) -> list[Message]:
        """Every message of every branch, in insertion order."""
        return self._select(
            "all_messages",
            f"SELECT {MSG} FROM messages WHERE conversation_id = ? ORDER BY seq",
            conversation_id,
        )

    # summaries ----------------------------------------------------------------------------

    @_text_checked
    def add_summary(self, summary: Summary) -> None:
        """Store a summary beside the transcript."""
        s = summary
        with self._tx("add_summary", write=True) as db:
            self._get(db, s.conversation_id)
            for mid in (s.first_id, s.last_id):
                self._figures(db, s.conversation_id, mid)
            if db.execute("SELECT 1 FROM summaries WHERE id = ?", (s.id,)).fetchone():
                raise StoreError(f"summary {s.id} exists already")
            self._insert_summaries(db, [s])

    @staticmethod
    def _insert_summaries(db: Executor, summaries: Sequence[Summary]) -> None:
        if summaries:
            db.executemany(
                f"INSERT INTO summaries ({SUM}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(s.id, s.conversation_id, s.text, s.first_id, s.last_id, s.created_at, s.model,
                  s.tokens, dumps(s.metadata)) for s in summaries],
            )  # fmt: skip

    def summaries(self, conversation_id: str) -> list[Summary]:
        """The conversation's summaries, oldest first."""
        with self._tx("summaries") as db:
            self._get(db, conversation_id)
            rows = db.execute(
                f"SELECT {SUM} FROM summaries WHERE conversation_id = ? ORDER BY seq",
                (conversation_id,),
            ).fetchall()
        return [summary_of(r) for r in rows]

    def search(
        self,
        query: str,
        *,
        conversation_id: str | None = None,
        limit: int = 20,
        owner: str | None = None,
    ) -> list[MessageHit]:
        """Full-text search over message text (of ``owner``'s conversations), best first."""
        raise NotImplementedError

    @staticmethod
    def _search_filter(
        conversation_id: str | None, owner: str | None
    ) -> tuple[str, tuple[str, ...]]:
        """The conditions a search adds on ``m`` (messages): its conversation, its owner."""
        where, args = [], []
        if conversation_id is not None:
            where.append("AND m.conversation_id = ?")
            args.append(conversation_id)
        if owner is not None:
            where.append("AND m.conversation_id IN (SELECT id FROM conversations WHERE owner = ?)")
            args.append(owner)
        return " ".join(where), tuple(args)

    # bulk ---------------------------------------------------------------------------------

    @_text_checked
    def import_messages(
        self, conversation: Conversation, messages: Sequence[Message], summaries: Sequence[Summary]
    ) -> Conversation:
        """Insert a whole conversation in one transaction: all of it or nothing."""
        ordered = check_import(conversation, messages, summaries)
        with self._tx("import_messages", write=True) as db:
            for table, ids in (
                ("conversations", [conversation.id]),
                ("messages", [m.id for m in ordered]),
                ("summaries", [s.id for s in summaries]),
            ):
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marks = ", ".join("?" * len(chunk))
                    sql = f"SELECT id FROM {table} WHERE id IN ({marks}) LIMIT 1"
                    taken = db.execute(sql, chunk).fetchone()
                    if taken:
                        raise StoreError(f"{table[:-1]} {taken[0]} exists already")
            self._insert_conversation(db, conversation)
            figures: dict[str, PathFigures] = {}
            rows = []
            links: list[tuple[str, list[Blob]]] = []
            for m in ordered:
                base = figures[m.parent_id] if m.parent_id else PathFigures()
                figures[m.id] = base.then(m)
                stored, blobs = split_blobs(m)
                rows.append((conversation.id, *message_row(stored, figures[m.id])))
                if blobs:
                    links.append((m.id, blobs))
            if rows:
                db.executemany(_MSG_INSERT, rows)
            self._insert_blobs(db, links)
            self._insert_summaries(db, summaries)
            return self._get(db, conversation.id)
