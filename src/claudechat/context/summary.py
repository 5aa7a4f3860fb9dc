"""``RollingSummary``: evicted turns folded into a running summary by a cheaper model.

Only the newly evicted turns and the previous summary go to the summary model, so each
fold costs little. Every new summary goes back to the chat in ``Prepared.keep`` with the
range of messages it covers; the chat stores it beside the transcript with what its
requests cost, and hands the stored ones back (``ContextRequest.summaries``) when a chat
is resumed. The summary travels in the
system prompt, inside ``<conversation_summary>``, after the base system prompt's cache
breakpoint, so it changes only when the window trims (which changes the message prefix
anyway).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..messages import Message, new_id
from ..metadata import FACTS_FOLDED, FACTS_LOST, MESSAGES_FOLDED, REFITTED
from ..store.base import Summary
from .base import Candidate, ContextState, Summarizer, TokenCounter, summary_block
from .facts import extract_facts, message_facts, missing
from .window import TokenWindow, turn_starts

__all__ = [
    "SUMMARY_SYSTEM",
    "RollingSummary",
    "make_summarizer",
    "render_transcript",
    "trim_summary",
]

_CUT = "\n[… the rest of the summary was cut to fit the budget …]"

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
    "<new_turns>\n{turns}\n</new_turns>\n\n{facts}"
    "Fold the new turns into the previous summary and write the updated summary "
    "(at most about {words} words)."
)
_FACTS = (
    "<facts_to_keep>\n{facts}\n</facts_to_keep>\n\n"
    "The new turns hold these exact details. Keep each one in the summary word for word "
    "(with what it refers to), unless it is plainly irrelevant.\n\n"
)
_MAX_ANCHORS = 120  # facts listed in one summary request; the rest the ledger keeps
_MAX_LOST = 200  # lost facts a fold record lists (the newest); the ledger has them all


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


def make_summarizer(complete: Callable[..., str], *, model: str) -> Summarizer:
    """A ``(new turns text, previous summary, max_tokens=, facts=) -> summary`` function
    over ``complete``; the request asks for about half as many words as ``max_tokens`` and
    lists the ``facts`` (anchors) to keep word for word."""

    def summarize(
        turns: str, previous: str | None, *, max_tokens: int, facts: Sequence[str] = ()
    ) -> str:
        anchors = "\n".join(f"- {f}" for f in facts[:_MAX_ANCHORS])
        prompt = _PROMPT.format(
            previous=previous or "(none yet)",
            turns=turns or "(none)",
            facts=_FACTS.format(facts=anchors) if anchors else "",
            words=max_tokens // 2,
        )
        text = complete(SUMMARY_SYSTEM, prompt, model=model, max_tokens=max_tokens)
        return str(text).strip()

    return summarize


def trim_summary(text: str, limit: int, counter: TokenCounter) -> str:
    """The summary cut (with a visible marker) so its block holds at most ``limit`` tokens."""
    for _ in range(8):
        tokens = counter.blocks_tokens([summary_block(text)])
        if tokens <= limit:
            return text
        keep = int(len(text) * max(limit - 48, 0) / tokens * 0.9)
        text = text[:keep].rstrip() + _CUT
    return _CUT.strip()


def _ask(cap: int) -> int:
    """The max_tokens of a summary request whose summary block may hold ``cap`` tokens."""
    return max(64, cap - 48)


def _folded_messages(
    history: Sequence[Message], first_id: str, evicted: Sequence[Message]
) -> Sequence[Message]:
    """Every message the new summary covers: from ``first_id`` to the last evicted one
    (the evicted ones alone when the branch does not hold them)."""
    ids = [m.id for m in history]
    if first_id not in ids or evicted[-1].id not in ids:
        return evicted
    return history[ids.index(first_id) : ids.index(evicted[-1].id) + 1]


@dataclass(frozen=True, slots=True)
class _Folded:
    text: str
    first_id: str
    last_id: str


class RollingSummary:
    """Replace evicted turns by a rolling summary; the turns stay in the store.

    ``window`` decides what is evicted (a cache-aware TokenWindow by default). The summary
    holds at most ``max_summary_tokens`` (and a quarter of the budget): asked for, checked,
    and redone shorter or cut when over, so a summary never leaves a conversation stuck.
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
            stored = state.stored_summaries() if state.stored_summaries is not None else ()
            self._folds[conv] = [_Folded(s.text, s.first_id, s.last_id) for s in stored]
        return self._folds[conv]

    def limit(self, state: ContextState) -> int:
        """Tokens the summary block may hold: ``max_summary_tokens``, at most a quarter of
        the budget."""
        return min(self.max_summary_tokens, state.budget // 4)

    def apply(self, candidate: Candidate, state: ContextState) -> Candidate:
        """Cut what the summary covers, window the rest, fold what the window evicts."""
        history = candidate.history
        index = {m.id: i for i, m in enumerate(history)}
        known = self._known(state)
        current = next((f for f in reversed(known) if f.last_id in index), None)
        cap = self.limit(state)
        if current is not None:
            fitted = self._fit(state, current.text, cap)
            if fitted != current.text:  # stored larger than this budget allows: refitted
                current = _Folded(fitted, current.first_id, current.last_id)
                self._add(state, current, {REFITTED: True})
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
        reserve = max(0, cap - used)
        keep_last = 1 if state.force_compact else 0
        kept, evicted = self.window.select(candidate, state, reserve=reserve, keep_last=keep_last)
        if not evicted:
            return kept
        if state.summarize is None or state.dry_run:
            reason = "dry run" if state.dry_run else "no summary model"
            return kept.with_(notes={**kept.notes, "summary_skipped": reason})
        text = candidate.summary
        rendered = render_transcript(evicted)
        for i in range(0, len(rendered), self.chunk_chars):
            chunk = rendered[i : i + self.chunk_chars]
            anchors = [f.value for f in extract_facts(chunk)]
            text = state.summarize(chunk, text, max_tokens=_ask(cap), facts=anchors)
        first_id = current.first_id if current else evicted[0].id
        folded = _Folded(self._fit(state, text or "", cap), first_id, evicted[-1].id)
        self.folds += 1
        facts = message_facts(_folded_messages(state.history, first_id, evicted))
        lost = missing(facts, folded.text)
        record = {
            MESSAGES_FOLDED: len(evicted),
            FACTS_FOLDED: len(facts),
            FACTS_LOST: [f.to_dict() for f in lost[-_MAX_LOST:]],
        }
        self._add(state, folded, record)
        notes = {**kept.notes, "summarized_messages": len(evicted), "facts_lost": len(lost)}
        return kept.with_(
            summary=folded.text, summary_covers=(first_id, folded.last_id), notes=notes
        )

    def _fit(self, state: ContextState, text: str, cap: int) -> str:
        """The summary within ``cap`` tokens: as is, else asked again shorter, else cut."""
        counter = state.counter
        if counter.blocks_tokens([summary_block(text)]) <= cap:
            return text
        if state.summarize is not None and not state.dry_run:
            text = state.summarize("", text, max_tokens=_ask(cap) * 3 // 4) or text
        return trim_summary(text, cap, counter)

    def _add(self, state: ContextState, folded: _Folded, metadata: dict[str, Any]) -> None:
        """Make ``folded`` the newest summary of its range, to be stored by the chat (unless a
        dry run)."""
        if state.dry_run:
            return
        state.remember(self._folds, state.conversation_id, [*self._known(state), folded])
        if state.conversation_id is None:
            return
        state.keep.summaries.append(
            Summary(
                id=new_id(),
                conversation_id=state.conversation_id,
                text=folded.text,
                first_id=folded.first_id,
                last_id=folded.last_id,
                created_at=time.time(),
                model=state.summary_model,
                tokens=state.counter.text_tokens(folded.text),
                metadata=metadata,
            )
        )
