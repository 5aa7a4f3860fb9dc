"""Passwords, API keys and session tokens never reach the database in clear: every table
and column of the SQLite file (and its WAL) and of the PostgreSQL database is scanned."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from claudechat.credentials import (
    csrf_token,
    hash_password,
    key_hash,
    new_api_key,
    new_session_token,
    verify_password,
)
from claudechat.store import ServiceStore, SQLiteStore

PASSWORDS = ["Tr0ub4dor&3-sentinel", "correct horse battery staple sentinel"]


def make_accounts(store: ServiceStore) -> tuple[list[str], list[str]]:
    """Users with passwords, keys and sessions, used once each; returns every secret, and
    what the store should keep instead (hashes)."""
    secrets: list[str] = list(PASSWORDS)
    kept: list[str] = []
    for i, password in enumerate(PASSWORDS):
        user = store.add_user(f"user{i}", password_hash=hash_password(password))
        stored = store.password_hash(user.id)
        assert stored is not None and stored.startswith("$argon2id$")
        assert verify_password(stored, password) and not verify_password(stored, password + "x")
        for _ in range(2):
            key = new_api_key()
            store.add_api_key(user.id, key_hash=key.hash, prefix=key.prefix)
            found = store.api_key_user(key_hash(key.plaintext))
            assert found is not None and found[0].id == user.id
            secret_part = key.plaintext.split("_", 2)[2]  # its own "_" and "-" stay in it
            assert len(secret_part) == 43
            secrets += [key.plaintext, secret_part]
            kept.append(key.hash)
        token, token_hash = new_session_token()
        store.add_session(user.id, token_hash=token_hash, expires_at=4e9)
        assert store.session_user(token_hash) == store.get_user(user.id)
        secrets += [token, csrf_token(token)]
        kept += [token_hash, stored]
    revoked = store.list_api_keys()[0]
    store.revoke_api_key(revoked.id)
    return secrets, kept


def _sqlite_values(path: Path) -> dict[str, list[str]]:
    """Every value of every column of every table, as text, by table."""
    out: dict[str, list[str]] = {}
    conn = sqlite3.connect(path)
    try:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            out[table] = [
                v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                for row in conn.execute(f'SELECT * FROM "{table}"')
                for v in row
            ]
    finally:
        conn.close()
    return out


def _check(values: dict[str, list[str]], secrets: list[str], kept: list[str]) -> None:
    assert all(len(s) >= 20 for s in secrets)  # a short one would match by chance
    assert {"users", "api_keys", "web_sessions", "spend", "conversations"} <= set(values)
    for table, texts in values.items():
        for text in texts:
            assert not any(s in text for s in secrets), (table, text)
    everything = "\n".join(t for texts in values.values() for t in texts)
    assert all(k in everything for k in kept)  # the scan does read what is stored


def test_no_secret_in_the_sqlite_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "chat.db"
    store = SQLiteStore(db)
    secrets, kept = make_accounts(store)
    _check(_sqlite_values(db), secrets, kept)
    for path in tmp_path.iterdir():  # the WAL too, before it is folded into the file
        data = path.read_bytes()
        assert not any(s.encode() in data for s in secrets), path
    store.close()
    data = db.read_bytes()
    assert not any(s.encode() in data for s in secrets)
    assert not any(s in caplog.text for s in secrets)


@pytest.mark.postgres
def test_no_secret_in_postgres(pg_database: str, caplog: pytest.LogCaptureFixture) -> None:
    from claudechat.store.postgres import PostgresStore

    caplog.set_level(logging.DEBUG)
    store = PostgresStore(pg_database)
    try:
        secrets, kept = make_accounts(store)
        values: dict[str, list[str]] = {}
        with store._tx("scan") as db:
            tables = db.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            ).fetchall()
            for (table,) in tables:
                rows = db.execute(f'SELECT t::text FROM "{table}" AS t').fetchall()
                values[table] = [r[0] for r in rows]
        _check(values, secrets, kept)
    finally:
        store.close()
    assert not any(s in caplog.text for s in secrets)
