"""Each recently active conversation's token counts, kept in the worker between its turns.

A turn of the service builds a new ``AsyncChat`` over the stored conversation. With a new
``TokenAccountant`` each time, the first reply of every turn would teach the counts of the
whole history again (an offline estimate of every message, so a turn's CPU would grow with
the conversation). ``TokenCounters`` keeps the accountant of the last ``keep``
conversations of this worker: the next turn starts from the exact counts the earlier ones
learned, as a chat kept open in one process does. A turn takes its conversation's
accountant and gives it back at its end, so no two turns ever share one; a turn on another
worker, or after the accountant was dropped, starts afresh (slower, as correct).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..tokens import TokenAccountant

__all__ = ["TokenCounters"]


class TokenCounters:
    """The ``TokenAccountant`` of each of the ``keep`` most recently ended turns'
    conversations (turns are opened in worker threads: a lock guards the table)."""

    def __init__(self, *, keep: int = 1_000) -> None:
        self.keep = keep
        self._counters: OrderedDict[str, TokenAccountant] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, conversation_id: str) -> TokenAccountant:
        """The conversation's accountant, removed until ``give`` (a new one if none)."""
        with self._lock:
            found = self._counters.pop(conversation_id, None)
        return found if found is not None else TokenAccountant()

    def give(self, conversation_id: str, counter: TokenAccountant) -> None:
        """Keep the accountant for the conversation's next turn (dropping the oldest)."""
        with self._lock:
            self._counters[conversation_id] = counter
            while len(self._counters) > self.keep:
                self._counters.popitem(last=False)
