"""``FactLedger``: the verbatim facts of turns that left the request, kept in view.

When the window trims turns, or a summary folds them, their facts (numbers with units,
dates, names, paths, commands, URLs, code symbols, ids; see `claudechat.context.facts`)
would be gone from the request, or survive only as well as the summary kept them. The
ledger holds every fact of the turns the request no longer carries that neither the kept
turns nor the summary still hold, and sends the ones relevant to the new user message
(ranked by BM25 over each fact's sentence, within ``max_tokens``) in one
``<conversation_facts>`` block.

The block changes with every question, so, like recalled turns, it goes after the last
cache breakpoint and is never stored. Facts are made from the stored transcript, so a
chat resumed in another process, a fork and an import have the same ledger. Put the
ledger after the window or summary policy (it looks at what they kept) and before
`Recall` (which then budgets what is left).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError
from ..messages import Message
from ..search.bm25 import BM25
from ..tokens import TokenAccountant
from .base import Candidate, ContextState, TokenCounter, candidate_tokens
from .facts import Fact, message_facts, normalize

__all__ = ["FACTS_TAG", "LEDGER_NOTE", "DroppedRecord", "FactLedger", "facts_block"]

FACTS_TAG = "conversation_facts"
LEDGER_NOTE = "ledger"  # the key of the dropped record in the candidate's notes

_HEAD = (
    f"<{FACTS_TAG}>\nExact details from earlier turns that are no longer shown, most "
    "relevant to the new message first. Rely on them over any paraphrase.\n"
)
_TAIL = f"</{FACTS_TAG}>"
_SNIPPET_CHARS = 110
_SHOWN = 5  # facts a dropped record lists by value
_CANDIDATES = 64  # the best facts looked at for one block (more never fit a few hundred tokens)


@dataclass(frozen=True, slots=True)
class DroppedRecord:
    """What left the request: how many messages, and which facts live only in the ledger
    now (``facts``: how many; ``first``: the newest few, by value); ``sent``: how many of
    them this request carries."""

    messages: int
    facts: int
    sent: int
    first: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The record as plain data (for the candidate's notes and reports)."""
        return {
            "messages": self.messages,
            "facts": self.facts,
            "sent": self.sent,
            "first": list(self.first),
        }


def _short(snippet: str, value: str) -> str:
    """The snippet cut to about ``_SNIPPET_CHARS`` characters around ``value``."""
    if len(snippet) <= _SNIPPET_CHARS:
        return snippet
    at = max(snippet.find(value), 0)
    start = max(0, min(at - _SNIPPET_CHARS // 3, len(snippet) - _SNIPPET_CHARS))
    cut = snippet[start : start + _SNIPPET_CHARS]
    return ("…" if start else "") + cut + ("…" if start + _SNIPPET_CHARS < len(snippet) else "")


def facts_block(
    facts: Sequence[Fact], *, max_tokens: int, count: Callable[[str], int]
) -> tuple[str, list[Fact]]:
    """The ``<conversation_facts>`` text holding as many ``facts`` (best first) as fit
    ``max_tokens``, each with its sentence the first time that sentence is shown.

    Lines are chosen on a generous size per character and the whole block is then counted
    (and cut from the end until it fits), so a block costs a few counts, not one a line.
    """
    used = count(_HEAD + _TAIL)
    lines: list[str] = []
    chosen: list[Fact] = []
    shown: set[str] = set()
    for fact in facts[:_CANDIDATES]:
        line = f"- {fact.value}"
        if fact.snippet and fact.snippet not in shown:
            line += f": {_short(fact.snippet, fact.value)}"
        size = len(line) // 3 + 2
        if used + size > max_tokens:
            continue  # a shorter line further down may still fit
        shown.add(fact.snippet)
        lines.append(line)
        chosen.append(fact)
        used += size
    while chosen:
        text = _HEAD + "\n".join(lines) + "\n" + _TAIL
        if count(text) <= max_tokens:
            return text, chosen
        lines.pop()
        chosen.pop()
    return "", []


@dataclass(slots=True)
class _Index:
    """The facts seen so far in one conversation, with a BM25 index over their sentences."""

    bm25: BM25 = field(default_factory=BM25)
    facts: dict[str, list[Fact]] = field(default_factory=dict)  # message id -> its facts
    position: dict[tuple[str, str], int] = field(default_factory=dict)  # (msg, key) -> doc

    def of(self, message: Message) -> list[Fact]:
        """The facts of ``message``, extracted once and indexed."""
        known = self.facts.get(message.id)
        if known is None:
            known = message_facts([message])
            docs = self.bm25.add(f"{f.value} {f.snippet}" for f in known)
            for fact, doc in zip(known, docs, strict=True):
                self.position[(fact.message_id, fact.key)] = doc
            self.facts[message.id] = known
        return known


class FactLedger:
    """Send the facts of dropped turns that the request no longer holds, best first.

    ``max_tokens`` caps the block (and the room left in the budget caps it further).
    With ``max_tokens=0`` nothing is sent, but the dropped record is still made.
    """

    def __init__(self, *, max_tokens: int = 300) -> None:
        if max_tokens < 0:
            raise UserError(f"FactLedger max_tokens must not be negative, got {max_tokens}")
        self.max_tokens = max_tokens
        self._indexes: dict[str | None, _Index] = {}

    def only_in_ledger(self, candidate: Candidate, state: ContextState) -> tuple[int, list[Fact]]:
        """(messages the request dropped, the facts of them it no longer holds anywhere:
        not in a kept message, not in the summary), newest first."""
        index = self._indexes.setdefault(state.conversation_id, _Index())
        kept_ids = {m.id for m in candidate.history}
        dropped = [m for m in state.history if m.id not in kept_ids]
        if not dropped:
            return 0, []
        kept_keys = {f.key for m in candidate.history for f in index.of(m)}
        summary = normalize(candidate.summary or "")
        seen: set[str] = set()
        only: list[Fact] = []
        for m in reversed(dropped):
            for fact in index.of(m):
                key = fact.key
                if key in seen or key in kept_keys or (summary and key in summary):
                    continue
                seen.add(key)
                only.append(fact)
        return len(dropped), only

    def rank(self, facts: Sequence[Fact], query: str, conversation_id: str | None) -> list[Fact]:
        """``facts`` by BM25 relevance of their sentence to ``query``; ties (and facts no
        query term matches) keep their order, newest first."""
        index = self._indexes.get(conversation_id)
        if index is None or not facts or not query.strip():
            return list(facts)
        docs = [index.position[(f.message_id, f.key)] for f in facts]
        scores = index.bm25.scores(query, among=docs)
        order = sorted(range(len(facts)), key=lambda i: -float(scores[docs[i]]))
        return [facts[i] for i in order]

    def apply(self, candidate: Candidate, state: ContextState) -> Candidate:
        """Inject the most relevant facts that only the ledger holds; note what was dropped."""
        dropped, only = self.only_in_ledger(candidate, state)
        if not dropped:
            return candidate
        query = state.query or (candidate.history[-1].text if candidate.history else "")
        room = state.budget - candidate_tokens(candidate, state.counter)
        cap = min(self.max_tokens, room)
        text, sent = "", list[Fact]()
        if cap > 0 and only:
            ranked = self.rank(only, query, state.conversation_id)
            text, sent = facts_block(ranked, max_tokens=cap, count=_count(state.counter))
        record = DroppedRecord(dropped, len(only), len(sent), tuple(f.value for f in only[:_SHOWN]))
        notes = {**candidate.notes, LEDGER_NOTE: record.to_dict()}
        if not text:
            return candidate.with_(notes=notes)
        block = {"type": "text", "text": text}
        return candidate.with_(injected=[*candidate.injected, block], notes=notes)


def _count(counter: TokenCounter | None) -> Callable[[str], int]:
    return (counter or TokenAccountant()).text_tokens
