"""Slash commands: the table, parsing and dispatch (pure: no terminal, no I/O).

``parse("/open 3f2a")`` gives ``Command("open", "3f2a")``; ``dispatch`` calls the handler
of that name on any object that has ``cmd_<name>`` methods. Unknown commands and bad
arguments raise ``SlashError`` carrying a one-line hint.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "COMMANDS",
    "Command",
    "SlashError",
    "Spec",
    "complete",
    "dispatch",
    "help_lines",
    "parse",
]

Arg = Literal["none", "optional", "required"]


@dataclass(frozen=True, slots=True)
class Spec:
    """One slash command: its name, argument, aliases and help."""

    name: str
    arg: Arg
    usage: str
    help: str
    aliases: tuple[str, ...] = ()


COMMANDS: tuple[Spec, ...] = (
    Spec("help", "optional", "/help [command]", "list the commands, or explain one", ("?",)),
    Spec("new", "none", "/new", "start a new conversation"),
    Spec("list", "optional", "/list [N]", "recent conversations"),
    Spec("open", "optional", "/open [ID or words]", "switch to a stored conversation (picker)"),
    Spec("title", "required", "/title TEXT", "rename this conversation"),
    Spec("retry", "none", "/retry", "a new reply to the last message (the old one is kept)"),
    Spec("edit", "optional", "/edit [text]", "rewrite your last message ($EDITOR without text)"),
    Spec("undo", "none", "/undo", "take back the last turn (it stays stored)"),
    Spec("branch", "optional", "/branch [N]", "list the branches, or switch to branch N"),
    Spec("fork", "none", "/fork", "copy this conversation into a new one and switch to it"),
    Spec("system", "optional", "/system [text]", "show or set the system prompt"),
    Spec("model", "optional", "/model [name]", "show or switch the model"),
    Spec("template", "required", "/template NAME", "use a saved template's system prompt, model"),
    Spec("tokens", "none", "/tokens", "how full the context window is"),
    Spec("cost", "none", "/cost", "tokens by kind, cache hit ratio and cost"),
    Spec("compact", "none", "/compact", "summarise / trim at the next message"),
    Spec("search", "required", "/search QUERY", "search every stored conversation"),
    Spec("recall", "optional", "/recall [text]", "old turns recall would bring back"),
    Spec("memory", "optional", "/memory [PATH]", "the memory tool's files, or one of them"),
    Spec("export", "optional", "/export [PATH]", "save this conversation (.md or .json)"),
    Spec("attach", "required", "/attach FILE", "send an image or PDF with your next message"),
    Spec("copy", "optional", "/copy [code [N]]", "copy the last reply (or its Nth code block)"),
    Spec("quit", "none", "/quit", "leave (Ctrl-D works too)", ("exit", "q")),
)

_BY_NAME: dict[str, Spec] = {
    **{s.name: s for s in COMMANDS},
    **{a: s for s in COMMANDS for a in s.aliases},
}


class SlashError(Exception):
    """A slash command that cannot run as typed; the message is a one-line hint."""


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed slash command: its canonical name and the argument text (None if absent)."""

    name: str
    arg: str | None = None


def is_command(line: str) -> bool:
    """True when the input is a slash command (``//`` escapes a leading slash)."""
    text = line.lstrip()
    return text.startswith("/") and not text.startswith("//") and len(text) > 1


def parse(line: str) -> Command:
    """The command in ``line``; SlashError for an unknown command or a wrong argument."""
    text = line.strip()
    if not text.startswith("/") or len(text) == 1:
        raise SlashError("type /help for the commands")
    word, _, rest = text[1:].partition(" ")
    name = word.strip().lower()
    arg = rest.strip() or None
    spec = _BY_NAME.get(name)
    if spec is None:
        near = difflib.get_close_matches(name, [s.name for s in COMMANDS], n=1, cutoff=0.7)
        hint = f" — did you mean /{near[0]}?" if near else ""
        raise SlashError(f"unknown command /{name}{hint} (type /help)")
    if spec.arg == "none" and arg is not None:
        raise SlashError(f"/{spec.name} takes no argument: {spec.usage}")
    if spec.arg == "required" and arg is None:
        raise SlashError(f"usage: {spec.usage}")
    return Command(spec.name, arg)


def dispatch(target: Any, command: Command) -> Any:
    """Call ``target.cmd_<name>(arg)`` (or ``cmd_<name>()`` for commands without one)."""
    handler: Callable[..., Any] | None = getattr(target, f"cmd_{command.name}", None)
    if handler is None:
        raise SlashError(f"/{command.name} is not available here")
    spec = _BY_NAME[command.name]
    return handler() if spec.arg == "none" else handler(command.arg)


def complete(text: str) -> list[str]:
    """Completions for a partly typed command (``/re`` → ``/recall``, ``/retry``)."""
    if not text.startswith("/") or " " in text:
        return []
    prefix = text[1:].lower()
    return [f"/{s.name}" for s in COMMANDS if s.name.startswith(prefix)]


def help_lines(name: str | None = None) -> list[str]:
    """Help for every command, or for one."""
    if name:
        spec = _BY_NAME.get(name.lstrip("/").lower())
        if spec is None:
            raise SlashError(f"unknown command /{name.lstrip('/')} (type /help)")
        return [f"{spec.usage} — {spec.help}"]
    width = max(len(s.usage) for s in COMMANDS)
    lines = [f"{s.usage.ljust(width)}  {s.help}" for s in COMMANDS]
    lines.append(
        "Alt-Enter (or Esc Enter) inserts a newline; Ctrl-C cancels a reply; Ctrl-D quits."
    )
    return lines


def int_arg(arg: str | None, what: str) -> int | None:
    """A positive integer argument, or None when absent; SlashError otherwise."""
    if arg is None:
        return None
    try:
        value = int(arg)
    except ValueError:
        raise SlashError(f"{what} must be a number, got {arg!r}") from None
    if value < 1:
        raise SlashError(f"{what} must be at least 1")
    return value
