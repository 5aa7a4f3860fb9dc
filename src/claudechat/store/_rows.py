"""What every store shares: argument checks, path figures, searchable text, JSON, ordering.

A message row carries the figures of the path from its root to itself (``PathFigures``):
appending computes them from the parent's in constant time, and the head's figures are
the active branch's, so ``list_conversations`` reads one row per conversation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConcurrentUpdate, StoreError, UserError
from ..messages import Message
from ..models.capabilities import model_prices
from ..usage import Usage
from .base import Conversation, ConversationInfo, Summary

SNIPPET_START = "«"
SNIPPET_END = "»"
_STATUSES = ("complete", "partial", "error")


@dataclass(slots=True)
class PathFigures:
    """Figures of a path root → message: messages, turns, billed tokens, known cost, unpriced.

    Never changed once made (not frozen only because frozen construction is slower, and
    one is made for every stored message)."""

    messages: int = 0
    turns: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0  # assistant messages with usage but no known price

    def then(self, message: Message) -> PathFigures:
        """The figures of this path extended by ``message``."""
        tokens, cost, unpriced = self.tokens, self.cost_usd, self.unpriced
        u = message.usage
        if u is not None and message.role == "assistant":
            tokens += (
                u.total_input_tokens
                + u.output_tokens
                + u.iteration_input_tokens
                + u.iteration_output_tokens
            )
            price = u.cost_usd(message.model, model_prices) if message.model else None
            if price is None:
                unpriced += 1 if (u.total_input_tokens or u.output_tokens) else 0
            else:
                cost += price
        starts_turn = self.messages == 0 or message.is_user_text
        return PathFigures(self.messages + 1, self.turns + starts_turn, tokens, cost, unpriced)

    def info(self, conversation: Conversation) -> ConversationInfo:
        """The ``ConversationInfo`` of a conversation whose head has these figures."""
        cost = None if self.unpriced else self.cost_usd
        return ConversationInfo(conversation, self.messages, self.turns, self.tokens, cost)


def check_lease(owner: str, ttl: float) -> None:
    """Refuse a turn claim without an owner or with a lease that would never hold."""
    if not isinstance(owner, str) or not owner:
        raise UserError("a turn lease needs a non-empty owner")
    if not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
        raise UserError(f"a turn lease needs a positive, finite ttl, got {ttl!r}")


def busy(conversation_id: str, seconds_left: float) -> ConcurrentUpdate:
    """The error for a writer refused because another one holds the turn."""
    return ConcurrentUpdate(
        f"conversation {conversation_id} is busy: another writer holds its turn "
        f"(for at most {max(seconds_left, 0.0):.0f} s more)"
    )


def check_message(message: Message) -> None:
    """Refuse what no store can hold: a bad role or status, content that is not blocks."""
    if message.role not in ("user", "assistant"):
        raise StoreError(f"message {message.id}: unknown role {message.role!r}")
    if message.status not in _STATUSES:
        raise StoreError(f"message {message.id}: unknown status {message.status!r}")
    content = message.content
    if not isinstance(content, list):
        raise StoreError(f"message {message.id}: content must be a list of typed blocks")
    for b in content:  # a plain loop: all() over a generator is slower, and this is hot
        if not (type(b) is dict or isinstance(b, Mapping)) or type(b.get("type")) is not str:
            raise StoreError(f"message {message.id}: content must be a list of typed blocks")
    if not math.isfinite(message.created_at):
        raise StoreError(f"message {message.id}: created_at must be a finite number")


def searchable_text(content: Iterable[Mapping[str, Any]]) -> str:
    """The text a search looks in: text blocks and the text of tool results."""
    parts: list[str] = []
    for b in content:
        kind = b.get("type")
        if kind == "text":
            parts.append(str(b.get("text", "")))
        elif kind == "tool_result":
            inner = b.get("content")
            if isinstance(inner, str):
                parts.append(inner)
            elif isinstance(inner, list):
                parts.extend(
                    str(x.get("text", ""))
                    for x in inner
                    if isinstance(x, Mapping) and x.get("type") == "text"
                )
    return "\n".join(p for p in parts if p)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(value: Any) -> str:
    """Compact JSON, non-ASCII kept as is, key order kept (tool inputs are sent back as read).

    Raises StoreError for what JSON cannot hold (sets, objects, NaN).
    """
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError) as err:
        raise StoreError(f"cannot store a value as JSON: {err}") from err


def _flat_strings(block: Any) -> bool:
    """True for a dict of strings only (a text block, the usual metadata): JSON holds it."""
    if type(block) is not dict:
        return False
    for k, v in block.items():  # noqa: SIM110 - a plain loop: all() over a generator is slower
        if type(k) is not str or type(v) is not str:
            return False
    return True


def check_json(message: Message) -> None:
    """Refuse a message whose content or metadata JSON cannot hold (for the memory store).

    Content made of flat string dicts (text blocks) is known to be JSON without encoding
    it; anything else is encoded once, as a store that writes JSON would."""
    content, metadata = message.content, message.metadata
    if (
        type(content) is list
        and all(_flat_strings(b) for b in content)
        and (not metadata or _flat_strings(metadata))
    ):
        return
    dumps((content, metadata) if metadata else content)


def ordered_for_insert(messages: Sequence[Message]) -> list[Message]:
    """Messages ordered so that every parent precedes its children (input already in that
    order is kept as is; otherwise depth-first from the roots, siblings in input order).

    Raises StoreError for duplicate ids, unknown parents and cycles.
    """
    ids = [m.id for m in messages]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise StoreError(f"message {dup} appears twice")
    index = {m.id: i for i, m in enumerate(messages)}
    for m in messages:
        if m.parent_id is not None and m.parent_id not in index:
            raise StoreError(f"message {m.id}: parent {m.parent_id} is not in the conversation")
    if all(m.parent_id is None or index[m.parent_id] < i for i, m in enumerate(messages)):
        return list(messages)  # already parents first: the usual case, O(n)
    kids: dict[str | None, list[Message]] = {}
    for m in messages:
        kids.setdefault(m.parent_id, []).append(m)
    out: list[Message] = []
    todo = list(reversed(kids.get(None, [])))
    while todo:  # depth-first from the roots; siblings keep their order
        m = todo.pop()
        out.append(m)
        todo.extend(reversed(kids.get(m.id, [])))
    if len(out) != len(messages):
        placed = {o.id for o in out}
        stuck = next(m for m in messages if m.id not in placed)
        raise StoreError(f"message {stuck.id}: its parents form a cycle")
    return out


def check_import(
    conversation: Conversation, messages: Sequence[Message], summaries: Sequence[Summary]
) -> list[Message]:
    """Checks shared by every ``import_messages``; returns the messages in insert order."""
    for m in messages:
        check_message(m)
    ordered = ordered_for_insert(messages)
    ids = {m.id for m in messages}
    if conversation.head_id is not None and conversation.head_id not in ids:
        raise StoreError(f"head {conversation.head_id} is not among the imported messages")
    seen: set[str] = set()
    for s in summaries:
        if s.conversation_id != conversation.id:
            raise StoreError(f"summary {s.id} belongs to another conversation")
        if s.first_id not in ids or s.last_id not in ids:
            raise StoreError(f"summary {s.id} covers messages that are not imported")
        if s.id in seen:
            raise StoreError(f"summary {s.id} appears twice")
        seen.add(s.id)
    return ordered


def query_terms(query: str) -> list[str]:
    """The words of a search query, lower-cased; punctuation and ``_`` separate words."""
    out: list[str] = []
    word: list[str] = []
    for ch in query.lower():
        if ch.isalnum():
            word.append(ch)
        elif word:
            out.append("".join(word))
            word = []
    if word:
        out.append("".join(word))
    return out


# --- SQL rows ------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    """A JSON column's value: SQLite gives text, psycopg gives it parsed."""
    if value == "{}":
        return {}
    return json.loads(value) if isinstance(value, str | bytes) else value


def _usage(data: Any) -> Usage | None:
    if not data:
        return None
    try:  # the stored dict is Usage.to_dict(): the fast path
        return Usage(**data)
    except TypeError:  # written by another version: let from_dict sort the keys out
        return Usage.from_dict(data)


def conversation_of(row: Sequence[Any]) -> Conversation:
    """A ``Conversation`` from a row of ``CONV`` columns."""
    return Conversation(
        id=row[0],
        title=row[1],
        created_at=float(row[2]),
        updated_at=float(row[3]),
        head_id=row[4],
        version=int(row[5]),
        model=row[6],
        system=row[7],
        metadata=_json(row[8]),
        owner=row[9],
    )


def message_of(row: Sequence[Any]) -> Message:
    """A ``Message`` from a row of ``MSG`` columns."""
    return Message(
        role=row[2],
        content=_json(row[3]),
        id=row[0],
        parent_id=row[1],
        model=row[4],
        usage=_usage(_json(row[5])),
        stop_reason=row[6],
        status=row[7],
        created_at=float(row[8]),
        metadata=_json(row[9]),
    )


def summary_of(row: Sequence[Any]) -> Summary:
    """A ``Summary`` from a row of ``SUM`` columns."""
    return Summary(
        id=row[0],
        conversation_id=row[1],
        text=row[2],
        first_id=row[3],
        last_id=row[4],
        created_at=float(row[5]),
        model=row[6],
        tokens=row[7],
        metadata=_json(row[8]),
    )


def message_row(message: Message, figures: PathFigures) -> tuple[Any, ...]:
    """A ``messages`` row after its conversation id: ``MSG`` columns, text, ``FIG`` columns."""
    m = message
    usage = dumps(m.usage.to_dict()) if m.usage is not None else None
    return (
        *(m.id, m.parent_id, m.role, dumps(m.content), m.model, usage, m.stop_reason),
        *(m.status, m.created_at, dumps(m.metadata), searchable_text(m.content)),
        *(figures.messages, figures.turns, figures.tokens, figures.cost_usd, figures.unpriced),
    )
