"""A turn's store writes, for ``AsyncChat``: in a worker thread, off the event loop.

A store write ends in a commit that waits for the disk (SQLite with ``synchronous=FULL``)
or the network (PostgreSQL); on the event loop, that wait would hold every other task of
the program, such as the other streams of a web server. ``in_thread`` runs the write in the
loop's default executor and waits for it, even when the waiting task is cancelled meanwhile
(the cancellation is delivered once the write is over): the chat's state is never changed
by a thread while its task goes on, and a stopped turn still finds its write done.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["in_thread"]

T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread; cancelling the caller waits for it to return."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, fn, *args)
    future = loop.run_in_executor(None, call)
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.cancelled():  # the executor is shutting down
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return future.result()
