"""Credentials of the service's users: API keys, passwords, session tokens, CSRF tokens.

Nothing here is stored in clear. An API key is high-entropy, so its SHA-256 is enough to
find it and useless to a database reader; a password is low-entropy and is hashed with
argon2id. A session token is kept as its SHA-256; the CSRF token is derived from the
token itself, so neither can be forged from the database.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import UserError

__all__ = [
    "PASSWORD_MAX",
    "PASSWORD_MIN",
    "NewKey",
    "check_password",
    "csrf_token",
    "hash_password",
    "key_hash",
    "new_api_key",
    "new_session_token",
    "verify_password",
]

PASSWORD_MIN = 8
PASSWORD_MAX = 1024
KEY_PREFIX = "cc_"

_hasher = PasswordHasher()  # argon2id with the library's recommended parameters


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly made API key: the plaintext (shown once), its public prefix, its hash."""

    plaintext: str
    prefix: str
    hash: str

    def __repr__(self) -> str:  # never the plaintext in a log or traceback
        return f"NewKey(prefix={self.prefix!r})"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_api_key() -> NewKey:
    """A new key ``cc_<8 hex prefix>_<43 urlsafe chars>``; the prefix names it in lists."""
    prefix = secrets.token_hex(4)
    plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(plaintext, prefix, key_hash(plaintext))


def key_hash(plaintext: str) -> str:
    """The SHA-256 hex of a key: what the store keeps and looks keys up by."""
    return _sha256(plaintext)


def check_password(password: str) -> None:
    """UserError unless the password has 8 to 1024 characters."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise UserError(
            f"a password needs {PASSWORD_MIN} to {PASSWORD_MAX} characters, not {len(password)}"
        )


def hash_password(password: str) -> str:
    """The argon2id hash of a password (``$argon2id$…``), after ``check_password``."""
    check_password(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches ``stored_hash``; False on a mismatch or a bad hash."""
    if len(password) > PASSWORD_MAX:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_session_token() -> tuple[str, str]:
    """A new session token and the SHA-256 hex the store keeps of it."""
    token = secrets.token_urlsafe(32)
    return token, _sha256(token)


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: SHA-256 hex of ``"csrf:" + token`` (recomputable from
    the cookie; the store holds only the token's own hash, so it cannot give this away)."""
    return _sha256("csrf:" + session_token)
