"""Failed sign-ins counted per username and per client address: past the limit, 429.

``POST /v1/auth/login`` asks the ``LoginThrottle`` before it checks a password: when a
username, or the address the request came from, has failed ``per_user`` (or
``per_address``) times within ``window_seconds``, the login is refused with 429
``rate_limited`` and ``Retry-After`` (the seconds until the oldest of those failures leaves
the window) without looking at the password. A successful login forgets its username's
failures, not its address's.

The counts live in this worker's memory: they are lost when it restarts, and with
``--workers N`` each worker counts on its own, so a client may try up to N times the limit.
At most ``max_tracked`` names and addresses are kept (the longest quiet ones are dropped
first), so a flood of made-up usernames cannot grow the worker's memory.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """The failed sign-ins of the last ``window_seconds``, by username and by address."""

    def __init__(
        self,
        *,
        per_user: int = 5,
        per_address: int = 20,
        window_seconds: float = 900.0,
        max_tracked: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_user = per_user
        self.per_address = per_address
        self.window_seconds = window_seconds
        self.max_tracked = max_tracked
        self._clock = clock
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def retry_after(self, username: str, address: str | None) -> int | None:
        """Whole seconds to wait before this username may try again from this address;
        None when it may try now."""
        now = self._clock()
        waits = [self._wait(key, limit, now) for key, limit in self._keys(username, address)]
        longest = max((w for w in waits if w is not None), default=None)
        return None if longest is None else max(1, math.ceil(longest))

    def failed(self, username: str, address: str | None) -> None:
        """Count a failed sign-in against the username and the address."""
        now = self._clock()
        for key, _ in self._keys(username, address):
            times = self._failures.pop(key, None) or deque()
            times.append(now)
            self._failures[key] = times  # the most recently failed last
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)

    def succeeded(self, username: str) -> None:
        """Forget the username's failures (the password was right)."""
        self._failures.pop(("user", username.casefold()), None)

    def _keys(self, username: str, address: str | None) -> list[tuple[tuple[str, str], int]]:
        keys = [(("user", username.casefold()), self.per_user)]
        if address:
            keys.append((("address", address), self.per_address))
        return keys

    def _wait(self, key: tuple[str, str], limit: int, now: float) -> float | None:
        """Seconds until ``key`` is under its limit again; None when it is now."""
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_seconds:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        if len(times) < limit:
            return None
        return times[-limit] + self.window_seconds - now
