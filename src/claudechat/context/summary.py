"""``RollingSummary``: evicted turns folded into a running summary by a cheaper model.

Only the newly evicted turns and the previous summary go to the summary model, so each
fold costs little. Every summary is stored beside the transcript (``store.add_summary``)
with the range of messages it covers, and reloaded from ``store.summaries`` when a chat
is resumed. The summary travels in the system prompt, inside ``<conversation_summary>``,
after the base system prompt's cache breakpoint, so it changes only when the window
trims (which changes the message prefix anyway).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..messages import Message, new_id
from .base import Candidate, ContextState, summary_block
from .window import TokenWindow, turn_starts

__all__ = [
    "SUMMARY_SYSTEM",
    "RollingSummary",
    "make_summarizer",
    "render_transcript",
]

SUMMARY_SYSTEM = (
    "You maintain the running summary of a long conversation between a user and an AI "
    "assistant. The summary replaces turns that no longer fit in the assistant's context, "
    "so it must keep everything the assistant may need later: names of people, projects "
    "and things; numbers, amounts and dates exactly as written; decisions made and their "
    "reasons; the user's preferences and constraints; open questions and unfinished tasks; "
    "file paths, URLs, commands, code identifiers and error messages verbatim. Drop "
    "pleasantries and repetition. Write terse bullet points under short headings. Output "
    "only the updated summary."
)

_PROMPT = (
    "<previous_summary>\n{previous}\n</previous_summary>\n\n"
    "<new_turns>\n{turns}\n</new_turns>\n\n"
    "Fold the new turns into the previous summary and write the updated summary "
    "(at most about {words} words)."
)


def _block_line(role: str, block: dict[str, Any], limit: int) -> str | None:
    kind = block.get("type")
    if kind == "text":
        text = str(block.get("text", ""))
    elif kind == "tool_use":
        text = f"[called tool {block.get('name')} with {json.dumps(block.get('input', {}))}]"
    elif kind == "tool_result":
        content = block.get("content", "")
        if not isinstance(content, str):
            content = " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
        text = f"[tool result: {content}]"
    elif kind in ("image", "document"):
        text = f"[{kind} attached]"
    elif kind == "compaction":
        text = f"[earlier context: {block.get('content') or ''}]"
    else:
        return None
    if len(text) > limit:
        text = text[: limit * 2 // 3] + " […] " + text[-limit // 3 :]
    return f"{role}: {text}"


def render_transcript(messages: Sequence[Message], *, block_limit: int = 4000) -> str:
    """Plain text of turns for the summary model (thinking left out, long blocks cut)."""
    lines = []
    for m in messages:
        role = "User" if m.role == "user" else "Assistant"
        for b in m.content:
            line = _block_line(role, b, block_limit)
            if line:
                lines.append(line)
    return "\n".join(lines)


def make_summarizer(
    complete: Callable[..., str], *, model: str, max_tokens: int = 2048, words: int = 600
) -> Callable[[str, str | None], str]:
    """A ``(new turns text, previous summary) -> summary`` function over ``complete``."""

    def summarize(turns: str, previous: str | None) -> str:
        prompt = _PROMPT.format(previous=previous or "(none yet)", turns=turns, words=words)
        text = complete(SUMMARY_SYSTEM, prompt, model=model, max_tokens=max_tokens)
        return str(text).strip()

    return summarize


@dataclass(frozen=True, slots=True)
class _Folded:
    text: str
    first_id: str
    last_id: str


class RollingSummary:
    """Replace evicted turns by a rolling summary; the turns stay in the store.

    ``window`` decides what is evicted (a cache-aware TokenWindow by default);
    ``max_summary_tokens`` are kept free for the summary to grow into.
    """

    def __init__(
        self,
        *,
        window: TokenWindow | None = None,
        max_summary_tokens: int = 1500,
        chunk_chars: int = 60_000,
    ) -> None:
        self.window = window or TokenWindow(low_water=0.5)
        self.max_summary_tokens = max_summary_tokens
        self.chunk_chars = chunk_chars
        self._folds: dict[str | None, list[_Folded]] = {}
        self.folds = 0

    def _known(self, state: ContextState) -> list[_Folded]:
        conv = state.conversation_id
        if conv not in self._folds:
            loaded: list[_Folded] = []
            if state.store is not None and conv is not None:
                for s in state.store.summaries(conv):
                    loaded.append(_Folded(s.text, s.first_id, s.last_id))
            self._folds[conv] = loaded
        return self._folds[conv]

    def apply(self, candidate: Candidate, state: ContextState) -> Candidate:
        """Cut what the summary covers, window the rest, fold what the window evicts."""
        history = candidate.history
        index = {m.id: i for i, m in enumerate(history)}
        current = next((f for f in reversed(self._known(state)) if f.last_id in index), None)
        if current is not None:
            cut = index[current.last_id] + 1
            rest = history[cut:]
            starts = turn_starts(rest)
            if rest and not rest[0].is_user_text and len(starts) > 1:
                rest = rest[starts[1] :]
            if rest:
                candidate = candidate.with_(
                    history=list(rest),
                    summary=current.text,
                    summary_covers=(current.first_id, current.last_id),
                )
        counter = state.counter
        used = counter.blocks_tokens([summary_block(candidate.summary)]) if candidate.summary else 0
        reserve = max(0, min(self.max_summary_tokens, state.budget // 4) - used)
        keep_last = 1 if state.force_compact else 0
        kept, evicted = self.window.select(candidate, state, reserve=reserve, keep_last=keep_last)
        if not evicted:
            return kept
        if state.summarize is None or state.extras.get("dry_run"):
            reason = "dry run" if state.extras.get("dry_run") else "no summary model"
            return kept.with_(notes={**kept.notes, "summary_skipped": reason})
        text = candidate.summary
        rendered = render_transcript(evicted)
        for i in range(0, len(rendered), self.chunk_chars):
            text = state.summarize(rendered[i : i + self.chunk_chars], text)
        first_id = current.first_id if current else evicted[0].id
        folded = _Folded(text or "", first_id, evicted[-1].id)
        self._known(state).append(folded)
        self.folds += 1
        self._save(state, folded, len(evicted))
        notes = {**kept.notes, "summarized_messages": len(evicted)}
        return kept.with_(
            summary=folded.text, summary_covers=(first_id, folded.last_id), notes=notes
        )

    def _save(self, state: ContextState, folded: _Folded, count: int) -> None:
        if state.store is None or state.conversation_id is None:
            return
        from ..store.base import Summary

        state.store.add_summary(
            Summary(
                id=new_id(),
                conversation_id=state.conversation_id,
                text=folded.text,
                first_id=folded.first_id,
                last_id=folded.last_id,
                created_at=time.time(),
                model=state.extras.get("summary_model"),
                tokens=state.counter.text_tokens(folded.text),
                metadata={"messages_folded": count},
            )
        )
