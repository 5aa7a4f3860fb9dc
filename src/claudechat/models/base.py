"""The ``Model`` protocol: what the turn loop needs from a model, in claudechat types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..usage import Usage

__all__ = [
    "AsyncModel",
    "Done",
    "Model",
    "ModelResponse",
    "Request",
    "StreamEvent",
    "TextDelta",
    "ThinkingDelta",
    "UsageSoFar",
]


# Optional fields, sent when set: those token counting takes too, then those only replies take.
_COUNTED = ("system", "tools", "tool_choice", "thinking", "context_management")
_SENT_ONLY = ("stop_sequences", "temperature", "metadata", "cache_control", "diagnostics")


@dataclass(slots=True)
class Request:
    """One Messages API request, fields named as the API names them."""

    model: str
    max_tokens: int
    messages: list[dict[str, Any]]
    system: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: dict[str, Any] | None = None
    thinking: dict[str, Any] | None = None
    stop_sequences: list[str] = field(default_factory=list)
    temperature: float | None = None
    metadata: dict[str, Any] | None = None
    cache_control: dict[str, Any] | None = None
    diagnostics: dict[str, Any] | None = None
    context_management: dict[str, Any] | None = None
    betas: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_api(self, *, for_count: bool = False) -> dict[str, Any]:
        """Keyword arguments for ``messages.create`` (or ``count_tokens`` with for_count)."""
        body: dict[str, Any] = {"model": self.model, "messages": self.messages}
        if not for_count:
            body["max_tokens"] = self.max_tokens
        for name in _COUNTED if for_count else _COUNTED + _SENT_ONLY:
            value = getattr(self, name)
            if value is not None and value != []:  # unset: None or an empty list
                body[name] = value
        if not for_count:  # extra fields (top_p, service_tier, …) shape replies, not counts
            body.update(self.extra)
        return body


@dataclass(slots=True)
class ModelResponse:
    """A finished (or, inside StreamInterrupted, partial) reply."""

    id: str | None
    model: str
    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: Usage
    stop_sequence: str | None = None
    cache_miss_reason: str | None = None
    cache_missed_tokens: int | None = None  # the API's estimate for a miss
    context_management: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of reply text as it arrives."""

    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """A piece of thinking text as it arrives."""

    text: str


@dataclass(frozen=True, slots=True)
class UsageSoFar:
    """The usage the stream has reported so far (at message_start, then each delta), so
    a reply cut short is still accounted for."""

    usage: Usage


@dataclass(frozen=True, slots=True)
class Done:
    """The stream finished; the whole reply."""

    response: ModelResponse


StreamEvent = TextDelta | ThinkingDelta | UsageSoFar | Done
"""What ``Model.stream`` yields: text and thinking as they arrive, usage, then ``Done``."""


@runtime_checkable
class Model(Protocol):
    """A synchronous model: create, stream, count tokens."""

    name: str

    def create(self, request: Request) -> ModelResponse:
        """Send the request and return the whole reply."""
        ...

    def stream(self, request: Request) -> Iterator[StreamEvent]:
        """Send the request and yield deltas, then ``Done``.

        Raises StreamInterrupted (with ``partial``) when the stream is cut.
        """
        ...

    def count_tokens(self, request: Request) -> int:
        """Exact input tokens of the request (the count_tokens endpoint)."""
        ...


@runtime_checkable
class AsyncModel(Protocol):
    """The async twin of ``Model``."""

    name: str

    async def create(self, request: Request) -> ModelResponse:
        """Send the request and return the whole reply."""
        ...

    def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        """Send the request and yield deltas, then ``Done``."""
        ...

    async def count_tokens(self, request: Request) -> int:
        """Exact input tokens of the request."""
        ...
