"""Numbered schema migrations, one ``<dialect>_<NNNN>_<name>.sql`` file each.

On opening, a store applies in order, in one transaction, the migrations whose numbers
its ``schema_migrations`` table does not list yet, and records each one there.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from importlib import resources

from ...errors import StoreError

__all__ = ["Migration", "load", "pending", "split_sqlite"]

_NAME = re.compile(r"^(?P<dialect>[a-z]+)_(?P<version>\d{4})_(?P<name>\w+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its number, name and SQL."""

    version: int
    name: str
    sql: str


def load(dialect: str) -> list[Migration]:
    """The migrations of ``dialect`` ("sqlite" or "postgres"), lowest number first."""
    out = []
    for entry in resources.files(__name__).iterdir():
        match = _NAME.match(entry.name)
        if match and match["dialect"] == dialect:
            out.append(Migration(int(match["version"]), match["name"], entry.read_text("utf-8")))
    out.sort(key=lambda m: m.version)
    if len({m.version for m in out}) != len(out):
        raise RuntimeError(f"two {dialect} migrations share a number")
    return out


def pending(migrations: Sequence[Migration], done: Collection[int]) -> list[Migration]:
    """The migrations whose numbers are not in ``done``, in order; StoreError when the
    database has one newer than all of them (a newer claudechat wrote it)."""
    known = max((m.version for m in migrations), default=0)
    if done and max(done) > known:
        raise StoreError(
            f"the database is at schema version {max(done)}, newer than this claudechat "
            f"knows ({known}): upgrade claudechat"
        )
    return [m for m in migrations if m.version not in done]


def split_sqlite(sql: str) -> list[str]:
    """Split a script into statements (triggers' inner semicolons kept), comments dropped."""
    out: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current.append(line)
        text = "\n".join(current)
        if sqlite3.complete_statement(text):
            out.append(text.strip())
            current = []
    if "\n".join(current).strip():
        raise ValueError("the migration ends inside a statement")
    return out
