"""The ``AccountStore`` half of the SQL stores, written once for SQLite and PostgreSQL.

Mixed into ``SQLStore``: the same ``?`` statements and transactions. The tables come from
migration 0003 (users, api_keys, web_sessions, spend; conversations.stop_requested).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import ConversationNotFound, UserError, UserNotFound
from ..messages import new_id
from .accounts import (
    ApiKey,
    Limits,
    User,
    check_limits,
    check_user_id,
    check_user_name,
    last_use_due,
)

if TYPE_CHECKING:
    from ._sql import Executor

__all__ = ["SQLAccounts"]

USER = (
    "id, name, created_at, is_admin, password_hash IS NOT NULL, usd_per_day, usd_per_month, "
    "concurrent_streams"
)
KEY = "id, user_id, prefix, created_at, last_used_at, revoked_at"


def _user_of(row: Sequence[Any]) -> User:
    limits = Limits(
        None if row[5] is None else float(row[5]),
        None if row[6] is None else float(row[6]),
        None if row[7] is None else int(row[7]),
    )
    return User(row[0], row[1], float(row[2]), bool(row[3]), bool(row[4]), limits)


def _key_of(row: Sequence[Any]) -> ApiKey:
    def when(value: Any) -> float | None:
        return None if value is None else float(value)

    return ApiKey(row[0], row[1], row[2], float(row[3]), when(row[4]), when(row[5]))


class SQLAccounts:
    """Users, keys, sessions, spend and turn stops in the store's database."""

    _clock: Callable[[], float]

    def _tx(self, where: str, *, write: bool = False) -> AbstractContextManager[Executor]:
        raise NotImplementedError

    # users --------------------------------------------------------------------------------

    @staticmethod
    def _user(db: Executor, user_id: str) -> User:
        row = db.execute(f"SELECT {USER} FROM users WHERE id = ?", (user_id,)).fetchone()
        if row is None:
            raise UserNotFound(f"no user {user_id}")
        return _user_of(row)

    def add_user(
        self, name: str, *, is_admin: bool = False, password_hash: str | None = None
    ) -> User:
        """A new user; UserError if the name is taken or not ``[A-Za-z0-9_.@-]{1,64}``."""
        check_user_name(name)
        with self._tx("add_user", write=True) as db:
            return self._insert_user(db, new_id(), name, is_admin, password_hash)

    def _insert_user(
        self, db: Executor, user_id: str, name: str, is_admin: bool, password_hash: str | None
    ) -> User:
        if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise UserError(f"a user named {name} exists already")
        if db.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone():
            raise UserError(f"a user with id {user_id} exists already")
        db.execute(
            "INSERT INTO users (id, name, created_at, is_admin, password_hash) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",  # a worker ensuring it too
            (user_id, name, self._clock(), bool(is_admin), password_hash),
        )
        return self._user(db, user_id)

    def get_user(self, user_id: str) -> User:
        """The user with that id; UserNotFound if there is none."""
        with self._tx("get_user") as db:
            return self._user(db, user_id)

    def user_by_name(self, name: str) -> User:
        """The user with that name; UserNotFound if there is none."""
        with self._tx("user_by_name") as db:
            row = db.execute(f"SELECT {USER} FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise UserNotFound(f"no user named {name}")
        return _user_of(row)

    def ensure_user(self, user_id: str) -> User:
        """The user with that id, created (named as its id) if missing."""
        with self._tx("ensure_user", write=True) as db:
            try:
                return self._user(db, user_id)
            except UserNotFound:
                return self._insert_user(db, user_id, check_user_id(user_id), False, None)

    def list_users(self) -> list[User]:
        """Every user, by name."""
        with self._tx("list_users") as db:
            rows = db.execute(f"SELECT {USER} FROM users ORDER BY name").fetchall()
        return [_user_of(r) for r in rows]

    def _update_user(self, where: str, sql: str, args: Sequence[Any], user_id: str) -> None:
        with self._tx(where, write=True) as db:
            if db.execute(f"UPDATE users SET {sql} WHERE id = ?", (*args, user_id)).rowcount == 0:
                raise UserNotFound(f"no user {user_id}")

    def set_password(self, user_id: str, password_hash: str | None) -> None:
        """Store a user's password hash (None removes the password)."""
        self._update_user("set_password", "password_hash = ?", (password_hash,), user_id)

    def password_hash(self, user_id: str) -> str | None:
        """The user's password hash, None without a password; UserNotFound if unknown."""
        with self._tx("password_hash") as db:
            row = db.execute("SELECT password_hash FROM users WHERE id = ?", (user_id,)).fetchone()
        if row is None:
            raise UserNotFound(f"no user {user_id}")
        return None if row[0] is None else str(row[0])

    def set_limits(self, user_id: str, limits: Limits) -> None:
        """Replace the user's limits."""
        lim = check_limits(limits)
        self._update_user(
            "set_limits",
            "usd_per_day = ?, usd_per_month = ?, concurrent_streams = ?",
            (lim.usd_per_day, lim.usd_per_month, lim.concurrent_streams),
            user_id,
        )

    def set_admin(self, user_id: str, is_admin: bool) -> None:
        """Make the user an admin, or not."""
        self._update_user("set_admin", "is_admin = ?", (bool(is_admin),), user_id)

    # API keys -----------------------------------------------------------------------------

    def add_api_key(self, user_id: str, *, key_hash: str, prefix: str) -> ApiKey:
        """Record a key by its hash (``credentials.new_api_key`` makes both)."""
        key = ApiKey(new_id(), user_id, prefix, self._clock(), None, None)
        with self._tx("add_api_key", write=True) as db:
            self._user(db, user_id)
            if db.execute("SELECT 1 FROM api_keys WHERE key_hash = ?", (key_hash,)).fetchone():
                raise UserError("that API key exists already")
            db.execute(
                "INSERT INTO api_keys (id, user_id, key_hash, prefix, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (key.id, user_id, key_hash, prefix, key.created_at),
            )
        return key

    def api_key_user(self, key_hash: str, *, record_use: bool = True) -> tuple[User, ApiKey] | None:
        """The user and key of an unrevoked key's hash, else None. Its last use is recorded
        when the stored one is older than ``LAST_USED_RESOLUTION`` seconds, so a busy key costs
        a read, not a write (a commit), on each request; never with ``record_use`` false."""
        with self._tx("api_key_user") as db:
            row = db.execute(
                f"SELECT {KEY} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
                (key_hash,),
            ).fetchone()
            if row is None:
                return None
            key, now = _key_of(row), self._clock()
            user = self._user(db, key.user_id)
        if not record_use or not last_use_due(key.last_used_at, now):
            return user, key
        with self._tx("api_key_user", write=True) as db:
            db.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (now, key.id))
        return user, replace(key, last_used_at=now)

    def list_api_keys(self, user_id: str | None = None) -> list[ApiKey]:
        """The keys of a user (None: everyone's), oldest first, revoked ones included."""
        where, args = ("WHERE user_id = ?", (user_id,)) if user_id is not None else ("", ())
        with self._tx("list_api_keys") as db:
            rows = db.execute(
                f"SELECT {KEY} FROM api_keys {where} ORDER BY created_at, id", args
            ).fetchall()
        return [_key_of(r) for r in rows]

    def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key (again is harmless); UserError if there is no such key."""
        with self._tx("revoke_api_key", write=True) as db:
            if not db.execute("SELECT 1 FROM api_keys WHERE id = ?", (key_id,)).fetchone():
                raise UserError(f"no API key {key_id}")
            db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (self._clock(), key_id),
            )

    # web sessions -------------------------------------------------------------------------

    def add_session(self, user_id: str, *, token_hash: str, expires_at: float) -> None:
        """Record a login session by its token's hash, until ``expires_at`` (store clock);
        expired sessions are deleted on the way."""
        now = self._clock()
        with self._tx("add_session", write=True) as db:
            self._user(db, user_id)
            db.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT INTO web_sessions (token_hash, user_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (token_hash, user_id, now, float(expires_at)),
            )

    def session_user(self, token_hash: str) -> User | None:
        """The session's user; None when the session is unknown or expired."""
        cols = ", ".join(f"u.{c}" for c in USER.split(", "))
        with self._tx("session_user") as db:
            row = db.execute(
                f"SELECT {cols} FROM web_sessions AS s JOIN users AS u ON u.id = s.user_id "
                "WHERE s.token_hash = ? AND s.expires_at > ?",
                (token_hash, self._clock()),
            ).fetchone()
        return None if row is None else _user_of(row)

    def delete_session(self, token_hash: str) -> None:
        """End a session (nothing happens if it is unknown)."""
        with self._tx("delete_session", write=True) as db:
            db.execute("DELETE FROM web_sessions WHERE token_hash = ?", (token_hash,))

    # spend --------------------------------------------------------------------------------

    def reserve_spend(self, user_id: str, usd: float, *, conversation_id: str | None) -> str:
        """Record ``usd`` as reserved for a turn now (store clock); returns the row's id."""
        spend_id = new_id()
        with self._tx("reserve_spend", write=True) as db:
            self._user(db, user_id)
            db.execute(
                "INSERT INTO spend (id, user_id, conversation_id, usd, status, created_at) "
                "VALUES (?, ?, ?, ?, 'reserved', ?)",
                (spend_id, user_id, conversation_id, float(usd), self._clock()),
            )
        return spend_id

    def settle_spend(self, spend_id: str, usd: float) -> None:
        """Replace a reservation by the exact figure the turn billed."""
        with self._tx("settle_spend", write=True) as db:
            cur = db.execute(
                "UPDATE spend SET usd = ?, status = 'settled' WHERE id = ?", (float(usd), spend_id)
            )
            if cur.rowcount == 0:
                raise UserError(f"no spend row {spend_id}")

    def spend_since(self, user_id: str, since: float) -> float:
        """Dollars reserved or settled by the user at or after ``since``."""
        with self._tx("spend_since") as db:
            row = db.execute(
                "SELECT coalesce(sum(usd), 0) FROM spend WHERE user_id = ? AND created_at >= ?",
                (user_id, since),
            ).fetchone()
        return float(row[0])

    def spend_by_user(self, since: float) -> dict[str, float]:
        """Dollars reserved or settled at or after ``since``, per user id that spent any."""
        with self._tx("spend_by_user") as db:
            rows = db.execute(
                "SELECT user_id, sum(usd) FROM spend WHERE created_at >= ? GROUP BY user_id",
                (since,),
            ).fetchall()
        return {r[0]: float(r[1]) for r in rows}

    # turns across workers -----------------------------------------------------------------

    def active_turns(self, owner: str) -> int:
        """How many of the owner's conversations have a turn lease held and not expired."""
        with self._tx("active_turns") as db:
            row = db.execute(
                "SELECT count(*) FROM conversations WHERE owner = ? "
                "AND lease_owner IS NOT NULL AND lease_expires > ?",
                (owner, self._clock()),
            ).fetchone()
        return int(row[0])

    def request_stop(self, conversation_id: str) -> bool:
        """Ask the worker running the conversation's turn to stop; False if none is held."""
        with self._tx("request_stop", write=True) as db:
            cur = db.execute(
                "UPDATE conversations SET stop_requested = ? WHERE id = ? "
                "AND lease_owner IS NOT NULL AND lease_expires > ?",
                (True, conversation_id, self._clock()),
            )
            if cur.rowcount:
                return True
            if not db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)
                              ).fetchone():  # fmt: skip
                raise ConversationNotFound(f"no conversation {conversation_id}")
            return False

    def stop_requested(self, conversation_id: str) -> bool:
        """True when a stop was asked for the turn held now (``claim_turn`` clears it)."""
        with self._tx("stop_requested") as db:
            row = db.execute(
                "SELECT stop_requested, lease_owner, lease_expires FROM conversations WHERE id = ?",
                (conversation_id,),
            ).fetchone()
        if row is None:
            raise ConversationNotFound(f"no conversation {conversation_id}")
        held = row[1] is not None and float(row[2]) > self._clock()
        return held and bool(row[0])

    def stops_requested(self, conversation_ids: Sequence[str]) -> set[str]:
        """Those of ``conversation_ids`` whose held turn was asked to stop (one query for
        every turn a worker runs, unknown ids ignored)."""
        asked: set[str] = set()
        ids = list(dict.fromkeys(conversation_ids))
        with self._tx("stops_requested") as db:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT id FROM conversations WHERE id IN ({marks}) AND stop_requested = ? "
                    "AND lease_owner IS NOT NULL AND lease_expires > ?",
                    (*chunk, True, self._clock()),
                ).fetchall()
                asked.update(str(row[0]) for row in rows)
        return asked
