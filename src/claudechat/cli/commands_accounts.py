"""The service's accounts: ``users add/list/passwd/limit`` and ``keys create/list/revoke``.

They work on the configured store (``--store`` / ``--db``), the one ``claudechat serve``
uses. Passwords are read from stdin (``--password-stdin``, one line) or a hidden prompt,
and stored as argon2id hashes; a new API key is printed once, alone on the last line.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from .options import runtime_from, store_options

if TYPE_CHECKING:
    from ..store.accounts import ApiKey, Limits, ServiceStore, User
    from .runtime import Runtime

__all__ = ["COMMANDS"]


def _accounts(runtime: Runtime) -> ServiceStore:
    """The configured store, which keeps accounts as well as conversations."""
    from ..errors import ConfigError
    from ..store.accounts import ServiceStore

    store = runtime.store()
    if not isinstance(store, ServiceStore):  # every store claudechat ships is one
        raise ConfigError(f"{type(store).__name__} keeps no user accounts")
    return store


def _when(t: float | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def _read_password(from_stdin: bool) -> str:
    """One line of stdin (without its line ending), or a hidden prompt asked twice."""
    from ..credentials import check_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    check_password(password)
    return password


@click.group()
def users() -> None:
    """Users of `claudechat serve`: add, list, set a password or limits."""


@users.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May see every user's usage.")
@click.option("--password-stdin", is_flag=True, help="Read a password (one line) from stdin.")
@store_options
def users_add(name: str, admin: bool, password_stdin: bool, **params: Any) -> None:
    """Add a user (with a password only if --password-stdin; give it a key otherwise)."""
    from ..credentials import hash_password

    hashed = hash_password(_read_password(True)) if password_stdin else None
    with runtime_from(params) as runtime:
        user = _accounts(runtime).add_user(name, is_admin=admin, password_hash=hashed)
    role = "admin" if user.is_admin else "user"
    click.echo(f"added {role} {user.name} (id {user.id})")


def _limits_text(limits: Limits) -> str:
    parts = []
    if limits.usd_per_day is not None:
        parts.append(f"${limits.usd_per_day:g}/day")
    if limits.usd_per_month is not None:
        parts.append(f"${limits.usd_per_month:g}/month")
    if limits.concurrent_streams is not None:
        parts.append(f"{limits.concurrent_streams} streams")
    return ", ".join(parts) or "none"


def _user_row(user: User) -> str:
    role = "admin" if user.is_admin else "user"
    password = "password" if user.has_password else "no password"
    return f"{user.name:<20} {user.id:<32}  {role:<5}  {password:<11}  {_limits_text(user.limits)}"


@users.command("list")
@store_options
def users_list(**params: Any) -> None:
    """Every user: name, id, role, whether it has a password, its limits."""
    with runtime_from(params) as runtime:
        found = _accounts(runtime).list_users()
    click.echo(f"{'NAME':<20} {'ID':<32}  {'ROLE':<5}  {'PASSWORD':<11}  LIMITS")
    for user in found:
        click.echo(_user_row(user))


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password (one line) from stdin.")
@store_options
def users_passwd(name: str, password_stdin: bool, **params: Any) -> None:
    """Set a user's password (a hidden prompt unless --password-stdin)."""
    from ..credentials import hash_password

    with runtime_from(params) as runtime:
        store = _accounts(runtime)
        user = store.user_by_name(name)
        store.set_password(user.id, hash_password(_read_password(password_stdin)))
    click.echo(f"password of {user.name} set")


class _LimitType(click.ParamType[float, Any]):
    """A limit: a number ≥ 0, where 0 or "none" clears it (float("inf") marks a clear)."""

    name = "LIMIT"

    def __init__(self, kind: type[int] | type[float]) -> None:
        self.kind = kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float):
            return value
        text = str(value).strip().lower()
        if text == "none":
            return math.inf
        try:
            number = self.kind(text)
        except ValueError:
            kind = "whole number" if self.kind is int else "number"
            self.fail(f"{value!r} is not a {kind} or 'none'", param, ctx)
        if not number >= 0 or math.isinf(number):
            self.fail(f"{value!r} must be ≥ 0 (0 or 'none' clears the limit)", param, ctx)
        return math.inf if number == 0 else number


def _merged(old: Limits, day: Any, month: Any, streams: Any) -> Limits:
    """The old limits with the given ones changed (inf clears one)."""
    from dataclasses import replace

    changes = {}
    for field, value in (("usd_per_day", day), ("usd_per_month", month),
                         ("concurrent_streams", streams)):  # fmt: skip
        if value is not None:
            changes[field] = None if value == math.inf else value
    return replace(old, **changes)


@users.command("limit")
@click.argument("name")
@click.option("--usd-per-day", type=_LimitType(float), default=None, help="Dollars a UTC day.")
@click.option("--usd-per-month", type=_LimitType(float), default=None, help="Dollars a month.")
@click.option("--concurrent-streams", type=_LimitType(int), default=None, help="Replies at once.")
@store_options
def users_limit(
    name: str, usd_per_day: Any, usd_per_month: Any, concurrent_streams: Any, **params: Any
) -> None:
    """Show or change a user's limits (0 or "none" clears one; others are kept)."""
    with runtime_from(params) as runtime:
        store = _accounts(runtime)
        user = store.user_by_name(name)
        limits = _merged(user.limits, usd_per_day, usd_per_month, concurrent_streams)
        if limits != user.limits:
            store.set_limits(user.id, limits)
    click.echo(f"limits of {user.name}: {_limits_text(limits)}")


@click.group()
def keys() -> None:
    """API keys of `claudechat serve`: create (shown once), list, revoke."""


@keys.command("create")
@click.argument("name")
@store_options
def keys_create(name: str, **params: Any) -> None:
    """Make an API key for user NAME; the key is printed once, alone on the last line."""
    from ..credentials import new_api_key

    made = new_api_key()
    with runtime_from(params) as runtime:
        store = _accounts(runtime)
        user = store.user_by_name(name)
        key = store.add_api_key(user.id, key_hash=made.hash, prefix=made.prefix)
    click.echo(f"API key {key.id} for {user.name} (prefix {key.prefix}); it is shown only once:")
    click.echo(made.plaintext)


def _key_row(key: ApiKey, names: dict[str, str]) -> str:
    state = f"revoked {_when(key.revoked_at)}" if key.revoked_at is not None else "active"
    user = names.get(key.user_id, key.user_id)
    return (
        f"{key.id:<32}  cc_{key.prefix}…  {user:<20} {_when(key.created_at):<16}  "
        f"{_when(key.last_used_at):<16}  {state}"
    )


@keys.command("list")
@click.argument("name", required=False)
@store_options
def keys_list(name: str | None, **params: Any) -> None:
    """API keys (of user NAME, or everyone's): id, prefix, user, created, last used, state."""
    with runtime_from(params) as runtime:
        store = _accounts(runtime)
        user_id = store.user_by_name(name).id if name is not None else None
        found = store.list_api_keys(user_id)
        names = {u.id: u.name for u in store.list_users()}
    header = f"{'ID':<32}  {'PREFIX':<12}  {'USER':<20} {'CREATED':<16}  {'LAST USED':<16}  STATE"
    click.echo(header)
    for key in found:
        click.echo(_key_row(key, names))


@keys.command("revoke")
@click.argument("key_id")
@store_options
def keys_revoke(key_id: str, **params: Any) -> None:
    """Revoke an API key by its id (as `keys list` shows it)."""
    with runtime_from(params) as runtime:
        _accounts(runtime).revoke_api_key(key_id)
    click.echo(f"API key {key_id} revoked")


COMMANDS = (users, keys)
