"""How full the context window is, for people: `WindowFill`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["WindowFill"]


@dataclass(frozen=True, slots=True)
class WindowFill:
    """Tokens in the last request against the budget, split by what holds them."""

    tokens: int
    budget: int
    exact: bool  # True when the server counted it
    context_window: int = 0
    max_tokens: int = 0
    system_tokens: int = 0  # frame, tools and system prompt
    summary_tokens: int = 0
    injected_tokens: int = 0
    messages_tokens: int = 0
    turns_sent: int = 0
    messages_sent: int = 0
    messages_total: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Share of the budget used (0 when there is no budget)."""
        return self.tokens / self.budget if self.budget else 0.0
