"""Conversation stores: memory, SQLite (default), PostgreSQL; export and import; the
service's accounts beside them, and a store's view scoped to one user.

``open_store()`` picks one from a spec: a ``postgresql://`` URL, ``:memory:``, or a SQLite
path; with no spec, ``CLAUDECHAT_STORE`` / ``CLAUDECHAT_DB``, else ``claudechat.db`` in the
user data directory. ``PostgresStore`` is imported on first use (psycopg is optional).

Every conversation has an owner (``LOCAL_USER``, "local", for the CLI and the library).
The three stores are also an ``AccountStore`` (``User``, ``ApiKey``, ``Limits``, web
sessions, spend rows): a ``ServiceStore``. ``ScopedStore(store, user_id)`` is one user's
view, in which another owner's conversations do not exist. The memory tool's ``/memories``
trees (``MemoryFile``) are kept beside them, per user and per conversation (``MemoryFiles``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .accounts import AccountStore, ApiKey, Limits, ServiceStore, User
from .base import (
    LOCAL_USER,
    Conversation,
    ConversationInfo,
    MessageHit,
    Store,
    Summary,
    TurnLease,
    branch_tips,
    one_transaction,
    turn_held,
)
from .export import (
    export_conversation,
    export_json,
    export_markdown,
    import_conversation,
    import_file,
)
from .memories import MemoryFile, MemoryFiles
from .memory import MemoryStore
from .scoped import ScopedStore
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from .postgres import PostgresStore

__all__ = [
    "LOCAL_USER",
    "AccountStore",
    "ApiKey",
    "Conversation",
    "ConversationInfo",
    "Limits",
    "MemoryFile",
    "MemoryFiles",
    "MemoryStore",
    "MessageHit",
    "PostgresStore",
    "SQLiteStore",
    "ScopedStore",
    "ServiceStore",
    "Store",
    "Summary",
    "TurnLease",
    "User",
    "branch_tips",
    "default_db_path",
    "export_conversation",
    "export_json",
    "export_markdown",
    "import_conversation",
    "import_file",
    "one_transaction",
    "open_store",
    "turn_held",
]

_PG_PREFIXES = ("postgresql://", "postgres://")


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        from .postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_db_path(*, create: bool = True) -> Path:
    """``claudechat.db`` in the user data directory (the directory made private if created)."""
    import platformdirs

    folder = Path(platformdirs.user_data_dir("claudechat", appauthor=False))
    if create:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / "claudechat.db"


def open_store(spec: str | None = None, *, env: Mapping[str, str] | None = None) -> Store:
    """The store a spec names: ``postgresql://…`` / ``postgres://…`` → PostgresStore,
    ``:memory:`` → MemoryStore, ``sqlite:///path`` or any other text → SQLiteStore at that
    path; None → ``CLAUDECHAT_STORE`` or ``CLAUDECHAT_DB`` from ``env``, else the default."""
    env = os.environ if env is None else env
    if spec is None or not spec.strip():
        spec = env.get("CLAUDECHAT_STORE") or env.get("CLAUDECHAT_DB") or None
    if spec is None or not spec.strip():
        return SQLiteStore(default_db_path())
    spec = spec.strip()
    if spec.startswith(_PG_PREFIXES):
        try:
            from .postgres import PostgresStore
        except ImportError as err:
            raise ConfigError(
                "a postgresql:// store needs psycopg: pip install 'claudechat[postgres]'"
            ) from err
        return PostgresStore(spec)
    if spec == ":memory:":
        return MemoryStore()
    if spec.startswith("sqlite://"):
        spec = spec.removeprefix("sqlite://")
        spec = spec[1:] if spec.startswith("/") else spec
        if not spec:
            raise ConfigError("sqlite:// needs a path: sqlite:///relative.db or sqlite:////abs.db")
    elif "://" in spec:
        raise ConfigError(f"unknown store {spec.split('://')[0]}://: use postgresql:// or a path")
    elif _KEYWORD_CONNINFO.search(spec):  # never a file named after a password
        raise ConfigError(
            "the store looks like a PostgreSQL key=value connection string: write it as "
            "postgresql://user:password@host:port/dbname"
        )
    return SQLiteStore(Path(spec).expanduser())


_KEYWORD_CONNINFO = re.compile(r"(^|\s)(host|hostaddr|dbname|user|password|port|sslmode)\s*=")
