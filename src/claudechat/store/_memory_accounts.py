"""The ``AccountStore`` half of MemoryStore: users, keys, sessions and spend in dicts.

Mixed into ``MemoryStore``, which owns the lock, the clock and the turn leases.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

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
from .base import LOCAL_USER, Conversation

__all__ = ["MemoryAccounts"]


@dataclass(slots=True)
class _Spend:
    user_id: str
    usd: float
    created_at: float
    conversation_id: str | None
    settled: bool = False


class MemoryAccounts:
    """Accounts kept in process memory, under the store's lock."""

    _clock: Callable[[], float]
    _lock: threading.RLock
    _convs: dict[str, Conversation]
    _leases: dict[str, tuple[str, float]]
    _stops: set[str]

    def _start_accounts(self) -> None:
        """Empty tables but for the ``local`` user, as the migration leaves a database."""
        self._users: dict[str, User] = {}
        self._passwords: dict[str, str] = {}  # user id → argon2id hash
        self._keys: dict[str, ApiKey] = {}
        self._key_hashes: dict[str, str] = {}  # key hash → key id
        self._sessions: dict[str, tuple[str, float]] = {}  # token hash → (user id, expires)
        self._spend: dict[str, _Spend] = {}
        local = User(LOCAL_USER, LOCAL_USER, self._clock(), False, False, Limits())
        self._users[LOCAL_USER] = local

    # users --------------------------------------------------------------------------------

    def _user(self, user_id: str) -> User:
        try:
            return self._users[user_id]
        except KeyError:
            raise UserNotFound(f"no user {user_id}") from None

    def add_user(
        self, name: str, *, is_admin: bool = False, password_hash: str | None = None
    ) -> User:
        """A new user; UserError if the name is taken or not ``[A-Za-z0-9_.@-]{1,64}``."""
        check_user_name(name)
        return self._add_user(new_id(), name, is_admin=is_admin, password_hash=password_hash)

    def _add_user(
        self, user_id: str, name: str, *, is_admin: bool, password_hash: str | None
    ) -> User:
        with self._lock:
            if any(u.name == name for u in self._users.values()):
                raise UserError(f"a user named {name} exists already")
            if user_id in self._users:
                raise UserError(f"a user with id {user_id} exists already")
            user = User(user_id, name, self._clock(), bool(is_admin), password_hash is not None)
            self._users[user_id] = user
            if password_hash is not None:
                self._passwords[user_id] = password_hash
            return user

    def get_user(self, user_id: str) -> User:
        """The user with that id; UserNotFound if there is none."""
        with self._lock:
            return self._user(user_id)

    def user_by_name(self, name: str) -> User:
        """The user with that name; UserNotFound if there is none."""
        with self._lock:
            found = next((u for u in self._users.values() if u.name == name), None)
        if found is None:
            raise UserNotFound(f"no user named {name}")
        return found

    def ensure_user(self, user_id: str) -> User:
        """The user with that id, created (named as its id) if missing."""
        with self._lock:
            found = self._users.get(user_id)
            if found is not None:
                return found
            check_user_id(user_id)
            return self._add_user(user_id, user_id, is_admin=False, password_hash=None)

    def list_users(self) -> list[User]:
        """Every user, by name."""
        with self._lock:
            return sorted(self._users.values(), key=lambda u: u.name)

    def set_password(self, user_id: str, password_hash: str | None) -> None:
        """Store a user's password hash (None removes the password)."""
        with self._lock:
            user = self._user(user_id)
            if password_hash is None:
                self._passwords.pop(user_id, None)
            else:
                self._passwords[user_id] = password_hash
            self._users[user_id] = replace(user, has_password=password_hash is not None)

    def password_hash(self, user_id: str) -> str | None:
        """The user's password hash, None without a password; UserNotFound if unknown."""
        with self._lock:
            self._user(user_id)
            return self._passwords.get(user_id)

    def set_limits(self, user_id: str, limits: Limits) -> None:
        """Replace the user's limits."""
        check_limits(limits)
        with self._lock:
            self._users[user_id] = replace(self._user(user_id), limits=limits)

    def set_admin(self, user_id: str, is_admin: bool) -> None:
        """Make the user an admin, or not."""
        with self._lock:
            self._users[user_id] = replace(self._user(user_id), is_admin=bool(is_admin))

    # API keys -----------------------------------------------------------------------------

    def add_api_key(self, user_id: str, *, key_hash: str, prefix: str) -> ApiKey:
        """Record a key by its hash (``credentials.new_api_key`` makes both)."""
        with self._lock:
            self._user(user_id)
            if key_hash in self._key_hashes:
                raise UserError("that API key exists already")
            key = ApiKey(new_id(), user_id, prefix, self._clock(), None, None)
            self._keys[key.id] = key
            self._key_hashes[key_hash] = key.id
            return key

    def api_key_user(self, key_hash: str, *, record_use: bool = True) -> tuple[User, ApiKey] | None:
        """The user and key of an unrevoked key's hash, else None; its last use is recorded
        at most every ``LAST_USED_RESOLUTION`` seconds (never with ``record_use`` false)."""
        with self._lock:
            key_id = self._key_hashes.get(key_hash)
            key = self._keys.get(key_id) if key_id is not None else None
            if key is None or key.revoked_at is not None:
                return None
            now = self._clock()
            if record_use and last_use_due(key.last_used_at, now):
                key = self._keys[key.id] = replace(key, last_used_at=now)
            return self._user(key.user_id), key

    def list_api_keys(self, user_id: str | None = None) -> list[ApiKey]:
        """The keys of a user (None: everyone's), oldest first, revoked ones included."""
        with self._lock:
            keys = [k for k in self._keys.values() if user_id is None or k.user_id == user_id]
        return sorted(keys, key=lambda k: (k.created_at, k.id))

    def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key (again is harmless); UserError if there is no such key."""
        with self._lock:
            key = self._keys.get(key_id)
            if key is None:
                raise UserError(f"no API key {key_id}")
            if key.revoked_at is None:
                self._keys[key_id] = replace(key, revoked_at=self._clock())

    # web sessions -------------------------------------------------------------------------

    def add_session(self, user_id: str, *, token_hash: str, expires_at: float) -> None:
        """Record a login session by its token's hash, until ``expires_at`` (store clock)."""
        with self._lock:
            self._user(user_id)
            self._sessions[token_hash] = (user_id, float(expires_at))

    def session_user(self, token_hash: str) -> User | None:
        """The session's user; None when the session is unknown or expired."""
        with self._lock:
            user_id, expires = self._sessions.get(token_hash, ("", 0.0))
            if not user_id or expires <= self._clock():
                return None
            return self._users.get(user_id)

    def delete_session(self, token_hash: str) -> None:
        """End a session (nothing happens if it is unknown)."""
        with self._lock:
            self._sessions.pop(token_hash, None)

    # spend --------------------------------------------------------------------------------

    def reserve_spend(self, user_id: str, usd: float, *, conversation_id: str | None) -> str:
        """Record ``usd`` as reserved for a turn now (store clock); returns the row's id."""
        with self._lock:
            self._user(user_id)
            spend_id = new_id()
            self._spend[spend_id] = _Spend(user_id, float(usd), self._clock(), conversation_id)
            return spend_id

    def settle_spend(self, spend_id: str, usd: float) -> None:
        """Replace a reservation by the exact figure the turn billed."""
        with self._lock:
            row = self._spend.get(spend_id)
            if row is None:
                raise UserError(f"no spend row {spend_id}")
            row.usd, row.settled = float(usd), True

    def spend_since(self, user_id: str, since: float) -> float:
        """Dollars reserved or settled by the user at or after ``since``."""
        return self.spend_by_user(since).get(user_id, 0.0)

    def spend_by_user(self, since: float) -> dict[str, float]:
        """Dollars reserved or settled at or after ``since``, per user id that spent any."""
        out: dict[str, float] = {}
        with self._lock:
            for row in self._spend.values():
                if row.created_at >= since:
                    out[row.user_id] = out.get(row.user_id, 0.0) + row.usd
        return out

    # turns across workers -----------------------------------------------------------------

    def active_turns(self, owner: str) -> int:
        """How many of the owner's conversations have a turn lease held and not expired."""
        with self._lock:
            now = self._clock()
            return sum(
                1
                for cid, (_, expires) in self._leases.items()
                if expires > now and self._convs[cid].owner == owner
            )

    def _held(self, conversation_id: str) -> bool:
        if conversation_id not in self._convs:
            raise ConversationNotFound(f"no conversation {conversation_id}")
        _, expires = self._leases.get(conversation_id, ("", 0.0))
        return expires > self._clock()

    def request_stop(self, conversation_id: str) -> bool:
        """Ask the worker running the conversation's turn to stop; False if none is held."""
        with self._lock:
            if not self._held(conversation_id):
                return False
            self._stops.add(conversation_id)
            return True

    def stop_requested(self, conversation_id: str) -> bool:
        """True when a stop was asked for the turn held now (``claim_turn`` clears it)."""
        with self._lock:
            return self._held(conversation_id) and conversation_id in self._stops

    def stops_requested(self, conversation_ids: Sequence[str]) -> set[str]:
        """Those of ``conversation_ids`` whose held turn was asked to stop (unknown ids
        ignored)."""
        with self._lock:
            return {c for c in conversation_ids if c in self._stops and c in self._convs
                    and self._held(c)}  # fmt: skip
