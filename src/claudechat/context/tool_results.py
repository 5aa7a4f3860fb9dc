"""``ClearToolResults``: old bulky tool results replaced by a short stub.

The stub boundary moves in steps of ``step`` turns rather than every turn, so the
request prefix changes rarely and the prompt cache survives. Optionally also passes
the server-side ``clear_tool_uses_20250919`` edit through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..messages import Block, Message
from .base import Candidate, ContextState
from .window import turn_starts

__all__ = ["CLEAR_EDIT", "CONTEXT_MANAGEMENT_BETA", "ClearToolResults"]

CLEAR_EDIT = "clear_tool_uses_20250919"
CONTEXT_MANAGEMENT_BETA = "context-management-2025-06-27"
STUB = "[tool result cleared to save context: {chars:,} characters; run the tool again if needed]"


def _result_chars(block: Block) -> int:
    content = block.get("content", "")
    if isinstance(content, str):
        return len(content)
    return sum(
        len(str(b.get("text", ""))) if b.get("type") == "text" else 4000
        for b in content
        if isinstance(b, dict)
    )


class ClearToolResults:
    """Stub ``tool_result`` contents over ``min_chars`` once they are ``keep_turns`` old.

    With ``server=True`` the API's own clearing edit is sent too (``server_trigger`` input
    tokens, keeping ``server_keep`` tool uses).
    """

    def __init__(
        self,
        *,
        keep_turns: int = 4,
        step: int = 8,
        min_chars: int = 2000,
        server: bool = False,
        server_trigger: int | None = None,
        server_keep: int = 3,
        exclude_tools: Sequence[str] = (),
    ) -> None:
        self.keep_turns = max(0, keep_turns)
        self.step = max(1, step)
        self.min_chars = min_chars
        self.server = server
        self.server_trigger = server_trigger
        self.server_keep = server_keep
        self.exclude_tools = list(exclude_tools)
        self._memo: dict[tuple[str, int], Message] = {}

    def edit(self) -> dict[str, Any]:
        """The server-side clearing edit."""
        edit: dict[str, Any] = {
            "type": CLEAR_EDIT,
            "keep": {"type": "tool_uses", "value": self.server_keep},
        }
        if self.server_trigger:
            edit["trigger"] = {"type": "input_tokens", "value": self.server_trigger}
        if self.exclude_tools:
            edit["exclude_tools"] = list(self.exclude_tools)
        return edit

    def _stubbed(self, message: Message, names: dict[str, str]) -> Message:
        key = (message.id, id(message.content))
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        content: list[Block] = []
        changed = False
        for b in message.content:
            if (
                b.get("type") == "tool_result"
                and names.get(str(b.get("tool_use_id"))) not in self.exclude_tools
                and _result_chars(b) > self.min_chars
            ):
                content.append({**b, "content": STUB.format(chars=_result_chars(b))})
                changed = True
            else:
                content.append(b)
        out = message.with_(content=content) if changed else message
        self._memo[key] = out
        return out

    def apply(self, candidate: Candidate, state: ContextState) -> Candidate:
        """Stub the old results (and add the server edit when asked)."""
        if self.server:
            betas = candidate.betas
            if CONTEXT_MANAGEMENT_BETA not in betas:
                betas = [*betas, CONTEXT_MANAGEMENT_BETA]
            candidate = candidate.with_(edits=[*candidate.edits, self.edit()], betas=betas)
        history = candidate.history
        starts = turn_starts(history)
        old = len(starts) - self.keep_turns
        boundary_turn = (old // self.step) * self.step if old > 0 else 0
        if boundary_turn <= 0:
            return candidate
        end = starts[boundary_turn]
        names: dict[str, str] = {}
        out: list[Message] = []
        cleared = 0
        for m in history[:end]:
            if m.role == "assistant":
                for b in m.content:
                    if b.get("type") == "tool_use":
                        names[str(b.get("id"))] = str(b.get("name"))
                out.append(m)
            elif any(b.get("type") == "tool_result" for b in m.content):
                new = self._stubbed(m, names)
                cleared += new is not m
                out.append(new)
            else:
                out.append(m)
        if not cleared:
            return candidate
        notes = {**candidate.notes, "tool_results_cleared": cleared}
        return candidate.with_(history=out + list(history[end:]), notes=notes)
