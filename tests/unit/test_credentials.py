"""API keys, password hashes, session and CSRF tokens (claudechat.credentials)."""

from __future__ import annotations

import hashlib
import re

import pytest

from claudechat.credentials import (
    check_password,
    csrf_token,
    hash_password,
    key_hash,
    new_api_key,
    new_session_token,
    verify_password,
)
from claudechat.errors import UserError


def test_api_keys_have_the_documented_shape_and_hash() -> None:
    keys = [new_api_key() for _ in range(20)]
    for key in keys:
        assert re.fullmatch(r"cc_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", key.plaintext)
        assert key.plaintext.split("_")[1] == key.prefix
        assert key.hash == key_hash(key.plaintext)
        assert key.hash == hashlib.sha256(key.plaintext.encode()).hexdigest()
        assert key.plaintext not in repr(key) and key.prefix in repr(key)
    assert len({k.plaintext for k in keys}) == len(keys)


def test_passwords_are_argon2id_and_verified() -> None:
    stored = hash_password("a fine password")
    assert stored.startswith("$argon2id$")
    assert "a fine password" not in stored
    assert hash_password("a fine password") != stored  # salted
    assert verify_password(stored, "a fine password")
    assert not verify_password(stored, "a fine passworD")
    assert not verify_password(stored, "")
    assert not verify_password("not a hash", "a fine password")
    assert not verify_password(stored, "x" * 5000)


@pytest.mark.parametrize("password", ["", "seven77", "x" * 1025])
def test_password_length_rules(password: str) -> None:
    with pytest.raises(UserError, match="8 to 1024 characters"):
        hash_password(password)
    check_password("eight888")
    check_password("x" * 1024)


def test_session_and_csrf_tokens() -> None:
    token, token_hash = new_session_token()
    assert len(token) >= 40 and token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert csrf_token(token) == hashlib.sha256(f"csrf:{token}".encode()).hexdigest()
    assert csrf_token(token) != token_hash
    other, _ = new_session_token()
    assert other != token and csrf_token(other) != csrf_token(token)
