"""``--functions FILE.py``: the plain Python functions a file defines, as tools.

Each call is confirmed first (unless ``--yes-tools``), and shown collapsed to one line:
the call with its arguments, then the start of its result.
"""

from __future__ import annotations

import functools
import inspect
import runpy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError

if TYPE_CHECKING:
    from .render import ReplyView

__all__ = ["ToolDeclined", "ToolPrompt", "guarded", "load_functions", "tools_for"]

Confirm = Callable[[str], bool]
Show = Callable[[str], None]
_SHOWN = 70  # characters of arguments or result on the collapsed line


class ToolDeclined(Exception):
    """The user said no to a tool call (Claude is told so, as the call's error)."""


def load_functions(path: Path) -> list[Callable[..., Any]]:
    """The public functions ``path`` defines (not those it imports), in file order."""
    if path.suffix != ".py":
        raise UserError(f"--functions takes a Python file (FILE.py), got {path}")
    try:
        namespace = runpy.run_path(str(path), run_name="claudechat_functions")
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except Exception as err:  # the user's code: any failure is theirs to see
        raise UserError(f"{path} failed to load: {type(err).__name__}: {err}") from None
    found: list[Callable[..., Any]] = [
        value
        for name, value in namespace.items()
        if inspect.isfunction(value)
        and not name.startswith("_")
        and value.__module__ == "claudechat_functions"
    ]
    if not found:
        raise UserError(f"{path} defines no public functions to use as tools")
    return found


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def guarded(fn: Callable[..., Any], *, confirm: Confirm | None, show: Show) -> Callable[..., Any]:
    """``fn`` asking ``confirm`` before each call (None: never asks) and showing the call
    and its result in one line each; the signature and docstring stay ``fn``'s."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        shown = ", ".join([*(repr(a) for a in args), *(f"{k}={v!r}" for k, v in kwargs.items())])
        line = f"{fn.__name__}({_short(shown)})"
        if confirm is not None and not confirm(f"Run the tool {line}?"):
            show(f"▸ tool {line} declined")
            raise ToolDeclined("the user declined to run this tool call")
        try:
            result = fn(*args, **kwargs)
        except Exception as err:
            show(f"▸ tool {line} failed: {_short(str(err))}")
            raise
        show(f"▸ tool {line} → {_short(str(result))}")
        return result

    return call


def tools_for(
    paths: Sequence[Path], *, confirm: Confirm | None, show: Show
) -> list[Callable[..., Any]]:
    """Every function of every file, guarded."""
    return [
        guarded(fn, confirm=confirm, show=show) for path in paths for fn in load_functions(path)
    ]


class ToolPrompt:
    """Confirms tool calls in the terminal while a reply is being drawn: the reply view
    (``view``, set while one is open) pauses for the question."""

    def __init__(self, ask: Confirm) -> None:
        self.ask = ask
        self.view: ReplyView | None = None  # set while a reply streams

    def __call__(self, question: str) -> bool:
        """Ask ``question`` (yes / no), with the reply view paused."""
        if self.view is None:
            return self.ask(question)
        with self.view.paused():
            return self.ask(question)
