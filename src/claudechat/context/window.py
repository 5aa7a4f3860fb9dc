"""``TokenWindow``: the newest whole turns that fit, trimmed in large steps for the cache.

With ``high_water`` = ``low_water`` = 1 it is the plain window: the newest turns that fit.
With a lower ``low_water`` it is cache-aware: it remembers the turn the window starts at
and keeps it while the kept turns stay under the high mark; when they pass it, it trims
down to the low mark in one step. The request prefix (system, the kept turns) therefore
stays byte-identical for many turns and the prompt cache keeps hitting.

Where the window starts after a trim is also kept in the conversation's metadata
(``window_start``), so a chat resumed in another process (``claudechat ask -c`` runs one
per turn) sends the same prefix and still reads it from the cache. That start is a
cache hint only: it is dropped when the turns before it fit (under any strategy or budget)
or when a fresh trim would keep more, so it never leaves out turns that fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import ContextOverflow, UserError
from ..messages import Block, Message, newest_turn_start
from .base import Candidate, ContextState, TokenCounter, fixed_tokens

__all__ = ["TokenWindow", "truncate_turn", "turn_starts"]

_MARK = "\n[… {cut:,} characters cut here to fit the context window …]\n"


def turn_starts(history: Sequence[Message]) -> list[int]:
    """Indices where turns start (a user text message, or the very first message)."""
    return [i for i, m in enumerate(history) if i == 0 or m.is_user_text]


def _shrink_text(text: str, keep: int) -> str:
    if keep >= len(text):
        return text
    keep = max(keep, 0)
    head = keep * 2 // 3
    tail = keep - head
    return text[:head] + _MARK.format(cut=len(text) - keep) + (text[-tail:] if tail else "")


def _shrinkable(block: Block) -> int:
    if block.get("type") == "text":
        return len(str(block.get("text", "")))
    if block.get("type") == "tool_result" and isinstance(block.get("content"), str):
        return len(block["content"])
    return 0


def _shrink_block(block: Block, keep: int) -> Block:
    if block.get("type") == "text":
        return {**block, "text": _shrink_text(str(block["text"]), keep)}
    return {**block, "content": _shrink_text(str(block["content"]), keep)}


def truncate_turn(
    messages: Sequence[Message], limit: int, counter: TokenCounter
) -> list[Message] | None:
    """The turn with its largest text blocks cut (a visible marker where the cut is) so it
    fits ``limit`` tokens; None when it cannot be made to fit."""
    msgs = list(messages)
    for _ in range(6):
        size = sum(counter.message_tokens(m) for m in msgs)
        if size <= limit:
            return msgs
        spots = [
            (_shrinkable(b), i, j)
            for i, m in enumerate(msgs)
            if m.status == "complete" or m.role == "user"
            for j, b in enumerate(m.content)
            if _shrinkable(b) > 200
        ]
        if not spots:
            return None
        chars, i, j = max(spots)
        if chars <= 32 + len(_MARK):
            return None
        block_tokens = max(1, counter.blocks_tokens([msgs[i].content[j]]))
        excess = size - limit
        keep_tokens = block_tokens - excess - 64
        keep = max(32, int(chars * keep_tokens / block_tokens) if keep_tokens > 0 else 0)
        content = list(msgs[i].content)
        content[j] = _shrink_block(content[j], keep)
        msgs[i] = msgs[i].with_(content=content)
    return None


@dataclass(slots=True)
class _Turns:
    """The history a window is chosen from: its messages sized by ``tokens``, the first
    turn that may be evicted (after a pinned one) and the newest turn, always kept."""

    history: Sequence[Message]
    tokens: Callable[[Message], int]
    first: int
    newest: int
    newest_size: int

    def all_fit(self, high: float) -> int | None:
        """The number of turns from ``first`` on when they all fit under ``high``."""
        total, count = self.newest_size, 1
        for i in range(self.first, self.newest):
            m = self.history[i]
            total += self.tokens(m)
            if i == self.first or m.is_user_text:
                count += 1
        return count if total <= high else None


@dataclass(frozen=True, slots=True)
class _Checked:
    """A window start found valid on exact counts. Appending turns only adds to the totals
    that made it valid, so it stays valid while the history grows and the marks do not rise."""

    start_id: str
    newest: int  # index of the newest user message then
    newest_id: str
    high: float
    low: float

    def holds(
        self, start_id: str | None, history: Sequence[Message], newest: int, high: float,
        low: float,
    ) -> bool:  # fmt: skip
        """Whether it is still valid for this history and these marks."""
        return (
            start_id == self.start_id
            and self.newest <= newest
            and history[self.newest].id == self.newest_id
            and high <= self.high
            and low <= self.low
        )


class TokenWindow:
    """Keep the newest whole turns that fit the budget; optional pinned first turn.

    ``high_water`` / ``low_water`` (fractions of the room left for turns): trim only when
    the kept turns pass the high mark, and then down to the low mark. A newest turn larger
    than the whole budget raises ContextOverflow, or is cut with a visible marker when
    ``allow_truncate`` is set.
    """

    def __init__(
        self,
        *,
        pin_first: bool = False,
        high_water: float = 1.0,
        low_water: float = 0.6,
        allow_truncate: bool = False,
    ) -> None:
        if not 0 < low_water <= high_water <= 1:
            raise UserError("TokenWindow needs 0 < low_water <= high_water <= 1")
        self.pin_first = pin_first
        self.high_water = high_water
        self.low_water = low_water
        self.allow_truncate = allow_truncate
        # conversation -> the message the window starts at (None: at the first turn, or
        # not known); a conversation missing here is looked up in the store once.
        self._starts: dict[str | None, str | None] = {}
        self._checked: dict[str | None, _Checked] = {}  # starts found valid on exact counts

    def start_of(self, conversation_id: str | None) -> str | None:
        """The id of the message the window currently starts at, if any."""
        return self._starts.get(conversation_id)

    def reset(self, conversation_id: str | None = None) -> None:
        """Forget where the window starts (the next request re-trims from scratch)."""
        self._starts[conversation_id] = None
        self._checked.pop(conversation_id, None)

    def _remembered(self, state: ContextState) -> str | None:
        cid = state.conversation_id
        if cid not in self._starts:  # first request of this conversation: the stored hint
            self._starts[cid] = state.window_start
        return self._starts[cid]

    def _remember(self, state: ContextState, start_id: str, trimmed: bool) -> None:
        """Keep where the window starts; after a trim, hand it back to be kept in the
        conversation's metadata too (a window at the first turn is what no hint gives)."""
        state.remember(self._starts, state.conversation_id, start_id)
        if trimmed and state.conversation_id is not None:
            state.keep.window_start = start_id

    def apply(self, candidate: Candidate, state: ContextState) -> Candidate:
        """The candidate with only the turns the window keeps (and the pinned first turn)."""
        return self.select(candidate, state)[0]

    def select(
        self, candidate: Candidate, state: ContextState, *, reserve: int = 0, keep_last: int = 0
    ) -> tuple[Candidate, list[Message]]:
        """The kept candidate and the messages it evicted (oldest first).

        ``reserve`` tokens are kept free (for a summary that may grow); ``keep_last`` > 0
        keeps only that many newest turns (compact now). Work is proportional to the
        turns looked at, not to the length of the history.
        """
        history = candidate.history
        if not history:
            return candidate, []
        # Upper bounds first: when they cross no threshold, neither would the counts, and
        # the choice is the same without estimating the new messages.
        bound = state.bound or state.counter.message_bound
        chosen = self._select(candidate, state, reserve, keep_last, bound, loose=True)
        if chosen is not None:
            return chosen
        chosen = self._select(candidate, state, reserve, keep_last, state.counter.message_tokens)
        assert chosen is not None
        return chosen

    def _select(
        self,
        candidate: Candidate,
        state: ContextState,
        reserve: int,
        keep_last: int,
        tokens: Callable[[Message], int],
        *,
        loose: bool = False,
    ) -> tuple[Candidate, list[Message]] | None:
        """``select`` with ``tokens`` per message; with ``loose`` (upper bounds), None
        where a bound crosses a threshold (the exact counts must decide)."""
        history = candidate.history
        newest = newest_turn_start(history)
        newest_size = sum(tokens(m) for m in history[newest:])
        avail = state.budget - fixed_tokens(candidate, state.counter) - reserve
        first, pinned = self._pinned(history, newest, tokens)
        if first and pinned + newest_size > avail:
            if loose:
                return None
            first = pinned = 0
            candidate = candidate.with_(notes={**candidate.notes, "pin_dropped": True})
        room = avail - pinned
        if newest_size > room:
            if loose:
                return None
            return self._oversize(candidate, state, history[newest:], room, first, newest)
        high, low = room * self.high_water, room * self.low_water
        if state.overflow_retry:
            high = low = room * min(self.low_water, 0.8) * 0.75
        remembered = None if (state.overflow_retry or keep_last) else self._remembered(state)
        turns = _Turns(history, tokens, first, newest, newest_size)
        start, count, fits, trusted = self._start(turns, state, high, low, remembered, keep_last)
        if loose and not fits:
            return None
        if not state.dry_run:
            self._keep_start(
                state, turns, start, high, low, remembered, record=not (loose or trusted)
            )
        evicted = history[first:start]
        notes = {**candidate.notes, "window_turns": count, "window_evicted": len(evicted)}
        kept = history[:first] + history[start:] if first else history[start:]
        return candidate.with_(history=kept, notes=notes), evicted

    def _pinned(
        self, history: Sequence[Message], newest: int, tokens: Callable[[Message], int]
    ) -> tuple[int, int]:
        """Where the pinned first turn ends and its tokens; (0, 0) when none is pinned."""
        if not self.pin_first or newest == 0:
            return 0, 0
        first = next((i for i in range(1, newest + 1) if history[i].is_user_text), newest)
        return first, sum(tokens(m) for m in history[:first])

    def _start(
        self,
        turns: _Turns,
        state: ContextState,
        high: float,
        low: float,
        remembered: str | None,
        keep_last: int,
    ) -> tuple[int, int, bool, bool]:
        """(index of the first kept message, number of kept turns, whether the choice
        stands, whether it rests on a start found valid before): see ``_choose``."""
        history, first = turns.history, turns.first
        if not keep_last and (remembered is None or history[first].id == remembered):
            # The window starts at the first turn (or nowhere yet): it keeps every turn if
            # they all fit under the high mark, which one pass over the messages tells.
            count = turns.all_fit(high)
            if count is not None:
                return first, count, True, False
        checked = self._checked.get(state.conversation_id)
        trusted = checked is not None and checked.holds(
            remembered, history, turns.newest, high, low
        )
        start, count, fits = self._choose(
            history, turns.tokens, turns.newest, turns.newest_size, first, high, low,
            remembered, keep_last, trusted=trusted,
        )  # fmt: skip
        return start, count, fits, trusted

    def _keep_start(
        self,
        state: ContextState,
        turns: _Turns,
        start: int,
        high: float,
        low: float,
        remembered: str | None,
        *,
        record: bool,
    ) -> None:
        """Remember where the window starts; with ``record`` (chosen on counts, not on
        bounds, and not trusted already), a remembered start found valid again is kept as
        checked for the requests that follow."""
        history = turns.history
        self._remember(state, history[start].id, trimmed=start > turns.first)
        if record and start > turns.first and history[start].id == remembered:
            newest = turns.newest
            found = _Checked(history[start].id, newest, history[newest].id, high, low)
            state.remember(self._checked, state.conversation_id, found)

    @staticmethod
    def _choose(
        history: Sequence[Message],
        tokens: Callable[[Message], int],
        newest: int,
        newest_size: int,
        first: int,
        high: float,
        low: float,
        remembered: str | None,
        keep_last: int,
        *,
        trusted: bool = False,
    ) -> tuple[int, int, bool]:
        """(index of the first kept message, number of kept turns, True), walking whole
        turns back from the newest, each message sized once; when the kept turns pass the
        high mark, the choice at the low mark and False.

        The remembered start is a cache hint only: it holds while the turns before it do
        not all fit under the high mark and the next older turn would pass the low mark
        (else a fresh trim keeps more); the answer it gives is then False, to be checked
        on exact counts, unless ``trusted`` (found valid on them for a shorter history).
        """
        total = 0
        low_start, low_count = newest, 1
        hint: tuple[int, int] | None = None  # the remembered start, once reached
        begin, size, k = newest, newest_size, 0  # the k-th newest turn: history[begin:...]
        while True:
            total += size
            if total > high:
                if hint is not None:
                    return hint[0], hint[1], False
                return low_start, low_count, False
            if total <= low:
                hint = None  # a turn older than the hint fits under the low mark: stale
                low_start, low_count = begin, k + 1
            if remembered is not None and history[begin].id == remembered:
                if trusted:
                    return begin, k + 1, True
                hint = (begin, k + 1)
            k += 1
            if begin <= first or k == keep_last:
                return begin, k, True
            # The next older turn ends where this one begins; it starts at the nearest
            # user text (or the first message). ``first`` is always such a start.
            i = begin - 1
            m = history[i]
            size = tokens(m)
            while i > 0 and not m.is_user_text:
                i -= 1
                m = history[i]
                size += tokens(m)
            begin = i

    def _oversize(
        self,
        candidate: Candidate,
        state: ContextState,
        turn: Sequence[Message],
        room: int,
        first: int,
        newest: int,
    ) -> tuple[Candidate, list[Message]]:
        counter = state.counter
        needed = sum(counter.message_tokens(m) for m in turn)
        fixed = state.budget - room
        if self.allow_truncate and room > 0:
            cut = truncate_turn(turn, room, counter)
            if cut is not None:
                history = candidate.history
                evicted = list(history[first:newest])
                if not state.dry_run:
                    state.remember(self._starts, state.conversation_id, cut[0].id)
                notes = {**candidate.notes, "truncated": True, "window_turns": 1}
                return candidate.with_(history=cut, notes=notes), evicted
        raise ContextOverflow(
            f"the newest turn needs {needed:,} tokens but only {max(room, 0):,} of the "
            f"{state.budget:,}-token budget are left after {fixed:,} tokens of system, tools "
            "and injected context; shorten it, raise the budget, or allow truncation",
            tokens=needed + fixed,
            limit=state.budget,
        )
