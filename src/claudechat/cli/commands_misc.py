"""``config``, ``cost``, ``emulate``, ``demo`` and ``completion``."""

from __future__ import annotations

import json
import shutil
import sys
from typing import Any

import click

from .options import runtime_from, store_options

__all__ = ["COMMANDS"]


@click.group()
def config() -> None:
    """Show or change the configuration file (flags > environment > file > defaults)."""


@config.command("path")
def config_path_() -> None:
    """Print where the configuration file is."""
    from ..config import config_path

    click.echo(str(config_path()))


@config.command("get")
@click.argument("key", required=False)
def config_get(key: str | None) -> None:
    """Print one value (or every key with where its value comes from)."""
    from ..config import KEYS, redact, resolve

    settings = resolve()
    if key is not None and key.startswith("aliases."):
        click.echo(settings.aliases.get(key.split(".", 1)[1], ""))
        return
    if key is not None:
        value = settings.get(key)
        click.echo("" if value is None else redact(str(value)))
        return
    for name in KEYS:
        value = settings.get(name)
        shown = "(not set)" if value is None else json.dumps(value, ensure_ascii=False)
        click.echo(f"{name} = {redact(shown)}  # {settings.sources[name]}")
    for alias, model in sorted(settings.aliases.items()):
        click.echo(f"aliases.{alias} = {json.dumps(model)}  # file")


@config.command("set")
@click.argument("key")
@click.argument("value")
def config_set(key: str, value: str) -> None:
    """Write KEY = VALUE to the configuration file (the value is checked first)."""
    from ..config import config_path, redact, set_value

    path = config_path()
    stored = set_value(path, key, value)
    shown = redact(json.dumps(stored, ensure_ascii=False))
    click.echo(f"{key.replace('-', '_')} = {shown} ({path})")


@config.command("unset")
@click.argument("key")
def config_unset(key: str) -> None:
    """Remove KEY from the configuration file."""
    from ..config import config_path, unset_value

    path = config_path()
    if not unset_value(path, key):
        click.echo(f"{key} was not set in {path}", err=True)


@click.command()
@click.argument("conversation_id", metavar="[ID]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--misses", is_flag=True,
              help="List each prompt-cache miss of conversation ID: its reason and cost.")  # fmt: skip
@store_options
def cost(conversation_id: str | None, as_json: bool, misses: bool, **params: Any) -> None:
    """Tokens by kind, cache hit ratio and USD: one conversation, or all of them."""
    from ..accounting import store_cost_report
    from .render import cost_lines, usd
    from .runtime import resolve_id

    if misses and not conversation_id:
        raise click.UsageError("--misses needs a conversation ID")
    with runtime_from(params) as runtime:
        store = runtime.store()
        if conversation_id:
            ids = [resolve_id(store, conversation_id)]
        else:
            ids = [info.conversation.id for info in store.iter_conversations()]
        if misses:
            from .cache_report import show_misses

            show_misses(store, ids[0], as_json=as_json)
            return
        report = store_cost_report(store, ids)
        if as_json:
            data = {
                "conversations": len(ids),
                "tokens": {line.kind: line.tokens for line in report.lines},
                "cost_by_kind_usd": {line.kind: line.cost_usd for line in report.lines},
                "cache_hit_ratio": report.cache_hit_ratio,
                "cost_usd": report.cost_usd,
                "requests": report.usage.requests,
                "copied_requests": report.copied.requests,
                "copied_cost_usd": report.copied_usd,
            }
            click.echo(json.dumps(data, indent=2))
            return
        scope = f"conversation {ids[0]}" if conversation_id else f"{len(ids)} conversations"
        click.echo(f"{scope}, {report.usage.requests:,} requests")
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        for line in cost_lines(report, width=width):
            click.echo(line)
        if report.copied.requests:
            click.echo(f"not counted again: {report.copied.requests:,} requests copied by fork "
                       f"or import ({usd(report.copied_usd)}), billed in their first conversation")  # fmt: skip


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--api-key", default=None, help="Require this API key (default: accept any).")
@click.option("--context-window", type=click.IntRange(min=1), default=None,
              help="Override every model's context window (tokens).")  # fmt: skip
@click.option("--token-delay", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds before each streamed piece of a reply, like a real model.")  # fmt: skip
def emulate(
    port: int, host: str, api_key: str | None, context_window: int | None, token_delay: float
) -> None:
    """Serve the built-in Messages API emulator for any Anthropic client (Ctrl-C stops)."""
    from ..testing._server import run_server

    options: dict[str, Any] = {}
    if api_key:
        options["api_key"] = api_key
    if context_window:
        options["context_window"] = context_window
    run_server(port, host, token_delay=token_delay, **options)


@click.command()
@click.option("--turns", type=click.IntRange(4, 500), default=24, show_default=True)
@click.option("--fast", is_flag=True, help="No pauses between steps.")
@click.option("--budget", type=click.IntRange(min=1500), default=3000, show_default=True,
              help="Input-token budget, small so the window fills quickly.")  # fmt: skip
def demo(turns: int, fast: bool, budget: int) -> None:
    """A scripted conversation on the emulator that shows the machinery at work."""
    from .demo import run_demo
    from .render import make_console, plain_output

    console = make_console()
    run_demo(console, turns=turns, pause=0.0 if fast else 0.6, budget=budget,
             plain=plain_output(console))  # fmt: skip


@click.command()
@click.argument("shell", type=click.Choice(("bash", "zsh", "fish")))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    bash: eval "$(claudechat completion bash)"   in ~/.bashrc
    zsh:  eval "$(claudechat completion zsh)"    in ~/.zshrc
    fish: claudechat completion fish > ~/.config/fish/completions/claudechat.fish
    """
    from click.shell_completion import get_completion_class

    make = get_completion_class(shell)
    assert make is not None  # the three choices are click's own
    root = ctx.find_root().command
    click.echo(make(root, {}, "claudechat", "_CLAUDECHAT_COMPLETE").source())


COMMANDS = (config, cost, emulate, demo, completion)
