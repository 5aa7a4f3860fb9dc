"""The one place errors become exit codes and one-line messages.

Exit codes: 0 ok, 1 API (or store) error, 2 usage or configuration error (a wrong API key
included), 130 interrupted. ``CLAUDECHAT_DEBUG=1`` prints the traceback as well.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Mapping
from typing import TextIO

import click

from ..errors import (
    AuthError,
    ClaudeChatError,
    ConversationNotFound,
    ModelError,
    TurnStopped,
    UserError,
)

__all__ = [
    "EXIT_API",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "describe",
    "exit_code",
    "report",
]

EXIT_OK = 0
EXIT_API = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


_terminated_by = 0  # the signal that ended the process, if one did


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a closed terminal): unwinds like Ctrl-C, so the partial reply is
    kept and the conversation's turn given back; exits with 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def exit_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into ``Terminated`` in the main thread."""
    import signal

    def terminate(signum: int, frame: object) -> None:
        global _terminated_by
        _terminated_by = signum  # kept: code that holds Ctrl-C may raise a plain one later
        raise Terminated(signum)

    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, terminate)


def exit_code(err: BaseException) -> int:
    """The exit code for an exception that ended a command."""
    if isinstance(err, Terminated):
        return 128 + err.signum
    if isinstance(err, KeyboardInterrupt | click.Abort) and _terminated_by:
        return 128 + _terminated_by  # click turns the interrupt into Abort
    if isinstance(err, KeyboardInterrupt | click.Abort | TurnStopped):
        return EXIT_INTERRUPTED
    if isinstance(err, AuthError | UserError | ConversationNotFound | click.ClickException):
        return EXIT_USAGE
    if isinstance(err, ModelError):
        return EXIT_API
    return EXIT_API  # store failures and anything unexpected


def describe(err: BaseException) -> str:
    """One line saying what went wrong (and, for a bad key, what to do); passwords in
    store URLs are hidden."""
    from ..config import redact

    return redact(_describe(err))


def _describe(err: BaseException) -> str:
    if isinstance(err, KeyboardInterrupt | click.Abort):
        return "interrupted"
    if isinstance(err, click.ClickException):
        return err.format_message()
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, AuthError):
        return f"authentication failed: {text} — check ANTHROPIC_API_KEY"
    if isinstance(err, ConversationNotFound):
        return f"not found: {text}"
    if isinstance(err, ModelError) and err.status == 200:
        return _mid_stream(err)
    if isinstance(err, ClaudeChatError):
        return text
    if isinstance(err, OSError) and err.strerror:
        name = f" {err.filename}" if err.filename else ""
        return f"{err.strerror}{name}"
    return f"internal error ({type(err).__name__}): {text} — set CLAUDECHAT_DEBUG=1 for details"


def _mid_stream(err: ModelError) -> str:
    """An error that arrived inside a successful (200) stream: its status says nothing."""
    text = " ".join(Exception.__str__(err).split()) or type(err).__name__
    return f"{text} (request {err.request_id})" if err.request_id else text


def debugging(env: Mapping[str, str] | None = None) -> bool:
    """True when CLAUDECHAT_DEBUG asks for tracebacks."""
    value = (os.environ if env is None else env).get("CLAUDECHAT_DEBUG", "")
    return value.strip().lower() not in ("", "0", "false", "no")


def report(err: BaseException, *, file: TextIO | None = None) -> int:
    """Print the one-line message (and the traceback when debugging); return the exit code."""
    out = file or sys.stderr
    if debugging():
        from ..config import redact

        print(redact("".join(traceback.format_exception(err))), file=out, end="")
    code = exit_code(err)
    if isinstance(err, KeyboardInterrupt | click.Abort):
        print("\ninterrupted", file=out)
    elif isinstance(err, TurnStopped):
        print(f"\n{describe(err)}", file=out)
    else:
        print(f"error: {describe(err)}", file=out)
    for note in getattr(err, "__notes__", ()):
        print(f"note: {note}", file=out)
    return code
