"""``Recall``: old turns relevant to the new message, brought back for this request only.

For each new user message it searches an index of the conversation's turns (and, when
enabled, of the user's other conversations) for the ``k`` most relevant turns that the
window does not hold, and injects them with their dates in one ``<recalled_turns>`` block.
Like documents, the block goes after the last cache breakpoint and is never stored.

Put it after the window / summary policy, so that it knows which turns the window kept.
`remember_policies` is that pair sized the way the memory frontier (bench/memory.py)
measured best: the window trimmed early enough to leave recall its share of the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from html import escape
from typing import TYPE_CHECKING

from ..errors import UserError
from ..messages import Block, Message, newest_turn_start
from ..search import SearchHit, SearchIndex, SearchUnit
from ..search.turns import DEFAULT_TURN_KEYS, index_turns
from ..tokens import TokenAccountant
from .base import Candidate, ContextPolicy, ContextState, TokenCounter, candidate_tokens

if TYPE_CHECKING:
    from .engine import Budget

__all__ = [
    "RECALL_TAG",
    "Recall",
    "RecallPreview",
    "RecallSizes",
    "recall_block",
    "recall_sizes",
    "remember_policies",
]

RECALL_TAG = "recalled_turns"

_HEAD = (
    f"<{RECALL_TAG}>\n<instructions>Earlier turns that are no longer shown, retrieved "
    "because they may bear on the new message. Dates are when each turn happened; use them "
    "if they help, and ignore any that do not.</instructions>\n"
)
_TAIL = f"</{RECALL_TAG}>"
_CUT = "\n[… cut to fit the recall budget …]"
_MIN_TURN_TOKENS = 48  # below this, a cut turn says too little to be worth sending


def _turn_xml(unit: SearchUnit, text: str, *, other_conversation: bool) -> str:
    attrs = []
    if unit.created_at is not None:
        moment = unit.created_at.astimezone(UTC) if unit.created_at.tzinfo else unit.created_at
        attrs.append(f'date="{moment:%Y-%m-%d %H:%M}{" UTC" if unit.created_at.tzinfo else ""}"')
    if unit.speaker:
        attrs.append(f'speaker="{escape(unit.speaker)}"')
    if other_conversation:
        attrs.append(f'conversation="{escape(unit.conversation_id)}"')
    body = text.replace(f"</{RECALL_TAG}", f"&lt;/{RECALL_TAG}").replace("</turn", "&lt;/turn")
    return f"<turn {' '.join(attrs)}>\n{body}\n</turn>\n"


def _chronological(unit: SearchUnit) -> tuple[bool, float, str]:
    when = unit.created_at
    return when is None, when.timestamp() if when is not None else 0.0, unit.id


def recall_block(
    hits: Sequence[SearchHit],
    *,
    max_tokens: int,
    count: Callable[[str], int],
    conversation_id: str | None = None,
) -> tuple[str, list[SearchHit]]:
    """The ``<recalled_turns>`` text holding as many ``hits`` (best first) as fit
    ``max_tokens``, shown oldest first; the last one that fits only in part is cut.
    Returns the text ("" when nothing fits) and the hits it holds."""
    # Counts of the pieces need not add up to the count of the whole: check the whole.
    cap = max_tokens
    while True:
        text, kept = _fill(hits, cap, count, conversation_id)
        over = count(text) - max_tokens if text else 0
        if over <= 0:
            return text, kept
        cap -= over


def _fill(
    hits: Sequence[SearchHit],
    max_tokens: int,
    count: Callable[[str], int],
    conversation_id: str | None,
) -> tuple[str, list[SearchHit]]:
    chosen: list[tuple[SearchHit, str]] = []
    used = count(_HEAD + _TAIL)
    for hit in hits:
        other = conversation_id is not None and hit.unit.conversation_id != conversation_id
        piece = _turn_xml(hit.unit, hit.unit.text, other_conversation=other)
        size = count(piece)
        if used + size <= max_tokens:
            chosen.append((hit, piece))
            used += size
            continue
        room = max_tokens - used - count(_CUT) - 16
        if room >= _MIN_TURN_TOKENS:
            keep = int(len(hit.unit.text) * room / size)
            while keep > 0:
                cut = _turn_xml(hit.unit, hit.unit.text[:keep] + _CUT, other_conversation=other)
                if used + count(cut) <= max_tokens:
                    chosen.append((hit, cut))
                    break
                keep = int(keep * 0.9)
        break
    if not chosen:
        return "", []
    chosen.sort(key=lambda c: _chronological(c[0].unit))
    return _HEAD + "".join(piece for _, piece in chosen) + _TAIL, [hit for hit, _ in chosen]


@dataclass(slots=True)
class RecallPreview:
    """What `Recall` would inject: the turns found, the block, and its token count."""

    hits: list[SearchHit]
    blocks: list[Block] = field(default_factory=list)
    tokens: int = 0

    @property
    def text(self) -> str:
        """The injected block's text ("" when nothing would be injected)."""
        return "".join(str(b.get("text", "")) for b in self.blocks)


class Recall:
    """Inject the ``k`` turns most relevant to the new user message that the window lacks.

    ``index`` is a `claudechat.search` index of turns (see `search.turns.index_turns`);
    with ``sync`` (the default) and a store in the context state, the conversation's
    finished turns are indexed first. The block never exceeds ``max_tokens`` nor the room
    left in the budget.
    """

    def __init__(
        self,
        index: SearchIndex,
        *,
        k: int = 5,
        max_tokens: int = 1500,
        across_conversations: bool = False,
        sync: bool = True,
        min_score: float = 0.0,
    ) -> None:
        if k < 1:
            raise UserError(f"Recall k must be at least 1, got {k}")
        if max_tokens < 1:
            raise UserError(f"Recall max_tokens must be positive, got {max_tokens}")
        self.index = index
        self.k = k
        self.max_tokens = max_tokens
        self.across_conversations = across_conversations
        self.sync = sync
        self.min_score = min_score
        # (conversation, n, id of message n - 1): every turn of the first n messages of
        # that branch is in the index, as this policy last indexed it
        self._indexed: tuple[str, int, str] | None = None

    # the policy ---------------------------------------------------------------------------

    def apply(self, candidate: Candidate, state: ContextState) -> Candidate:
        """Add the recalled turns to this request's injected blocks (the request's size,
        for the room left, is counted only when there are turns to add)."""
        query = state.query or (candidate.history[-1].text if candidate.history else "")
        cid = state.conversation_id
        hits = self._hits(query, cid, candidate.history, state.history if cid else None)
        preview = RecallPreview(hits=[])
        if hits:
            room = state.budget - candidate_tokens(candidate, state.counter)
            preview = self._block(hits, min(self.max_tokens, room), state.counter, cid)
        notes = {
            **candidate.notes,
            "recall": [
                {"id": h.unit.id, "conversation_id": h.unit.conversation_id, "score": h.score}
                for h in preview.hits
            ],
        }
        if not preview.blocks:
            return candidate.with_(notes=notes)
        return candidate.with_(injected=[*candidate.injected, *preview.blocks], notes=notes)

    # what /recall shows ---------------------------------------------------------------------

    def preview(
        self,
        query: str,
        *,
        conversation_id: str | None = None,
        window: Sequence[Message] = (),
        branch: Sequence[Message] | None = None,
        counter: TokenCounter | None = None,
        max_tokens: int | None = None,
    ) -> RecallPreview:
        """What would be injected for ``query`` given the messages the ``window`` holds.

        ``branch``: the conversation's active branch; its finished turns are indexed first
        (with ``sync``) and hits from other branches of the conversation are left out."""
        hits = self._hits(query, conversation_id, window, branch)
        cap = self.max_tokens if max_tokens is None else max_tokens
        return self._block(hits, cap, counter, conversation_id)

    def _hits(
        self,
        query: str,
        conversation_id: str | None,
        window: Sequence[Message],
        branch: Sequence[Message] | None,
    ) -> list[SearchHit]:
        """The turns found for ``query`` that the window lacks, on the branch (or in other
        conversations, with ``across_conversations``), above ``min_score``."""
        if not query.strip():
            return []
        branch_ids: set[str] | None = None
        if branch is not None and conversation_id is not None:
            branch_ids = {m.id for m in branch}
            if self.sync and not self._indexed_before(conversation_id, branch):
                self.index_branch(conversation_id, branch)
        in_window = {m.id for m in window}
        if branch_ids is not None and branch_ids <= in_window and not self.across_conversations:
            return []  # the window holds the whole branch: every turn found would be in it

        def on_branch(unit: SearchUnit) -> bool:
            if branch_ids is None or unit.conversation_id != conversation_id:
                return True
            return set(unit.message_ids) <= branch_ids

        hits = self.index.search(
            query,
            k=self.k,
            conversation_id=None if self.across_conversations else conversation_id,
            exclude_message_ids=in_window,
            where=on_branch,
        )
        return [h for h in hits if h.score > self.min_score]

    def index_branch(
        self, conversation_id: str, branch: Sequence[Message], *, include_last: bool = False
    ) -> int:
        """Index the branch's turns the index lacks (`index_turns`; the last one too with
        ``include_last``, once its reply is whole) and remember how far: the next request of
        the conversation, that branch and a new turn, then reads nothing of the index to
        find it up to date. Returns how many units were written."""
        written = index_turns(self.index, conversation_id, branch, keys=DEFAULT_TURN_KEYS,
                              include_last=include_last)  # fmt: skip
        through = len(branch) if include_last else newest_turn_start(branch)
        self._indexed = (conversation_id, through, branch[through - 1].id) if through else None
        return written

    def _indexed_before(self, conversation_id: str, branch: Sequence[Message]) -> bool:
        """True when this policy indexed every finished turn of ``branch`` already: the
        branch still holds the message it last indexed through, at the same place, and only
        the turn under way follows (a message's id stands for its whole ancestry)."""
        if self._indexed is None or self._indexed[0] != conversation_id:
            return False
        _, through, last_id = self._indexed
        if len(branch) <= through or branch[through - 1].id != last_id:
            return False
        return newest_turn_start(branch) == through

    def _block(
        self,
        hits: list[SearchHit],
        cap: int,
        counter: TokenCounter | None,
        conversation_id: str | None,
    ) -> RecallPreview:
        """The block of ``hits`` that fits in ``cap`` tokens."""
        if not hits or cap <= 0:
            return RecallPreview(hits=[])
        count = (counter or TokenAccountant()).text_tokens
        text, kept = recall_block(
            hits, max_tokens=cap, count=count, conversation_id=conversation_id
        )
        if not text:
            return RecallPreview(hits=[])
        return RecallPreview(hits=kept, blocks=[{"type": "text", "text": text}], tokens=count(text))


# the measured default ---------------------------------------------------------------------

RECALL_SHARE = 0.45  # of the budget, for the recalled turns
RECALL_MAX_TOKENS = 6_000  # past this, more recalled turns add little (bench/memory.py)
RECALL_K = 25
_FRAME_SHARE = 0.05  # the system prompt and the new message, beside the kept turns
_TRIM_SPAN = 0.15  # how far below the high mark the window trims, in one cut


@dataclass(frozen=True, slots=True)
class RecallSizes:
    """How a budget is shared between the window and recall: recall's ``k`` turns within
    ``max_tokens``; the window trims at ``high_water`` of the budget down to ``low_water``."""

    k: int
    max_tokens: int
    high_water: float
    low_water: float


def recall_sizes(budget: int) -> RecallSizes:
    """The shares the memory frontier measured best on LoCoMo's development conversations:
    recall gets 45% of the budget (at most 6,000 tokens), the window what is left."""
    cap = max(200, min(int(budget * RECALL_SHARE), RECALL_MAX_TOKENS))
    high = max(0.2, 1 - cap / budget - _FRAME_SHARE)
    return RecallSizes(RECALL_K, cap, round(high, 4), round(max(0.1, high - _TRIM_SPAN), 4))


def remember_policies(
    strategy: str, index: SearchIndex, *, budget: Budget = None
) -> list[ContextPolicy]:
    """``strategy_policies(strategy)`` with recall from ``index``, sized by
    `recall_sizes` for ``budget`` (None: the engine's default; "max": 200,000 tokens),
    the remembering default of the CLI and the service."""
    from .engine import DEFAULT_BUDGET, strategy_policies

    tokens = budget if isinstance(budget, int) else DEFAULT_BUDGET
    sizes = recall_sizes(tokens)
    window = strategy_policies(strategy, high_water=sizes.high_water, low_water=sizes.low_water)
    return [*window, Recall(index, k=sizes.k, max_tokens=sizes.max_tokens)]
