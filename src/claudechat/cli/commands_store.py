"""Stored conversations: ``list``, ``show``, ``search``, ``export``, ``import``, ``rm``,
``rename``, ``reindex``."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .options import runtime_from, store_options

if TYPE_CHECKING:
    from ..search import RankedIndex
    from ..store.base import Store

__all__ = ["COMMANDS", "export_text"]

BIG_IMPORT = 1_000_000  # bytes: a larger import shows a spinner while it is stored


def export_text(store: Store, conversation_id: str, fmt: str) -> str:
    """A conversation as lossless JSON ("json") or readable Markdown ("md")."""
    from ..store import export_json, export_markdown

    if fmt == "json":
        return export_json(store, conversation_id) + "\n"
    return export_markdown(store, conversation_id)


def _console() -> Any:
    from .render import make_console, plain_output

    console = make_console()
    return console, plain_output(console)


@click.command("list")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per conversation.")
@store_options
def list_(limit: int, as_json: bool, **params: Any) -> None:
    """Recent conversations: id, updated, turns, tokens, cost, title."""
    from dataclasses import replace

    from ..accounting import store_cost_report
    from .render import print_conversations

    with runtime_from(params) as runtime:
        store = runtime.store()
        # The cost `claudechat cost ID` shows: every request once, copies not again.
        infos = [
            replace(info, cost_usd=store_cost_report(store, [info.conversation.id]).cost_usd)
            for info in store.list_conversations(limit=limit)
        ]
        if as_json:
            for info in infos:
                c = info.conversation
                row = {
                    "id": c.id,
                    "title": c.title,
                    "created_at": c.created_at,
                    "updated_at": c.updated_at,
                    "model": c.model,
                    "messages": info.messages,
                    "turns": info.turns,
                    "tokens": info.tokens,
                    "cost_usd": info.cost_usd,
                }
                click.echo(json.dumps(row, ensure_ascii=False))
            return
        console, plain = _console()
        print_conversations(console, infos, plain=plain)


@click.command()
@click.argument("conversation_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="The lossless JSON export instead.")
@store_options
def show(conversation_id: str, as_json: bool, **params: Any) -> None:
    """Print a conversation (its active branch)."""
    from ..store.base import turn_held
    from .render import print_transcript
    from .runtime import resolve_id

    with runtime_from(params) as runtime:
        store = runtime.store()
        cid = resolve_id(store, conversation_id)
        if as_json:
            click.echo(export_text(store, cid, "json"), nl=False)
            return
        conv = store.get_conversation(cid)
        console, plain = _console()
        title = f"{conv.title or '(untitled)'} — {conv.id}"
        branch = store.branch(cid)
        writing = turn_held(store, cid)  # a reply being written elsewhere (the service, say)
        print_transcript(console, branch, plain=plain, title=title, writing=writing)
        if writing and (not branch or branch[-1].role == "user"):
            click.echo("(a reply is being written: show it again in a moment)")


@click.command()
@click.argument("query", nargs=-1, required=True)
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--semantic", is_flag=True, help="Search by meaning (dense + lexical, hybrid).")
@click.option("--cid", metavar="ID", default=None, help="Only this conversation.")
@store_options
def search(
    query: tuple[str, ...], limit: int, semantic: bool, cid: str | None, **params: Any
) -> None:
    """Search stored messages; prints snippets with conversation ids."""
    from .render import snippet_text, when
    from .runtime import resolve_id

    text = " ".join(query)
    with runtime_from(params) as runtime:
        store = runtime.store()
        scope = resolve_id(store, cid) if cid else None
        if semantic:
            from .progress import spinner
            from .recall import semantic_search

            with spinner("searching (new turns are indexed first)"):
                lines = semantic_search(
                    store,
                    text,
                    limit=limit,
                    conversation_id=scope,
                    notice=lambda line: click.echo(line, err=True),
                    postgres=runtime.postgres,
                    embedder=runtime.settings.embedder,
                )
        else:
            hits = store.search(text, conversation_id=scope, limit=limit)
            lines = [
                f"{h.conversation_id}  {when(h.created_at)}  {h.role:<9}  {snippet_text(h.snippet)}"
                for h in hits
            ]
        if not lines:
            click.echo("no matches", err=True)
        for line in lines:
            click.echo(line)


@click.command()
@click.argument("conversation_id", metavar="ID")
@click.option(
    "--format", "fmt", type=click.Choice(("json", "md")), default=None,
    help="json (lossless, every branch) or md (readable); default from -o's suffix, else md.",
)  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None)
@click.option("-f", "--force", is_flag=True, help="Overwrite the -o file if it exists.")
@store_options
def export(
    conversation_id: str, fmt: str | None, output: str | None, force: bool, **params: Any
) -> None:
    """Export a conversation as JSON or Markdown (to stdout, or -o FILE, created 0600)."""
    from .files import write_private
    from .runtime import resolve_id

    if output is not None and not force and Path(output).is_file():
        from ..errors import UserError

        raise UserError(f"{output} exists: use --force to overwrite it")

    if fmt is None:
        fmt = "json" if output and output.lower().endswith(".json") else "md"
    with runtime_from(params) as runtime:
        store = runtime.store()
        text = export_text(store, resolve_id(store, conversation_id), fmt)
        if output is None:
            click.echo(text, nl=False)
        else:
            write_private(Path(output), text, overwrite=force)
            click.echo(f"exported to {output}", err=True)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--title", default=None, help="Title for the imported conversation.")
@click.option("--again", is_flag=True, help="Import a conversation that is stored already.")
@store_options
def import_(file: str, title: str | None, again: bool, **params: Any) -> None:
    """Import a claudechat JSON export or a plain Anthropic messages array ('-' = stdin).

    A conversation that is in the store already is refused unless --again (a copy)."""
    from ..errors import InvalidImport
    from ..store import import_conversation
    from .progress import spinner

    source = "stdin" if file == "-" else file
    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as err:
        raise InvalidImport(f"{file}: cannot read: {err.strerror or err}") from None
    with runtime_from(params) as runtime:
        store = runtime.store()
        if not again:
            _refuse_a_second_copy(store, data, source)
        owner = _owner_here(store, data)
        with spinner(f"importing {len(data):,} bytes") if len(data) > BIG_IMPORT else nullcontext():
            conv = import_conversation(store, data, title=title, source=source, owner=owner)
        click.echo(conv.id)
        click.echo(f"imported {conv.title or '(untitled)'}", err=True)
        if owner is not None:
            click.echo("its owner in the export is no user of this store: it is yours "
                       "(-c continues it)", err=True)  # fmt: skip


def _owner_here(store: Store, data: bytes) -> str | None:
    """LOCAL_USER when the export names an owner that is not a user of this store (a
    service's export imported into the terminal's store): the conversation becomes the
    terminal's, which ``-c`` continues, rather than an unknown id's, which nobody can
    reach. None (keep the export's owner) otherwise: a store's own export imported back."""
    from ..errors import UserNotFound
    from ..store.base import LOCAL_USER

    try:
        named = json.loads(data).get("conversation", {}).get("owner")
    except (ValueError, AttributeError):  # not an export: import_conversation says why
        return None
    get_user = getattr(store, "get_user", None)
    if not isinstance(named, str) or named == LOCAL_USER or get_user is None:
        return None
    try:
        get_user(named)
    except UserNotFound:
        return LOCAL_USER
    return None


def _refuse_a_second_copy(store: Store, data: bytes, source: str) -> None:
    """UserError when the export's conversation is stored already (imported before, or
    exported from this store)."""
    from ..errors import UserError
    from ..store.export import already_stored

    stored = already_stored(store, data, source=source)
    if stored is None:
        return
    raise UserError(
        f"already imported: {source} is conversation {stored.id} in this store "
        "(--again imports another copy)"
    )


@click.command()
@click.argument("conversation_id", metavar="ID")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@store_options
def rm(conversation_id: str, yes: bool, **params: Any) -> None:
    """Delete a conversation and everything in it (asks unless --yes)."""
    from .runtime import resolve_id

    with runtime_from(params) as runtime:
        store = runtime.store()
        cid = resolve_id(store, conversation_id)
        title = store.get_conversation(cid).title or "(untitled)"
        if not yes and not _confirm_delete(cid, title):
            click.echo("not deleted", err=True)
            return
        _delete_unless_busy(store, cid)
        from .recall import open_index

        index = open_index(store, postgres=runtime.postgres)
        try:
            index.delete(list(index.indexed(cid)))
        finally:
            index.close()
        click.echo(f"deleted {cid}", err=True)


RM_LEASE_SECONDS = 30.0  # a deletion's hold on the conversation, if it fails half-way


def _delete_unless_busy(store: Store, cid: str) -> None:
    """Delete the conversation under its turn lease, as the service's DELETE does: while
    another writer's turn runs (the service, another chat), ConcurrentUpdate says it is
    busy and nothing is deleted."""
    from ..messages import new_id

    owner = f"rm-{new_id()}"
    store.claim_turn(cid, owner, ttl=RM_LEASE_SECONDS)
    try:
        store.delete_conversation(cid)
    except BaseException:
        store.release_turn(cid, owner)
        raise


def _confirm_delete(cid: str, title: str) -> bool:
    """Ask before deleting; with no terminal and nothing piped, say to use --yes."""
    try:
        return click.confirm(f"Delete {cid} ({title})?", default=False, err=True)
    except click.Abort:
        if sys.stdin.isatty():
            raise  # Ctrl-C at the question
        click.echo("", err=True)  # end the question's line
        from ..errors import UserError

        raise UserError(f"not deleted: no answer to confirm it (use --yes): {cid}") from None


@click.command()
@click.option("--cid", metavar="ID", default=None, help="Only this conversation.")
@click.option("--semantic", is_flag=True, help="Also compute dense vectors (all-MiniLM-L6-v2).")
@store_options
def reindex(cid: str | None, semantic: bool, **params: Any) -> None:
    """Rebuild the search index that recall and search --semantic use."""
    from .recall import open_index, semantic_embedder
    from .runtime import resolve_id

    with runtime_from(params) as runtime:
        store = runtime.store()
        ids = [resolve_id(store, cid)] if cid else None
        notice = lambda line: click.echo(line, err=True)  # noqa: E731
        embedder = semantic_embedder(notice, runtime.settings.embedder) if semantic else None
        index = open_index(store, postgres=runtime.postgres, embedder=embedder)
        try:
            conversations, turns = _reindex_with_progress(index, store, ids)
        finally:
            index.close()
        kind = f"lexical + {embedder.name} vectors" if embedder is not None else "lexical"
        click.echo(f"indexed {turns:,} turns of {conversations:,} conversations ({kind})")


def _reindex_with_progress(
    index: RankedIndex, store: Store, ids: list[str] | None
) -> tuple[int, int]:
    """Reindex conversation by conversation under a progress bar; (conversations, turns)."""
    from ..search.turns import reindex_conversation
    from .progress import progress_bar

    if ids is None:
        ids = [info.conversation.id for info in store.iter_conversations()]
    turns = 0
    with progress_bar("reindexing", len(ids)) as advance:
        for cid in ids:
            turns += reindex_conversation(index, store, cid)
            advance(1)
    return len(ids), turns


@click.command()
@click.argument("conversation_id", metavar="ID")
@click.argument("title", nargs=-1, required=True)
@store_options
def rename(conversation_id: str, title: tuple[str, ...], **params: Any) -> None:
    """Give conversation ID the title TITLE."""
    from ..errors import UserError
    from .runtime import resolve_id
    from .titles import clean_title

    name = clean_title(" ".join(title), width=200)
    if not name:
        raise UserError("the title is empty")
    with runtime_from(params) as runtime:
        store = runtime.store()
        cid = resolve_id(store, conversation_id)
        store.update_conversation(cid, title=name)
        click.echo(f"{cid}: {name}")


COMMANDS = (list_, show, search, export, import_, rm, rename, reindex)
