"""From stored messages to search units: one unit per turn, and keeping an index in step.

A turn (a user text message and the replies and tool exchanges up to the next one) becomes
one `SearchUnit` whose id is the opening message's id. Only finished turns are indexed:
the newest turn of a branch is still being written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from claudechat.messages import Message, Turn, group_turns
from claudechat.search._units import SearchUnit
from claudechat.search.base import SearchIndex
from claudechat.search.keys import TurnKeys
from claudechat.store.base import Store

__all__ = ["DEFAULT_TURN_KEYS", "index_turns", "reindex_conversation", "turn_text", "turn_units"]

DEFAULT_TURN_KEYS = TurnKeys(before=1)
"""Keys for chat turns: the turn, the turn before it, the date. A chat turn already pairs a
question with its answer, which is what the two-utterance context gives LoCoMo turns."""


def turn_text(turn: Turn) -> str:
    """The turn's text, one ``role: text`` line per message that has text (tool and
    thinking blocks left out)."""
    lines = [f"{m.role}: {m.text.strip()}" for m in turn.messages if m.text.strip()]
    return "\n".join(lines)


def turn_units(
    conversation_id: str, messages: Sequence[Message], *, keys: TurnKeys | None = DEFAULT_TURN_KEYS
) -> list[SearchUnit]:
    """One unit per turn of ``messages`` (a branch, oldest first), keyed by ``keys``."""
    units = []
    for turn in group_turns(messages):
        text = turn_text(turn)
        if not text:
            continue
        units.append(
            SearchUnit(
                id=turn.first.id,
                conversation_id=conversation_id,
                text=text,
                message_ids=turn.ids,
                speaker=turn.first.role,
                created_at=datetime.fromtimestamp(turn.first.created_at, tz=UTC),
            )
        )
    return keys.apply(units) if keys is not None else units


def index_turns(
    index: SearchIndex,
    conversation_id: str,
    messages: Sequence[Message],
    *,
    keys: TurnKeys | None = DEFAULT_TURN_KEYS,
    include_last: bool = False,
) -> int:
    """Index the finished turns of ``messages`` that the index lacks or holds in an older
    form (fewer messages); returns how many units were written. When the index already
    holds every turn as it is (the usual case before a request: the last turn was indexed
    when it finished), nothing is keyed or written."""
    known = index.indexed(conversation_id)
    turns = group_turns(messages)
    if turns and not include_last and messages[-1].id in turns[-1].ids:
        turns = turns[:-1]
    if all(known.get(t.first.id) == t.ids or not turn_text(t) for t in turns):
        return 0
    units = turn_units(conversation_id, messages, keys=keys)
    if units and not include_last and messages and messages[-1].id in units[-1].message_ids:
        units = units[:-1]
    fresh = [u for u in units if known.get(u.id) != u.message_ids]
    if fresh:
        index.add(fresh)
    return len(fresh)


def reindex_conversation(
    index: SearchIndex,
    store: Store,
    conversation_id: str,
    *,
    keys: TurnKeys | None = DEFAULT_TURN_KEYS,
) -> int:
    """Rebuild one conversation's units from its active branch in ``store``, every turn
    included; returns how many were written."""
    index.delete(list(index.indexed(conversation_id)))
    return index_turns(
        index, conversation_id, store.branch(conversation_id), keys=keys, include_last=True
    )
