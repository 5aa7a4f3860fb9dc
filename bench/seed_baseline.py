"""The seed tutorial's approach, kept for comparison: no prompt caching, tokens estimated
as characters / 4, and the oldest user/assistant pair dropped until the estimate fits."""

from __future__ import annotations

from typing import Any

__all__ = ["SeedChat", "estimate_tokens", "trim_history"]


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """The tutorial's estimate: four characters per token."""
    return sum(len(str(m["content"])) for m in messages) // 4


def trim_history(messages: list[dict[str, Any]], max_tokens: int) -> list[dict[str, Any]]:
    """Drop the oldest pair until the estimate fits (rescanning the history each time)."""
    messages = list(messages)
    while estimate_tokens(messages) > max_tokens and len(messages) > 2:
        messages.pop(0)
        messages.pop(0)
    return messages


class SeedChat:
    """The tutorial's chat loop over an Anthropic client: whole history kept, trimmed copy sent."""

    def __init__(self, client: Any, model: str, *, system: str, budget: int, max_tokens: int):
        self.client = client
        self.model = model
        self.system = system
        self.budget = budget
        self.max_tokens = max_tokens
        self.history: list[dict[str, Any]] = []

    def send(self, text: str) -> Any:
        """One turn: append, trim, send, append the reply; returns the SDK message."""
        self.history.append({"role": "user", "content": text})
        messages = trim_history(self.history, self.budget)
        reply = self.client.messages.create(
            model=self.model, max_tokens=self.max_tokens, system=self.system, messages=messages
        )
        self.history.append({"role": "assistant", "content": reply.content[0].text})
        return reply
