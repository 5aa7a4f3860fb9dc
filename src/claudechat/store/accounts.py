"""The service's accounts beside the conversations: users, API keys, web sessions, spend.

``AccountStore`` is implemented by MemoryStore, SQLiteStore and PostgresStore. Secrets are
never stored in clear: keys and session tokens as their SHA-256, passwords as argon2id
hashes (``claudechat.credentials`` makes them). Times are the store clock's.

Spend rows let several workers enforce one limit: a turn first reserves the most it can
cost (``reserve_spend``), then settles the exact figure (``settle_spend``); both count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..errors import UserError
from .base import Store
from .memories import MemoryFiles

__all__ = [
    "AccountStore",
    "ApiKey",
    "Limits",
    "ServiceStore",
    "User",
    "check_limits",
    "check_user_id",
    "check_user_name",
    "last_use_due",
]

LAST_USED_RESOLUTION = 60.0  # seconds: an API key's last use is recorded at most this often


def last_use_due(last_used_at: float | None, now: float) -> bool:
    """Whether a key used at ``now`` should have that use written: never written yet, or
    written ``LAST_USED_RESOLUTION`` seconds before (or after ``now``: a clock set back)."""
    return last_used_at is None or not 0 <= now - last_used_at < LAST_USED_RESOLUTION


_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


def check_user_name(name: str) -> str:
    """The name, or UserError unless it is 1 to 64 of ``A-Z a-z 0-9 _ . @ -``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UserError(
            f"user name {name!r}: use 1 to 64 letters, digits or the characters _ . @ -"
        )
    return name


def check_user_id(user_id: str) -> str:
    """The id, or UserError unless it is 1 to 256 printable characters (an id another
    authentication system gave, which ``ensure_user`` also takes as the name)."""
    if not isinstance(user_id, str) or not 1 <= len(user_id) <= 256 or not user_id.isprintable():
        raise UserError(f"user id {user_id!r}: use 1 to 256 printable characters")
    return user_id


@dataclass(frozen=True, slots=True)
class Limits:
    """A user's spend and concurrency limits; None is no limit."""

    usd_per_day: float | None = None
    usd_per_month: float | None = None
    concurrent_streams: int | None = None


def check_limits(limits: Limits) -> Limits:
    """The limits, or UserError if one is negative (or a stream count is not whole)."""
    for name in ("usd_per_day", "usd_per_month"):
        value = getattr(limits, name)
        if value is not None and not value >= 0:  # NaN too
            raise UserError(f"{name} must be a number of dollars ≥ 0, not {value}")
    streams = limits.concurrent_streams
    if streams is not None and (isinstance(streams, bool) or not isinstance(streams, int)
                                or streams < 0):  # fmt: skip
        raise UserError(f"concurrent_streams must be a whole number ≥ 0, not {streams}")
    return limits


@dataclass(frozen=True, slots=True)
class User:
    """A user of the service (never its password hash)."""

    id: str
    name: str
    created_at: float
    is_admin: bool
    has_password: bool
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key's public facts: its prefix names it; the key itself is never kept."""

    id: str
    user_id: str
    prefix: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


@runtime_checkable
class AccountStore(Protocol):
    """Users, API keys, web sessions, spend and cross-worker turn controls."""

    def message_conversation(self, message_id: str) -> str:
        """The id of the conversation a message is in; ConversationNotFound if unknown."""
        ...

    # users
    def add_user(
        self, name: str, *, is_admin: bool = False, password_hash: str | None = None
    ) -> User:
        """A new user; UserError if the name is taken or not ``[A-Za-z0-9_.@-]{1,64}``."""
        ...

    def get_user(self, user_id: str) -> User:
        """The user with that id; UserNotFound if there is none."""
        ...

    def user_by_name(self, name: str) -> User:
        """The user with that name; UserNotFound if there is none."""
        ...

    def ensure_user(self, user_id: str) -> User:
        """The user with that id, created (named as its id) if missing: for pluggable auth
        (any id of 1 to 256 printable characters)."""
        ...

    def list_users(self) -> list[User]:
        """Every user, by name."""
        ...

    def set_password(self, user_id: str, password_hash: str | None) -> None:
        """Store a user's password hash (None removes the password)."""
        ...

    def password_hash(self, user_id: str) -> str | None:
        """The user's password hash, None without a password; UserNotFound if unknown."""
        ...

    def set_limits(self, user_id: str, limits: Limits) -> None:
        """Replace the user's limits."""
        ...

    def set_admin(self, user_id: str, is_admin: bool) -> None:
        """Make the user an admin, or not."""
        ...

    # API keys
    def add_api_key(self, user_id: str, *, key_hash: str, prefix: str) -> ApiKey:
        """Record a key by its hash (``credentials.new_api_key`` makes both)."""
        ...

    def api_key_user(self, key_hash: str, *, record_use: bool = True) -> tuple[User, ApiKey] | None:
        """The user and key of an unrevoked key's hash (its last use is recorded, unless
        ``record_use`` is false: then the store is only read); else None."""
        ...

    def list_api_keys(self, user_id: str | None = None) -> list[ApiKey]:
        """The keys of a user (None: everyone's), oldest first, revoked ones included."""
        ...

    def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key (again is harmless); UserError if there is no such key."""
        ...

    # web sessions
    def add_session(self, user_id: str, *, token_hash: str, expires_at: float) -> None:
        """Record a login session by its token's hash, until ``expires_at`` (store clock)."""
        ...

    def session_user(self, token_hash: str) -> User | None:
        """The session's user; None when the session is unknown or expired."""
        ...

    def delete_session(self, token_hash: str) -> None:
        """End a session (nothing happens if it is unknown)."""
        ...

    # spend
    def reserve_spend(self, user_id: str, usd: float, *, conversation_id: str | None) -> str:
        """Record ``usd`` as reserved for a turn now (store clock); returns the row's id."""
        ...

    def settle_spend(self, spend_id: str, usd: float) -> None:
        """Replace a reservation by the exact figure the turn billed."""
        ...

    def spend_since(self, user_id: str, since: float) -> float:
        """Dollars reserved or settled by the user at or after ``since``."""
        ...

    def spend_by_user(self, since: float) -> dict[str, float]:
        """Dollars reserved or settled at or after ``since``, per user id that spent any."""
        ...

    # turns across workers
    def active_turns(self, owner: str) -> int:
        """How many of the owner's conversations have a turn lease held and not expired."""
        ...

    def request_stop(self, conversation_id: str) -> bool:
        """Ask the worker running the conversation's turn to stop; False if none is held."""
        ...

    def stop_requested(self, conversation_id: str) -> bool:
        """True when a stop was asked for the turn held now (``claim_turn`` clears it)."""
        ...

    def stops_requested(self, conversation_ids: Sequence[str]) -> set[str]:
        """Those of ``conversation_ids`` whose held turn was asked to stop (one read for
        every turn a worker runs; unknown ids ignored)."""
        ...


@runtime_checkable
class ServiceStore(Store, AccountStore, MemoryFiles, Protocol):
    """A store of conversations, accounts and memory-tool trees: what the service runs on
    (all three are)."""
