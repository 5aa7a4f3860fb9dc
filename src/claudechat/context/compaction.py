"""``ServerCompaction``: let the API compact the context (``compact_20260112`` edit).

The API answers with a ``compaction`` block at the start of its reply; the chat stores it
with the assistant message and it is sent back unchanged. The API ignores everything
before the last compaction block, so this policy also stops sending the turns before the
one that holds it (they stay in the store).
"""

from __future__ import annotations

from typing import Any

from ..errors import UserError
from ..messages import Message
from .base import Candidate, ContextState
from .window import turn_starts

__all__ = ["COMPACT_BETA", "COMPACT_EDIT", "ServerCompaction", "after_compaction"]

COMPACT_EDIT = "compact_20260112"
COMPACT_BETA = "compact-2026-01-12"
_MIN_TRIGGER = 50_000
_DEFAULT_TRIGGER = 150_000


def _has_compaction(message: Message) -> bool:
    return any(b.get("type") == "compaction" for b in message.content)


def after_compaction(history: list[Message]) -> list[Message]:
    """The history from the turn holding the last compaction block on (all of it if none)."""
    for i in range(len(history) - 1, -1, -1):
        if history[i].role == "assistant" and _has_compaction(history[i]):
            starts = [s for s in turn_starts(history) if s <= i]
            return history[starts[-1] :] if starts else history
    return history


class ServerCompaction:
    """Ask the API to compact the context when it passes ``trigger`` input tokens.

    ``trigger`` defaults to 75% of the budget, clamped to the API's 50K–150K range; a
    TokenWindow after this policy still guards budgets below the API's minimum.
    """

    def __init__(
        self,
        *,
        trigger: int | None = None,
        instructions: str | None = None,
        pause_after_compaction: bool = False,
    ) -> None:
        if trigger is not None and trigger < _MIN_TRIGGER:
            raise UserError(f"the compaction trigger must be at least {_MIN_TRIGGER:,} tokens")
        self.trigger = trigger
        self.instructions = instructions
        self.pause_after_compaction = pause_after_compaction

    def edit(self, budget: int) -> dict[str, Any]:
        """The ``context_management`` edit this policy sends for ``budget``."""
        value = self.trigger or max(_MIN_TRIGGER, min(_DEFAULT_TRIGGER, int(budget * 0.75)))
        edit: dict[str, Any] = {
            "type": COMPACT_EDIT,
            "trigger": {"type": "input_tokens", "value": value},
        }
        if self.instructions:
            edit["instructions"] = self.instructions
        if self.pause_after_compaction:
            edit["pause_after_compaction"] = True
        return edit

    def apply(self, candidate: Candidate, state: ContextState) -> Candidate:
        """Add the edit and its beta; drop the turns the API would ignore."""
        history = after_compaction(candidate.history)
        betas = (
            candidate.betas if COMPACT_BETA in candidate.betas else [*candidate.betas, COMPACT_BETA]
        )
        notes = candidate.notes
        if len(history) != len(candidate.history):
            notes = {**notes, "compacted_messages": len(candidate.history) - len(history)}
        return candidate.with_(
            history=history,
            edits=[*candidate.edits, self.edit(state.budget)],
            betas=betas,
            notes=notes,
        )
