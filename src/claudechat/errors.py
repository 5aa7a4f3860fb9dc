"""Every error claudechat raises, under one base class.

::

    ClaudeChatError
    ├── UserError                 the caller misused the library (bad argument, bad option)
    │   ├── AttachmentRejected    an attachment of the wrong type or over a limit (nothing sent)
    │   ├── ConfigError           a configuration value is missing or invalid
    │   ├── InvalidHistory        a message history the API would reject (names problem and place)
    │   ├── InvalidImport         a file to import is not JSON / has the wrong shape
    │   ├── RetiredModel          the model has passed its retirement date (names the successor)
    │   ├── ToolDefinitionError   a Python callable cannot be described as a tool
    │   ├── UnknownModel          a model name close to a known one (names the suggestion)
    │   └── UserNotFound          no service user with that id or name
    ├── ModelError                a call to the model failed (status, request_id)
    │   ├── AuthError             401/403: the API key is missing or wrong
    │   ├── RateLimited           429: slow down (retry_after seconds when the server says;
    │   │                         error_code "enforced_spend_limit_reached" for a spend cap)
    │   ├── Overloaded            529 before any reply text
    │   ├── ContextOverflow       the prompt does not fit the context window (tokens, limit)
    │   ├── StreamInterrupted     a streamed reply was cut: a dropped connection, or an error
    │   │                         event mid-stream (its type in error_type, e.g.
    │   │                         "overloaded_error"); the partial content is kept
    │   └── BadResponse           the server answered something that is not the Messages API
    ├── ToolRefused               a tool declined a call: its message is the error result Claude
    │                             reads, as is (the memory tool's bad paths, missing files)
    ├── TurnStopped               the turn was asked to stop through the store (the service's
    │                             cancel); the partial reply is kept, as after Ctrl-C
    ├── StoreError                the conversation store failed
    │   ├── ConversationNotFound  no conversation / message with that id
    │   ├── ConcurrentUpdate      another writer moved the conversation head first
    │   └── MemoryConflict        a memory write found the tree changed (path taken or gone)
    └── ServiceError              the service refused a user's request by its own rules
        ├── SpendLimitExceeded    the user's daily / monthly USD limit (HTTP 402)
        └── TooManyStreams        the user's concurrent-streams limit (HTTP 429)
"""

from __future__ import annotations

from datetime import date
from typing import Any

__all__ = [
    "AttachmentRejected",
    "AuthError",
    "BadResponse",
    "ClaudeChatError",
    "ConcurrentUpdate",
    "ConfigError",
    "ContextOverflow",
    "ConversationNotFound",
    "InvalidHistory",
    "InvalidImport",
    "MemoryConflict",
    "ModelError",
    "Overloaded",
    "RateLimited",
    "RetiredModel",
    "ServiceError",
    "SpendLimitExceeded",
    "StoreError",
    "StreamInterrupted",
    "TooManyStreams",
    "ToolDefinitionError",
    "ToolRefused",
    "TurnStopped",
    "UnknownModel",
    "UserError",
    "UserNotFound",
]


class ClaudeChatError(Exception):
    """Base class of every claudechat error."""


class UserError(ClaudeChatError, ValueError):
    """The library was called wrongly; the message says how to fix the call."""


class AttachmentRejected(UserError):
    """An attachment refused before anything was stored or sent: not an image or PDF the
    API takes, or over one of its limits. ``name`` is the file (or "bytes N"), ``limit``
    the rule it broke ("type", "size", "pixels", "pages", "request"), ``value`` the
    measured figure and ``maximum`` the allowed one (None for a wrong type)."""

    def __init__(
        self,
        message: str,
        *,
        name: str,
        limit: str,
        value: int | None = None,
        maximum: int | None = None,
    ) -> None:
        super().__init__(message)
        self.name = name
        self.limit = limit
        self.value = value
        self.maximum = maximum


class ConfigError(UserError):
    """A configuration value (flag, environment variable, config file) is missing or invalid."""


class RetiredModel(UserError):
    """The model has passed its retirement date: the API would answer 404. Names the successor."""

    def __init__(
        self, message: str, *, model: str, retired_on: date, replacement: str | None
    ) -> None:
        super().__init__(message)
        self.model = model
        self.retired_on = retired_on
        self.replacement = replacement


class UnknownModel(UserError):
    """A model name that is not in the capability table but close to one that is (a typo):
    refused, with the name it most likely meant in ``suggestion``."""

    def __init__(self, message: str, *, model: str, suggestion: str) -> None:
        super().__init__(message)
        self.model = model
        self.suggestion = suggestion


class InvalidHistory(UserError):
    """A message history that the Messages API would reject.

    ``index`` is the position of the offending message (or ``None`` for the whole history).
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message if index is None else f"message {index}: {message}")
        self.index = index
        self.problem = message


class InvalidImport(UserError):
    """A file given to import is not a conversation claudechat can read; nothing was imported."""


class ToolDefinitionError(UserError):
    """A Python callable cannot be turned into a tool schema."""


class UserNotFound(UserError):
    """No user of the service with the given id or name."""


class ModelError(ClaudeChatError):
    """A model call failed. ``status`` is the HTTP status (None without one);
    ``error_type`` / ``error_code`` are the API's ``error.type`` / ``error.details.error_code``.

    Details are keyword arguments named as the attributes; each class declares its own below
    its docstring, with the value it has when not given."""

    status: int | None = None
    request_id: str | None = None
    error_type: str | None = None
    error_code: str | None = None

    def __init__(self, message: str, **details: Any) -> None:
        unknown = details.keys() - {
            name for cls in type(self).__mro__ for name in vars(cls).get("__annotations__", {})
        }
        if unknown:
            raise TypeError(f"{type(self).__name__} takes no detail {', '.join(sorted(unknown))}")
        super().__init__(message)
        self.__dict__.update(details)

    def __str__(self) -> str:
        text = super().__str__()
        extra = [f"status {self.status}"] if self.status is not None else []
        if self.request_id:
            extra.append(f"request {self.request_id}")
        return f"{text} ({', '.join(extra)})" if extra else text


class AuthError(ModelError):
    """The API key is missing, wrong or lacks permission."""


class RateLimited(ModelError):
    """The API asked us to slow down; ``retry_after`` in seconds when it said."""

    retry_after: float | None = None

    @property
    def spend_limit(self) -> bool:
        """True for a spend cap (waiting does not help; raise the limit)."""
        return self.error_code == "enforced_spend_limit_reached"


class Overloaded(ModelError):
    """The API is overloaded (529, or an overloaded_error event mid-stream)."""


class ContextOverflow(ModelError):
    """The prompt does not fit: ``tokens`` needed against ``limit`` available (when known)."""

    tokens: int | None = None
    limit: int | None = None


class StreamInterrupted(ModelError):
    """A streamed reply stopped before its end; ``partial`` holds what had arrived."""

    partial: Any = None


class BadResponse(ModelError):
    """The server's answer could not be read as a Messages API response."""


class TurnStopped(ClaudeChatError):
    """The turn this chat held was asked to stop through the store: the service's cancel
    (the web chat's stop button, ``POST /v1/conversations/{id}/cancel``) for a turn sent by
    the CLI or the library. What had arrived is kept as a partial reply, as after Ctrl-C."""


class ToolRefused(ClaudeChatError):
    """A tool declined a call; ``str(err)`` is sent to Claude as the ``is_error`` result."""


class StoreError(ClaudeChatError):
    """The conversation store failed."""


class ConversationNotFound(StoreError, KeyError):
    """No conversation (or message) with the given id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "conversation not found"


class ConcurrentUpdate(StoreError):
    """Another writer moved the conversation's head first; re-read and retry."""


class MemoryConflict(StoreError):
    """A memory write found its path taken, or gone, or under a file (another writer)."""


class ServiceError(ClaudeChatError):
    """The service refused a request by one of its own rules (a limit set by an admin);
    not a misuse of the library and not a failed model call."""


class SpendLimitExceeded(ServiceError):
    """A turn would take the user past a spend limit: ``limit`` names it (``usd_per_day`` or
    ``usd_per_month``), with its ``limit_usd``, the ``spent_usd`` in the window so far and
    ``resets_at`` (epoch seconds, UTC) when the window starts again."""

    def __init__(
        self, message: str, *, limit: str, limit_usd: float, spent_usd: float, resets_at: float
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.resets_at = resets_at

    def __reduce__(self) -> tuple[Any, ...]:
        details = (self.limit, self.limit_usd, self.spent_usd, self.resets_at)
        return _rebuild_spend, (str(self), *details)


class TooManyStreams(ServiceError):
    """The user already has ``active`` turns running, their ``limit`` of concurrent streams."""

    def __init__(self, message: str, *, limit: int, active: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.active = active

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_streams, (str(self), self.limit, self.active)


def _rebuild_spend(message: str, limit: str, limit_usd: float, spent: float, resets_at: float
                   ) -> SpendLimitExceeded:  # fmt: skip
    return SpendLimitExceeded(message, limit=limit, limit_usd=limit_usd, spent_usd=spent,
                              resets_at=resets_at)  # fmt: skip


def _rebuild_streams(message: str, limit: int, active: int) -> TooManyStreams:
    return TooManyStreams(message, limit=limit, active=active)
