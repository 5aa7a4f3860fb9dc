"""The context pipeline: policies that turn the stored history into the request to send.

A policy is a small object with ``apply(candidate, state) -> candidate``; the chat runs
its policies in the configured order before every request. A ``Candidate`` is plain data:
system blocks, tools, the history (whole turns of ``Message``), an optional rolling
summary, per-turn injected blocks (documents, recalled turns) and server-side edits.

Per-turn injected blocks are appended to the last user message AFTER the last cache
breakpoint, so they are sent with this request only and never disturb the cached prefix;
they are not stored in the history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

from ..messages import Block, Message, Turn, group_turns
from ..models.base import Request
from ..models.capabilities import ModelInfo
from ..store.base import Summary

__all__ = [
    "SUMMARY_TAG",
    "Candidate",
    "ContextPolicy",
    "ContextRequest",
    "ContextState",
    "Keep",
    "SideCall",
    "Summarizer",
    "TokenCounter",
    "candidate_tokens",
    "fixed_tokens",
    "run_pipeline",
    "summary_block",
]

SUMMARY_TAG = "conversation_summary"


@runtime_checkable
class TokenCounter(Protocol):
    """Token counts for what a request holds (exact where learned, else estimated)."""

    def message_tokens(self, message: Message) -> int:
        """Tokens one message adds to a request."""
        ...

    def message_bound(self, message: Message) -> int:
        """An upper bound of ``message_tokens`` that may be cheaper to make (the window's
        first pass decides on it); ``message_tokens`` itself where nothing is cheaper."""
        ...

    def text_tokens(self, text: str) -> int:
        """Tokens of a piece of text never sent before (an estimate)."""
        ...

    def blocks_tokens(self, blocks: Sequence[Block]) -> int:
        """Tokens of a list of content blocks (system, injected)."""
        ...

    def overhead_tokens(self, system: Sequence[Block], tools: Sequence[dict[str, Any]]) -> int:
        """Tokens of the request frame, the tool definitions and the system blocks."""
        ...


@dataclass(slots=True)
class Candidate:
    """The request being assembled, before it is turned into API fields."""

    system: list[Block]
    tools: list[dict[str, Any]]
    history: list[Message]  # whole turns, oldest first; ends with the new user message
    summary: str | None = None  # rolling summary of evicted turns, shown first
    summary_covers: tuple[str, str] | None = None  # (first, last) message ids it covers
    injected: list[Block] = field(default_factory=list)  # this turn only, after the cache
    edits: list[dict[str, Any]] = field(default_factory=list)  # server context_management
    betas: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)  # what the policies did, for display

    @property
    def turns(self) -> list[Turn]:
        """The history grouped into turns."""
        return group_turns(self.history)

    def with_(self, **changes: Any) -> Candidate:
        """A copy with some fields changed."""
        return replace(self, **changes)


class Summarizer(Protocol):
    """Folds new turns into the previous summary, in at most ``max_tokens`` tokens, keeping
    the listed facts of the new turns word for word."""

    def __call__(
        self, turns: str, previous: str | None, *, max_tokens: int, facts: Sequence[str] = ()
    ) -> str:
        """The updated summary; ``facts`` are values the new turns hold, to keep verbatim."""
        ...


@dataclass(slots=True)
class ContextRequest:
    """Everything the engine needs to build one request: what the chat hands ``prepare``.

    ``history`` is the whole active branch (the engine works on its own copy); the stored
    facts a policy may build on come as data: ``window_start`` (where the window began last,
    from the conversation's metadata) and ``summaries`` (a loader of the stored summaries,
    read once per conversation). Nothing here writes to a store: what the policies want kept
    comes back in ``Prepared.keep``.
    """

    model: ModelInfo
    max_tokens: int
    system: list[Block]
    tools: list[dict[str, Any]]
    history: list[Message]
    injected: Sequence[Block] = ()  # this turn only: documents, the prefill hint
    query: str = ""  # the new user text, for retrieval
    conversation_id: str | None = None
    window_start: str | None = None
    summaries: Callable[[], Sequence[Summary]] | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)  # thinking, temperature, ...
    previous_message_id: str | None = None  # the last response's API id (cache diagnostics)
    input_limit: int | None = None  # the input limit a "prompt is too long" error named
    force_compact: bool = False  # set by chat.compact()
    overflow_retry: bool = False  # the API said "prompt is too long" once already
    dry_run: bool = False  # look only: no side calls, nothing remembered


@dataclass(frozen=True, slots=True)
class SideCall:
    """A model call the engine needs answered before it can go on (sans I/O).

    ``kind`` "summary": ``request`` is a completion whose text is the answer; "count": its
    exact input tokens (``count_tokens``) are. ``key`` names the call in ``answers``.
    """

    kind: Literal["summary", "count"]
    request: Request
    key: str


@dataclass(slots=True)
class Keep:
    """What the policies made that should outlive the request; the chat stores it."""

    summaries: list[Summary] = field(default_factory=list)  # new rolling summaries
    window_start: str | None = None  # where the window starts now, after a trim


@dataclass(slots=True)
class ContextState:
    """What a policy may consult while one request is built (and what it wants kept)."""

    budget: int  # input tokens the request may hold
    counter: TokenCounter
    model: ModelInfo
    conversation_id: str | None = None
    history: Sequence[Message] = ()  # the whole active branch, before any policy
    summarize: Summarizer | None = None  # (evicted text, previous, max_tokens=) -> new
    summary_model: str | None = None
    stored_summaries: Callable[[], Sequence[Summary]] | None = None
    window_start: str | None = None  # the hint kept in the conversation's metadata
    query: str = ""  # the new user text, for retrieval
    force_compact: bool = False  # set by chat.compact()
    overflow_retry: bool = False  # set when the API said "prompt is too long" once already
    dry_run: bool = False  # look only: summarize nothing, remember nothing
    keep: Keep = field(default_factory=Keep)
    undo: list[Callable[[], None]] = field(default_factory=list)  # see ``remember``
    # The upper bound per message for this request, each message's made once (the
    # engine's ``TokenAccountant.request_bounds``; None: the counter's ``message_bound``).
    # The window, the fit check and rendering all read it.
    bound: Callable[[Message], int] | None = None

    def remember(self, memo: dict[Any, Any], key: Any, value: Any) -> None:
        """Set ``memo[key] = value``, a policy's memory across requests, so that it can be
        taken back: an attempt at a request cut short by a side call (the engine runs the
        policies again once it is answered) leaves the memos as they were."""
        had, old = key in memo, memo.get(key)
        memo[key] = value
        self.undo.append(lambda: memo.__setitem__(key, old) if had else memo.pop(key, None))


@runtime_checkable
class ContextPolicy(Protocol):
    """One step of the pipeline."""

    def apply(self, candidate: Candidate, state: ContextState) -> Candidate:
        """Return the candidate this policy would send (never mutate the input)."""
        ...


def run_pipeline(
    policies: Sequence[ContextPolicy], candidate: Candidate, state: ContextState
) -> Candidate:
    """Apply each policy in order."""
    for policy in policies:
        candidate = policy.apply(candidate, state)
    return candidate


def summary_block(text: str) -> Block:
    """The system text block that carries the rolling summary, clearly delimited."""
    return {
        "type": "text",
        "text": f"<{SUMMARY_TAG}>\nA summary of the earlier part of this conversation (those "
        f"turns are no longer shown):\n{text.strip()}\n</{SUMMARY_TAG}>",
    }


def fixed_tokens(candidate: Candidate, counter: TokenCounter) -> int:
    """Tokens of everything but the history: frame, tools, system, summary, injected blocks."""
    total = counter.overhead_tokens(candidate.system, candidate.tools)
    if candidate.summary:
        total += counter.blocks_tokens([summary_block(candidate.summary)])
    if candidate.injected:
        total += counter.blocks_tokens(candidate.injected)
    return total


def candidate_tokens(candidate: Candidate, counter: TokenCounter) -> int:
    """Estimated input tokens of the request this candidate becomes."""
    return fixed_tokens(candidate, counter) + sum(
        counter.message_tokens(m) for m in candidate.history
    )
