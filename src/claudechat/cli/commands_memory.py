"""``claudechat memory``: what the memory tool keeps — list, show, rm, export, import.

The trees are the local user's: the shared one (``chat --memory shared``) and each
conversation's own (``--memory conversation``; pick one with ``--cid``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .options import runtime_from, store_options

if TYPE_CHECKING:
    from ..store.memories import MemoryFile, MemoryFiles

__all__ = ["COMMANDS", "memory", "memory_lines", "memory_report", "memory_text"]


def _files(store: Any) -> MemoryFiles:
    from ..errors import UserError
    from ..store.memories import MemoryFiles

    if not isinstance(store, MemoryFiles):
        raise UserError(f"{type(store).__name__} holds no memories")
    return store


def _tool_path(path: str) -> str:
    """``notes.md`` or ``/memories/notes.md`` as the tool writes it."""
    from ..memorytool import ROOT

    return path if path.startswith(ROOT) else f"{ROOT}/{path.lstrip('/')}"


def _where(entry: MemoryFile) -> str:
    return "shared" if entry.conversation_id is None else entry.conversation_id


def memory_lines(entries: list[MemoryFile]) -> list[str]:
    """One line per entry: size, path, and whose tree (shared or a conversation id)."""
    lines = []
    for e in entries:
        size = "dir" if e.is_dir else f"{e.size:,} B"
        lines.append(f"{size:>10}  /memories/{e.path}{'/' if e.is_dir else ''}  [{_where(e)}]")
    return lines


def memory_text(store: MemoryFiles, owner: str, cid: str | None, path: str) -> str:
    """A file's text, or a directory's listing, as the memory tool's view shows it."""
    from ..memorytool import MemoryTool

    return MemoryTool(store, owner=owner, conversation_id=cid).run(
        {"command": "view", "path": _tool_path(path)}
    )


def memory_report(chat: Any, path: str | None) -> list[str]:
    """What ``/memory`` shows in a chat: the memories this chat can see (the shared tree
    and its own), or one of them (its own first); ToolRefused for a bad path."""
    from ..errors import ToolRefused
    from ..store.base import LOCAL_USER

    store = _files(chat.store)
    owner = chat.conversation.owner if chat.conversation is not None else LOCAL_USER
    trees = [None] if chat.id is None else [chat.id, None]
    if path is None:
        entries = [e for cid in reversed(trees) for e in store.memories(owner, cid)]
        return memory_lines(entries) or ["no memories yet (chat --memory shared|conversation)"]
    refused: ToolRefused | None = None
    for cid in trees:
        try:
            return memory_text(store, owner, cid, path).splitlines()
        except ToolRefused as err:
            refused = refused or err
    assert refused is not None
    raise refused


def _cid(store: Any, given: str | None) -> str | None:
    from .runtime import resolve_id

    return resolve_id(store, given) if given else None


@click.group()
def memory() -> None:
    """What the memory tool keeps (chat --memory shared|conversation)."""


@memory.command("list")
@click.option("--cid", metavar="ID", default=None, help="Only this conversation's own tree.")
@click.option("--shared", is_flag=True, help="Only the tree shared by every conversation.")
@store_options
def list_(cid: str | None, shared: bool, **params: Any) -> None:
    """List the memory files, with their size and tree."""
    from ..store.base import LOCAL_USER

    with runtime_from(params) as runtime:
        store = _files(runtime.store())
        wanted = _cid(store, cid)
        if wanted is not None or shared:
            entries = store.memories(LOCAL_USER, wanted)
        else:
            entries = store.all_memories(LOCAL_USER)
        if not entries:
            click.echo("no memories", err=True)
        for line in memory_lines(entries):
            click.echo(line)


@memory.command()
@click.argument("path")
@click.option("--cid", metavar="ID", default=None, help="In this conversation's own tree.")
@store_options
def show(path: str, cid: str | None, **params: Any) -> None:
    """Print memory file PATH (notes.md or /memories/notes.md) with line numbers."""
    from ..errors import ToolRefused, UserError
    from ..store.base import LOCAL_USER

    with runtime_from(params) as runtime:
        store = _files(runtime.store())
        try:
            click.echo(memory_text(store, LOCAL_USER, _cid(store, cid), path))
        except ToolRefused as err:
            raise UserError(str(err)) from None


@memory.command()
@click.argument("path")
@click.option("--cid", metavar="ID", default=None, help="In this conversation's own tree.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask first.")
@store_options
def rm(path: str, cid: str | None, yes: bool, **params: Any) -> None:
    """Delete memory file or directory PATH (a directory with everything in it)."""
    from ..errors import UserError
    from ..memorytool import store_path
    from ..store.base import LOCAL_USER

    with runtime_from(params) as runtime:
        store = _files(runtime.store())
        rel = _checked(store_path, _tool_path(path))
        if not rel:
            raise UserError("give a file or directory below /memories, not /memories itself")
        wanted = _cid(store, cid)
        if not yes and not click.confirm(f"delete /memories/{rel}?", err=True):
            raise UserError("nothing deleted")
        gone = store.delete_memory(LOCAL_USER, wanted, rel)
        if not gone:
            raise UserError(f"no memory /memories/{rel}")
        click.echo(f"deleted /memories/{rel} ({gone} entr{'y' if gone == 1 else 'ies'})")


def _checked(check: Any, path: str) -> str:
    from ..errors import ToolRefused, UserError

    try:
        return str(check(path))
    except ToolRefused as err:
        raise UserError(str(err)) from None


@memory.command()
@click.argument("output", type=click.Path(path_type=Path), required=False)
@store_options
def export(output: Path | None, **params: Any) -> None:
    """Write every memory as JSON (to OUTPUT, or stdout)."""
    from ..errors import UserError
    from ..memorytool import export_memories
    from ..store.base import LOCAL_USER
    from .files import write_private

    with runtime_from(params) as runtime:
        text = json.dumps(export_memories(_files(runtime.store()), LOCAL_USER), indent=2)
    if output is None:
        click.echo(text)
        return
    try:
        write_private(output, text + "\n", overwrite=False)
    except FileExistsError:
        raise UserError(f"not exported: {output} exists") from None
    click.echo(f"exported to {output}", err=True)


@memory.command("import")
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@store_options
def import_(source: Path, **params: Any) -> None:
    """Add the memories of a JSON export (what is there already is kept)."""
    from ..memorytool import import_memories
    from ..store.base import LOCAL_USER

    with runtime_from(params) as runtime:
        added, skipped = import_memories(
            _files(runtime.store()), LOCAL_USER, source.read_text(encoding="utf-8")
        )
    click.echo(f"imported {added} memories" + (f", kept {skipped} already there or without "
               "their conversation" if skipped else ""))  # fmt: skip


COMMANDS = (memory,)
