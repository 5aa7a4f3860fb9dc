"""Injectable faults: error statuses, mid-stream errors, dropped connections, garbage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ._errors import EmuAPIError

FaultKind = Literal["status", "midstream_error", "drop", "garbage"]


class ConnectionDropped(Exception):
    """Raised while iterating a response body whose connection the emulator drops."""


@dataclass(frozen=True)
class Fault:
    """One injected failure; build it with the class methods, queue it with `Emulator.inject`."""

    kind: FaultKind
    http_status: int = 200
    message: str | None = None
    error_type: str | None = None
    details: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    after_events: int = 0

    @classmethod
    def status_error(
        cls,
        status: int,
        *,
        message: str | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
        retry_after_ms: float | None = None,
        should_retry: bool | None = None,
    ) -> Fault:
        """An HTTP error response with the API's body for `status` (429, 500, 529, 401...)."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after"] = _number(retry_after)
        if retry_after_ms is not None:
            headers["retry-after-ms"] = _number(retry_after_ms)
        if should_retry is not None:
            headers["x-should-retry"] = "true" if should_retry else "false"
        return cls("status", status, message, error_type, None, headers)

    status = status_error
    """`Fault.status(429, retry_after=0)` reads best; `status_error` is the same thing."""

    @classmethod
    def spend_limit(cls) -> Fault:
        """A 429 for a reached spend limit: `enforced_spend_limit_reached`, no retry-after."""
        return cls(
            "status",
            429,
            "You have reached your specified API usage limits. You will regain access on "
            "the first day of next month at 00:00 UTC.",
            "rate_limit_error",
            {"error_code": "enforced_spend_limit_reached"},
            {"x-should-retry": "false"},
        )

    @classmethod
    def midstream_error(cls, after_events: int = 3, type: str = "overloaded_error") -> Fault:
        """An `event: error` frame sent after `after_events` frames of a 200 stream."""
        messages = {"overloaded_error": "Overloaded", "api_error": "Internal server error"}
        return cls(
            "midstream_error", 200, messages.get(type, type), type, after_events=after_events
        )

    @classmethod
    def drop(cls, after_events: int = 3) -> Fault:
        """Close the connection after `after_events` frames (or body chunks) were sent."""
        return cls("drop", after_events=after_events)

    @classmethod
    def garbage(cls) -> Fault:
        """A 200 whose body is neither JSON nor SSE."""
        return cls("garbage")

    def error(self) -> EmuAPIError:
        """The API error this fault answers with (status faults and mid-stream errors)."""
        return EmuAPIError(
            self.http_status if self.kind == "status" else 529,
            self.message,
            error_type=self.error_type,
            details=self.details,
            headers=self.headers,
        )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
