"""The ``claudechat`` command line: a chat REPL, ``ask`` for scripts, and conversation tools.

``main()`` is the console-script entry point. Errors become one-line messages and exit
codes in ``exits.py`` (0 ok, 1 API error, 2 usage or configuration error, 130
interrupted). Heavy modules load inside the commands, so ``--help`` starts fast.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import click

from . import (
    commands_accounts,
    commands_api_key,  # noqa: F401  (adds set, path and rm to the keys group)
    commands_chat,
    commands_memory,
    commands_misc,
    commands_models,
    commands_serve,
    commands_store,
    commands_templates,
)
from .exits import debugging, exit_on_signals, report

__all__ = ["cli", "main"]


class ClaudechatGroup(click.Group):
    """A click group whose ``main`` maps every error to one line and an exit code."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; exit with the documented exit code."""
        code = 0
        _one_line_logs()
        with warnings.catch_warnings():
            _one_line_warnings()
            try:
                super().main(
                    args=args,
                    prog_name=prog_name or "claudechat",
                    complete_var=complete_var or "_CLAUDECHAT_COMPLETE",
                    standalone_mode=False,
                    **extra,
                )
            except click.exceptions.Exit as done:
                code = done.exit_code
            except BrokenPipeError:
                code = 0  # the reader (head, less) went away
            except (Exception, KeyboardInterrupt) as err:
                if isinstance(err, click.ClickException):
                    err.show()
                    code = 2
                else:
                    code = report(err)
        if standalone_mode:
            sys.exit(code)
        return code


class OneLineLog(logging.Handler):
    """Library and psycopg warnings as one 'warning:' line each, passwords hidden."""

    def emit(self, record: logging.LogRecord) -> None:
        """Print the record's message (and its exception's one-line description)."""
        from .exits import describe

        text = " ".join(record.getMessage().split())
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{text}: {describe(record.exc_info[1])}"
        from ..config import redact

        click.echo(f"warning: {redact(text)}", err=True)


def _one_line_logs() -> None:
    for name in ("claudechat", "psycopg"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, OneLineLog) for h in logger.handlers):
            logger.addHandler(OneLineLog(logging.WARNING))


def _one_line_warnings() -> None:
    """Unknown- and deprecated-model warnings as one 'warning:' line each."""
    from ..config import redact
    from ..models.capabilities import DeprecatedModelWarning, UnknownModelWarning

    def show(message: Any, category: Any, filename: str, lineno: int, *a: Any, **k: Any) -> None:
        click.echo(f"warning: {redact(str(message))}", err=True)

    warnings.filterwarnings("always", category=UnknownModelWarning)
    warnings.filterwarnings("always", category=DeprecatedModelWarning)
    # The SDK's own multi-line warning says the same as ours, without the successor.
    warnings.filterwarnings("ignore", r"The model .* is deprecated", DeprecationWarning)
    warnings.showwarning = show


@click.group(
    cls=ClaudechatGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(None, "-V", "--version", package_name="claudechat", prog_name="claudechat")
@click.option(
    "-c", "--continue", "continue_", is_flag=True, help="Chat on in the latest conversation."
)
@click.pass_context
def cli(ctx: click.Context, continue_: bool) -> None:
    """Long conversations with Claude: durable history, context budgeting, cost accounting.

    Without a command, starts a chat (-c: in the latest conversation). Exit codes: 0 ok,
    1 API error, 2 usage or configuration error (a wrong API key included), 130 interrupted.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(commands_chat.chat, continue_=continue_)
    elif continue_:
        raise click.UsageError(f"-c goes after the command: claudechat {ctx.invoked_subcommand} -c")


for _command in (
    commands_chat.chat,
    commands_chat.ask,
    *commands_store.COMMANDS,
    *commands_memory.COMMANDS,
    *commands_misc.COMMANDS,
    commands_templates.templates,
    *commands_accounts.COMMANDS,
    *commands_serve.COMMANDS,
    *commands_models.COMMANDS,
):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point: ``claudechat``.

    Once the command is done and its output flushed, the process ends at once: tearing
    down the SDK's thousands of model classes would add about a second to every run.
    Everything durable (the store, input history) is closed or written by then.
    """
    exit_on_signals()
    code = cli.main(prog_name="claudechat", standalone_mode=False)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    if debugging():
        sys.exit(code)
    os._exit(code if isinstance(code, int) else 1)
