"""What one user turn produced: ``Reply`` for the caller, ``TurnState`` while it runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..context.documents import Document
from ..messages import Message
from ..usage import Usage

__all__ = ["Reply", "TurnState"]


@dataclass(slots=True)
class Reply:
    """The outcome of one user turn.

    ``text`` is the final answer's text (tool rounds excluded); ``messages`` every message
    the turn added after the prompt (replies and tool results); ``usage`` / ``cost_usd``
    the turn's requests (cost None when unknown).
    """

    message: Message
    messages: list[Message]
    usage: Usage
    cost_usd: float | None
    prefill: str | None = None

    @property
    def text(self) -> str:
        """The reply text, beginning with the prefill when one was asked."""
        return self.message.text

    @property
    def stop_reason(self) -> str | None:
        """Why the model stopped (end_turn, max_tokens, tool_use, ...)."""
        return self.message.stop_reason

    @property
    def truncated(self) -> bool:
        """True when the reply hit max_tokens (or the context window) and was cut."""
        return self.stop_reason in ("max_tokens", "model_context_window_exceeded")

    @property
    def partial(self) -> bool:
        """True when the stream was interrupted and only part of the reply arrived."""
        return self.message.status != "complete"

    @property
    def id(self) -> str:
        """The assistant message id."""
        return self.message.id

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class TurnState:
    """What the current user turn has produced: messages, usage, rounds."""

    prefill: str | None = None
    documents: Sequence[Document] | None = None  # this turn's documents, sent each round
    messages: list[Message] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost: float | None = 0.0
    rounds: int = 0
    pauses: int = 0  # pause_turn / compaction continuations
    last: Message | None = None  # the newest assistant message of the turn

    def add_cost(self, usage: Usage, cost: float | None) -> None:
        """Count one request's usage and cost (cost stays None once any is unknown)."""
        self.usage = self.usage + usage
        self.cost = None if cost is None or self.cost is None else self.cost + cost

    def reply(self) -> Reply:
        """The Reply for the turn so far (its last assistant message)."""
        final = next(m for m in reversed(self.messages) if m.role == "assistant")
        return Reply(final, list(self.messages), self.usage, self.cost, self.prefill)
