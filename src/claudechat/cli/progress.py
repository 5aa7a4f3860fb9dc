"""Feedback on slow work, on stderr and only in a terminal: a progress bar where the
amount of work is known (reindex), a spinner where it is not (a big import, a semantic
search that indexes new turns first). Piped output stays clean."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["progress_bar", "spinner"]


def _stderr() -> Console:
    from .render import make_console

    return make_console(stderr=True)


@contextmanager
def progress_bar(
    description: str, total: int, *, console: Console | None = None
) -> Iterator[Callable[[int], None]]:
    """A bar for ``total`` steps; yields ``advance(n)``. Nothing is drawn off a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = console or _stderr()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=True,
                  disable=not console.is_terminal) as progress:  # fmt: skip
        task = progress.add_task(description, total=total)

        def advance(steps: int) -> None:
            progress.advance(task, steps)

        yield advance


@contextmanager
def spinner(description: str, *, console: Console | None = None) -> Iterator[None]:
    """A spinner with ``description`` while the block runs (nothing off a terminal)."""
    console = console or _stderr()
    if not console.is_terminal:
        yield
        return
    with console.status(description, spinner="dots"):
        yield
