"""Several writers on one conversation, as the CLI meets them.

A turn refused because another writer holds the conversation is retried with backoff for
up to ``CLAUDECHAT_BUSY_WAIT`` seconds (default 30), then reported in one line. A reply
the store could not take (an outage) is retried the same way before ``ask`` exits.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from ..chat import Chat

__all__ = ["BUSY_WAIT_SECONDS", "busy_wait", "retrying", "store_unsaved"]

BUSY_WAIT_SECONDS = 30.0
_FIRST_PAUSE = 0.1
_LONGEST_PAUSE = 2.0
T = TypeVar("T")


def busy_wait(env: Mapping[str, str] | None = None) -> float:
    """How long to wait for a busy conversation: ``CLAUDECHAT_BUSY_WAIT`` seconds, or 30."""
    from ..errors import ConfigError

    raw = (os.environ if env is None else env).get("CLAUDECHAT_BUSY_WAIT", "").strip()
    if not raw:
        return BUSY_WAIT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ConfigError(f"CLAUDECHAT_BUSY_WAIT must be a number of seconds, got {raw!r}")
    return seconds


def _pauses(patience: float) -> list[float]:
    """The waits between tries: doubling from 0.1 s, at most 2 s each, ``patience`` in all."""
    out: list[float] = []
    pause, left = _FIRST_PAUSE, patience
    while left > 0:
        out.append(min(pause, left))
        left -= out[-1]
        pause = min(pause * 2, _LONGEST_PAUSE)
    return out


def retrying(
    chat: Chat,
    attempt: Callable[[], T],
    *,
    patience: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``attempt``; while another writer holds the conversation's turn (refused before
    anything was stored or sent), wait with backoff and try again, up to ``patience`` s in
    all, the tries' own time included."""
    from ..errors import ConcurrentUpdate

    pauses = _pauses(busy_wait() if patience is None else patience)
    deadline = clock() + sum(pauses)
    for n in range(len(pauses) + 1):
        before = len(chat.history)
        try:
            return attempt()
        except ConcurrentUpdate:
            if len(chat.history) != before or n == len(pauses) or clock() >= deadline:
                raise
            if n == 0:
                click.echo("another writer is answering in this conversation; waiting…", err=True)
            sleep(pauses[n])
    raise AssertionError("unreachable")


def store_unsaved(
    chat: Chat,
    *,
    patience: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Before the process ends: store a reply the store failed to take, retrying with
    backoff; StoreError (the reply was shown, not saved) if the store stays down."""
    from ..errors import StoreError

    if not chat.unsaved:
        return
    click.echo("warning: the store failed; retrying to store the reply…", err=True)
    pauses = _pauses(busy_wait() if patience is None else patience)
    deadline = clock() + sum(pauses)  # a try can itself wait (a connect timeout)
    for pause in pauses:
        sleep(pause)
        if chat.store_unsaved(quiet=True):
            click.echo("the reply is stored", err=True)
            return
        if clock() >= deadline:
            break
    raise StoreError(
        f"the store failed: the reply shown above is not saved ({len(chat.unsaved)} "
        "message(s) of this turn)"
    )
