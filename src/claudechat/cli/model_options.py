"""Options for the model on ``ask`` and ``chat``: --temperature, --top-p, --stop and
``-o KEY=VALUE`` for any other Messages API field.

``-o`` keys are checked locally against the official SDK's ``MessageCreateParams`` names,
so a typo fails at once with the list of what is accepted; fields claudechat sets itself
(the model, messages, system prompt, tools…) point to their own flag instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from ..errors import UserError

__all__ = ["ModelOptions", "model_options", "options_from", "parse_field", "sdk_fields"]

F = TypeVar("F", bound=Callable[..., Any])

# Fields claudechat fills in itself, and where the user sets them instead.
OWNED = {
    "model": "--model",
    "messages": "the conversation",
    "system": "--system",
    "tools": "--functions",
    "max_tokens": "--max-tokens",
    "stream": "--no-stream",
    "stop_sequences": "--stop",
    "cache_control": "--cache-ttl (claudechat places cache breakpoints)",
    "diagnostics": "claudechat (it sets them)",
}


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """What the flags ask of every reply request."""

    temperature: float | None = None
    stop: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)  # top_p and -o KEY=VALUE

    def chat_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for Chat / Chat.resume."""
        out: dict[str, Any] = {}
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.stop:
            out["stop_sequences"] = list(self.stop)
        if self.fields:
            out["extra_fields"] = dict(self.fields)
        return out


def sdk_fields() -> frozenset[str]:
    """The request field names of the SDK's ``MessageCreateParams``."""
    from ..models.anthropic import request_field_names

    return request_field_names()


def parse_field(text: str, *, known: Iterable[str] | None = None) -> tuple[str, Any]:
    """``KEY=VALUE`` as a request field: VALUE is JSON when it parses, else a string;
    UserError for a key the Messages API does not take or that claudechat sets itself."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"-o takes KEY=VALUE, got {text!r}")
    if key in OWNED:
        raise UserError(f"-o {key}: set by {OWNED[key]}, not with -o")
    names = frozenset(known) if known is not None else sdk_fields()
    if key not in names:
        accepted = ", ".join(sorted(names - OWNED.keys()))
        raise UserError(f"-o {key}: not a Messages API field (accepted: {accepted})")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def options_from(params: dict[str, Any]) -> ModelOptions:
    """The ModelOptions of a command's parameters."""
    fields: dict[str, Any] = {}
    if params.get("top_p") is not None:
        fields["top_p"] = params["top_p"]
    for text in params.get("option") or ():
        key, value = parse_field(text)
        fields[key] = value
    return ModelOptions(
        temperature=params.get("temperature"),
        stop=tuple(params.get("stop") or ()),
        fields=fields,
    )


def model_options(f: F) -> F:
    """--temperature, --top-p, --stop (repeatable) and -o KEY=VALUE (repeatable)."""
    decorators = [
        click.option(
            "--temperature", type=click.FloatRange(0, 1), default=None, help="Sampling temperature."
        ),
        click.option(
            "--top-p", type=click.FloatRange(0, 1), default=None, help="Nucleus sampling."
        ),
        click.option("--stop", multiple=True, metavar="TEXT", help="Stop sequence (repeatable)."),
        click.option(
            "-o",
            "--option",
            multiple=True,
            metavar="KEY=VALUE",
            help="Any other Messages API field (VALUE as JSON or text), e.g. -o service_tier=auto.",
        ),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f
