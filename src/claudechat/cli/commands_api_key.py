"""``claudechat keys set|path|rm``: the Anthropic API key this CLI uses, kept in the
system keyring or a 0600 file (added to the ``keys`` group of the service's API keys)."""

from __future__ import annotations

import os
import sys

import click

from .commands_accounts import keys

__all__ = ["keys"]


@keys.command("set")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the key from stdin (one line).")
def keys_set(from_stdin: bool) -> None:
    """Keep the Anthropic API key (system keyring, else a 0600 file; never the database)."""
    from .api_key import store_key

    if from_stdin or not sys.stdin.isatty():
        key = sys.stdin.readline()
    else:
        key = click.prompt("Anthropic API key", hide_input=True)
    place = store_key(key)
    click.echo(f"API key stored in {place}")
    if os.environ.get("ANTHROPIC_API_KEY"):
        click.echo("note: ANTHROPIC_API_KEY is set and wins over the stored key", err=True)


@keys.command("path")
def keys_path() -> None:
    """Say where the API key the CLI uses comes from (the environment wins)."""
    from .api_key import key_file, where

    place = where(os.environ)
    if place is None:
        click.echo(f"no API key stored (claudechat keys set keeps one; file: {key_file()})")
        return
    click.echo(str(place))


@keys.command("rm")
def keys_rm() -> None:
    """Remove the stored API key (the keyring entry and the file)."""
    from .api_key import remove_key

    removed = remove_key()
    if not removed:
        click.echo("no API key was stored", err=True)
    for place in removed:
        click.echo(f"removed the API key from {place}")
    if os.environ.get("ANTHROPIC_API_KEY"):
        click.echo("note: ANTHROPIC_API_KEY is still set in the environment", err=True)
