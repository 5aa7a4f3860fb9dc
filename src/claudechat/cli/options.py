"""Options shared by several commands, and turning them into a Runtime."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..config import MEMORY_SCOPES, STRATEGIES
from .model_options import model_options, options_from
from .runtime import Runtime

__all__ = ["chat_options", "runtime_from", "store_options"]

F = TypeVar("F", bound=Callable[..., Any])

STORE_KEYS = ("db", "store")
CHAT_KEYS = (
    "model",
    "system",
    "max_tokens",
    "budget",
    "strategy",
    "cache_ttl",
    "recall",
    "threads",
    "thinking",
    "memory",
)


def store_options(f: F) -> F:
    """--db PATH and --store URL (CLAUDECHAT_DB / CLAUDECHAT_STORE)."""
    f = click.option(
        "--store",
        metavar="URL",
        default=None,
        help="Store: postgresql://…, sqlite:///PATH or memory [CLAUDECHAT_STORE].",
    )(f)
    f = click.option(
        "--db", metavar="PATH", default=None, help="SQLite database file [CLAUDECHAT_DB]."
    )(f)
    return f


def chat_options(f: F) -> F:
    """Model, prompt and context options (flags > environment > config file)."""
    decorators = [
        click.option(
            "-m",
            "--model",
            default=None,
            help="Model name, or an alias: sonnet, opus, haiku [CLAUDECHAT_MODEL].",
        ),
        click.option("-s", "--system", default=None, help="System prompt [CLAUDECHAT_SYSTEM]."),
        click.option(
            "-t",
            "--template",
            metavar="NAME",
            default=None,
            help="Start from a saved template (system prompt, model, strategy).",
        ),
        click.option("--max-tokens", type=int, default=None, help="Max output tokens per reply."),
        click.option(
            "--budget",
            default=None,
            metavar="TOKENS",
            help="Input-token budget per request, e.g. 20000 or 20k; default 200k, max for "
            "the model's whole window [CLAUDECHAT_BUDGET].",
        ),
        click.option(
            "--strategy",
            type=click.Choice(STRATEGIES),
            default=None,
            help="How old turns leave the window [CLAUDECHAT_STRATEGY].",
        ),
        click.option(
            "--cache-ttl", type=click.Choice(("5m", "1h")), default=None, help="Prompt-cache TTL."
        ),
        click.option(
            "--recall/--no-recall",
            default=None,
            help="Bring back relevant old turns that left the window [CLAUDECHAT_RECALL].",
        ),
        click.option(
            "--threads/--no-threads",
            default=None,
            help="Send only the new messages through a server-side message thread, replaying "
            "everything when it is gone [CLAUDECHAT_THREADS].",
        ),
        click.option(
            "--thinking",
            metavar="off|adaptive|BUDGET",
            default=None,
            help="Thinking: off, adaptive, or a budget in tokens (default: adaptive where the "
            "model supports it) [CLAUDECHAT_THINKING].",
        ),
        click.option(
            "--memory",
            type=click.Choice(MEMORY_SCOPES),
            default=None,
            help="The memory tool: shared (one /memories for all your conversations), "
            "conversation (one each) or off [CLAUDECHAT_MEMORY].",
        ),
    ]
    f = store_options(f)
    f = model_options(f)
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def runtime_from(params: dict[str, Any]) -> Runtime:
    """A Runtime from a command's parameters (configuration keys, and the model options
    of commands that have them)."""
    flags = {k: params.get(k) for k in (*STORE_KEYS, *CHAT_KEYS) if params.get(k) is not None}
    if params.get("template"):
        from .templates import load

        for key, value in load(params["template"]).values().items():
            flags.setdefault(key, value)  # an explicit flag wins over the template
    runtime = Runtime.from_flags(flags)
    if "option" in params:
        runtime.model_options = options_from(params)
    return runtime
