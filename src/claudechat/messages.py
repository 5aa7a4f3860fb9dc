"""Messages in the Anthropic wire format, turn grouping, validation and repair. No I/O.

Content blocks stay plain dicts exactly as the API sends and takes them, so thinking
signatures, compaction blocks, citations and server-tool blocks survive storage and
replay untouched. ``Message`` adds only what the API lacks: ids, parent, time, model,
usage, stop reason and status.

Partial replies (a stream cut by Ctrl-C, a dropped connection or an error event) are
stored with status ``partial``. They ARE resent: the user saw that text, so the model
should too. Only their text blocks are sent (an unfinished ``tool_use`` or an unsigned
thinking block cannot be); a partial reply with no text is left out of requests.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .errors import InvalidHistory
from .usage import Usage

__all__ = [
    "Block",
    "Message",
    "Turn",
    "assistant",
    "content_problem",
    "group_turns",
    "new_id",
    "newest_turn_start",
    "repair",
    "sendable_content",
    "text_of",
    "to_api_messages",
    "user",
    "validate",
]

Block = dict[str, Any]
Role = Literal["user", "assistant"]
Status = Literal["complete", "partial", "error"]


def new_id() -> str:
    """A new, time-ordered message or conversation id."""
    # 48-bit millisecond time + 80 random bits, like a ULID, so ids sort by creation.
    ms = int(time.time() * 1000)
    return f"{ms:012x}{os.urandom(10).hex()}"


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation, content in the API's wire format."""

    role: Role
    content: list[Block]
    id: str = field(default_factory=new_id)
    parent_id: str | None = None
    model: str | None = None
    usage: Usage | None = None
    stop_reason: str | None = None
    status: Status = "complete"
    created_at: float = field(default_factory=time.time)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The message's text blocks joined."""
        return text_of(self.content)

    @property
    def is_user_text(self) -> bool:
        """True when this message starts a turn: from the user and not only tool results."""
        if self.role != "user":
            return False
        for b in self.content:  # noqa: SIM110
            if b.get("type") != "tool_result":
                return True
        return False

    @property
    def is_billed_record(self) -> bool:
        """True for a request cut before any content arrived whose usage did: kept beside
        the branch, for its cost only (never sent again, never the head, not a branch)."""
        return self.role == "assistant" and not self.content and self.status != "complete"

    @property
    def tool_uses(self) -> list[Block]:
        """The ``tool_use`` blocks of this message."""
        return [b for b in self.content if b.get("type") == "tool_use"]

    def to_api(self) -> dict[str, Any]:
        """The ``{"role", "content"}`` dict the API takes."""
        return {"role": self.role, "content": self.content}

    def with_(self, **changes: Any) -> Message:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Lossless plain-dict form (storage, export)."""
        return {
            "id": self.id,
            "parent_id": self.parent_id,
            "role": self.role,
            "content": self.content,
            "model": self.model,
            "usage": self.usage.to_dict() if self.usage else None,
            "stop_reason": self.stop_reason,
            "status": self.status,
            "created_at": self.created_at,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """Inverse of ``to_dict``."""
        usage = data.get("usage")
        return cls(
            role=data["role"],
            content=normalize_content(data["content"]),
            id=data.get("id") or new_id(),
            parent_id=data.get("parent_id"),
            model=data.get("model"),
            usage=Usage.from_dict(usage) if usage else None,
            stop_reason=data.get("stop_reason"),
            status=data.get("status", "complete"),
            created_at=float(data.get("created_at") or time.time()),
            metadata=dict(data.get("metadata") or {}),
        )


def normalize_content(content: str | Sequence[Any]) -> list[Block]:
    """Content as a list of block dicts (a bare string becomes one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [dict(b) for b in content if isinstance(b, Mapping)]


def user(content: str | Sequence[Block], **kw: Any) -> Message:
    """A user message."""
    return Message("user", normalize_content(content), **kw)


def assistant(content: str | Sequence[Block], **kw: Any) -> Message:
    """An assistant message."""
    return Message("assistant", normalize_content(content), **kw)


def text_of(content: str | Iterable[Block]) -> str:
    """Text of a content list: its text blocks joined (tool and thinking blocks left out)."""
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if b.get("type") == "text")


@dataclass(frozen=True, slots=True)
class Turn:
    """A user text message and every assistant / tool message up to the next user text."""

    messages: tuple[Message, ...]

    @property
    def first(self) -> Message:
        """The message that opens the turn."""
        return self.messages[0]

    @property
    def ids(self) -> tuple[str, ...]:
        """Ids of the turn's messages."""
        return tuple(m.id for m in self.messages)


def group_turns(messages: Sequence[Message]) -> list[Turn]:
    """Split a history into turns; leading non-user-text messages form a turn of their own."""
    turns: list[list[Message]] = []
    for m in messages:
        if m.is_user_text or not turns:
            turns.append([m])
        else:
            turns[-1].append(m)
    return [Turn(tuple(t)) for t in turns]


def newest_turn_start(messages: Sequence[Message]) -> int:
    """Where the newest turn of ``messages`` starts (`group_turns`): its user text message,
    else the first message; 0 for none."""
    i = len(messages) - 1
    while i > 0 and not messages[i].is_user_text:
        i -= 1
    return max(i, 0)


# --- what is sent -------------------------------------------------------------------------


def sendable_content(message: Message) -> list[Block]:
    """The blocks of ``message`` a request carries: all of a complete message; of a partial
    reply only its text, since an unfinished ``tool_use`` or unsigned thinking cannot be sent
    (empty when it has none, and then the message is left out)."""
    if message.status == "complete":
        return message.content
    return [b for b in message.content if b.get("type") == "text" and b.get("text")]


def to_api_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The API ``messages`` array for a history: each message's ``sendable_content`` (a
    message with none is left out), same-role neighbours merged into one message."""
    out: list[dict[str, Any]] = []
    last_role = None
    for m in messages:
        blocks = sendable_content(m)
        if not blocks:
            continue
        role = m.role
        if role == last_role:
            out[-1] = {"role": role, "content": [*out[-1]["content"], *blocks]}
        else:
            out.append({"role": role, "content": blocks[:]})
            last_role = role
    return out


# --- validation ---------------------------------------------------------------------------


def _read_message(m: Message | Mapping[str, Any], index: int) -> dict[str, Any]:
    """A message as the API's ``{"role", "content"}`` dict: a dict whose content is a list
    as it is (only read, never copied), a ``Message`` by ``to_api``, any other mapping
    with its content made a list of block dicts. InvalidHistory for anything else."""
    if type(m) is dict and "role" in m and type(m.get("content")) is list:
        return m
    if isinstance(m, Message):
        return m.to_api()
    if not isinstance(m, Mapping):
        raise InvalidHistory(f"not a message: {type(m).__name__}", index=index)
    if "role" not in m or "content" not in m:
        raise InvalidHistory("a message needs 'role' and 'content'", index=index)
    content = m["content"]
    if not isinstance(content, str | list | tuple):
        raise InvalidHistory("content must be a string or a list of blocks", index=index)
    return {"role": m["role"], "content": normalize_content(content)}


def validate(messages: Sequence[Message | Mapping[str, Any]]) -> None:
    """Raise InvalidHistory naming the first problem the API would reject, and where.

    Checks: a non-empty history; roles; the first message from the user; strict
    alternation; non-empty text blocks; thinking blocks signed; every ``tool_use``
    answered by a ``tool_result`` in the next message and every ``tool_result``
    answering a ``tool_use`` of the message before.
    """
    if not messages:
        raise InvalidHistory("the history is empty")
    prev_tool_ids: set[str] = set()
    prev_role = None
    for i, raw in enumerate(messages):
        m = _read_message(raw, i)
        role, content = m["role"], m["content"]
        _check_role(role, prev_role, i)
        prev_role = role
        if not content:
            raise InvalidHistory("empty content", index=i)
        answered, uses = _check_blocks(content, role, prev_tool_ids, i)
        if missing := prev_tool_ids - answered:
            raise InvalidHistory(
                f"tool_use without result: {', '.join(sorted(missing))} "
                "(the next message must answer it)",
                index=i,
            )
        prev_tool_ids = uses
    # A trailing tool_use with no answer yet is what a tool round looks like mid-flight;
    # it is fine to store but not to send as the last message before a user turn.
    if prev_tool_ids and prev_role == "assistant":
        raise InvalidHistory(
            f"tool_use without result: {', '.join(sorted(prev_tool_ids))} at the end",
            index=len(messages) - 1,
        )


def _check_role(role: Any, prev_role: Any, index: int) -> None:
    """The first message from the user, known roles, and roles that alternate."""
    if prev_role is None and role != "user":
        raise InvalidHistory("the first message must come from the user", index=0)
    if role != "user" and role != "assistant":
        raise InvalidHistory(f"unknown role {role!r}", index=index)
    if role == prev_role:
        raise InvalidHistory(f"two {role} messages in a row (roles must alternate)", index=index)


def _check_blocks(
    content: Sequence[Any], role: str, prev_tool_ids: set[str], index: int
) -> tuple[set[str], set[str]]:
    """Check each block of a message; returns the tool_use ids it answers and the ones it
    asks (each answer must answer a ``tool_use`` of ``prev_tool_ids``)."""
    answered: set[str] = set()
    uses: set[str] = set()
    for j, b in enumerate(content):
        kind = _block_kind(b, j, index)
        if kind == "thinking" and not b.get("signature"):
            raise InvalidHistory(f"block {j}: thinking block without signature", index=index)
        if kind == "tool_result":
            if role != "user":
                raise InvalidHistory(f"block {j}: tool_result in an assistant message", index=index)
            tid = b.get("tool_use_id")
            if not prev_tool_ids or tid not in prev_tool_ids:
                raise InvalidHistory(
                    f"block {j}: orphaned tool_result {tid!r} (no tool_use in the message before)",
                    index=index,
                )
            answered.add(str(tid))
        elif kind == "tool_use":
            if role != "assistant":
                raise InvalidHistory(f"block {j}: tool_use in a user message", index=index)
            uses.add(str(b.get("id")))
    return answered, uses


_BLOCK = (dict, Mapping)  # a content block: a dict (the usual) or another mapping


def _block_kind(b: Any, j: int, index: int) -> Any:
    """A block's type, once it is known to be a content block (with a text, if text)."""
    if not isinstance(b, _BLOCK) or "type" not in b:
        raise InvalidHistory(f"block {j} is not a content block", index=index)
    kind = b["type"]
    if kind == "text":
        text = b.get("text")
        if not text or str(text).isspace():  # the API takes whitespace alone as empty
            raise InvalidHistory(f"block {j}: empty text block", index=index)
    return kind


# --- what can be stored and sent -----------------------------------------------------------

MAX_NESTING = 100  # deeper JSON than any request needs; deeper still breaks JSON encoders
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_IMAGE_BASE64 = 5 * 1024 * 1024  # the API's limit per image, on its base64 text
_JSON_SCALARS = (str, int, float, bool, type(None))


def content_problem(value: Any, where: str = "") -> str | None:
    """What in ``value`` no store can keep or the API would refuse, and where; None if nothing.

    Finds text that is not valid Unicode (lone surrogates, e.g. from undecodable bytes) or
    holds NUL characters (PostgreSQL cannot store them), values JSON cannot carry (NaN, bytes, objects), nesting deeper than ``MAX_NESTING``,
    and image / document blocks whose base64 data is not base64.
    """
    stack: list[tuple[str, Any, int]] = [(where, value, 0)]
    while stack:
        path, item, depth = stack.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
        elif isinstance(item, float) and not math.isfinite(item):
            problem = f"{item} is not a JSON number"
        elif isinstance(item, _JSON_SCALARS):
            continue
        elif depth >= MAX_NESTING:
            problem = f"nested more than {MAX_NESTING} levels deep"
        elif isinstance(item, dict):
            problem = _source_problem(item)
            for key, inner in item.items():
                if not isinstance(key, str) or _text_problem(key):
                    return f"{path}: a key that is not valid text ({key!r})"
                stack.append((f"{path}.{key}" if path else key, inner, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((f"{path}[{i}]", inner, depth + 1) for i, inner in enumerate(item))
            continue
        else:
            problem = f"{type(item).__name__} is not JSON data"
        if problem:
            path = path if len(path) <= 80 else path[:79] + "…"
            return f"{path}: {problem}" if path else problem
    return None


def _text_problem(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return (
            f"text that is not valid Unicode (a lone surrogate {text[err.start]!r} at "
            f"character {err.start}; was it decoded from bytes that are not UTF-8?)"
        )
    if "\x00" in text:
        return f"a NUL character at character {text.index(chr(0))} (binary data is not text)"
    return None


def _source_problem(block: Mapping[str, Any]) -> str | None:
    """An image or document block's base64 source the API would refuse."""
    source = block.get("source")
    if block.get("type") not in ("image", "document") or not isinstance(source, Mapping):
        return None
    if source.get("type") != "base64":
        return None
    media = source.get("media_type")
    if block["type"] == "image" and media not in IMAGE_TYPES:
        return f"image media_type {media!r} is not one of {', '.join(IMAGE_TYPES)}"
    if block["type"] == "document" and media != "application/pdf":
        return f"document media_type {media!r} is not application/pdf"
    data = source.get("data")
    if not isinstance(data, str) or not data:
        return f"{block['type']} source has no base64 data"
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return f"{block['type']} source data is not valid base64"
    if block["type"] == "image" and len(data) > MAX_IMAGE_BASE64:
        return f"image exceeds the API's 5 MB maximum: {len(data):,} bytes of base64"
    return None


# --- repair -------------------------------------------------------------------------------

_TOOL_STUB = "(no result: the tool call was interrupted)"


def repair(messages: Sequence[Message | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A history ``validate`` accepts, changing only what cannot be sent.

    Drops empty text blocks, unsigned thinking, orphaned tool_results and empty messages;
    answers unanswered tool_use blocks with an error tool_result; merges same-role
    neighbours; drops assistant messages before the first user text. A user's own text is
    never dropped. Raises InvalidHistory when there is no user text at all.
    """
    cleaned = _from_first_user_text(
        _only_sendable_blocks([_read_message(m, i) for i, m in enumerate(messages)])
    )
    out: list[dict[str, Any]] = []
    for i, m in enumerate(cleaned):
        content = m["content"]
        if m["role"] == "user":
            content = _answer_tool_uses(out[-1] if out else None, content)
        elif i + 1 == len(cleaned):  # a trailing tool_use cannot be sent without its result
            content = [b for b in content if b["type"] != "tool_use"]
        if content:
            _append_merging(out, m["role"], content)
    # A user message left only with tool results whose assistant dropped: re-check pairs.
    fixed: list[dict[str, Any]] = []
    for m in out:
        content = m["content"]
        if m["role"] == "user":
            content = _answer_tool_uses(fixed[-1] if fixed else None, content)
        if content:
            _append_merging(fixed, m["role"], content)
    validate(fixed)
    return fixed


def _only_sendable_blocks(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages of the two roles with only the blocks that can be sent (copied), empty
    messages dropped and same-role neighbours merged."""
    cleaned: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] not in ("user", "assistant"):
            continue
        blocks = [dict(b) for b in m["content"] if _sendable_block(b, m["role"])]
        if blocks:
            _append_merging(cleaned, m["role"], blocks)
    return cleaned


def _sendable_block(b: Any, role: str) -> bool:
    """A content block with a type, not empty text nor unsigned thinking, in its role."""
    if not isinstance(b, Mapping) or "type" not in b:
        return False
    kind = b["type"]
    if kind == "text":
        return bool(str(b.get("text", "")).strip())
    if kind == "thinking":
        return bool(b.get("signature"))
    if kind == "tool_use":
        return role == "assistant"
    if kind == "tool_result":
        return role == "user"
    return True


def _from_first_user_text(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages from the first user message that holds more than tool results."""
    for i, m in enumerate(messages):
        if m["role"] == "user" and any(b["type"] != "tool_result" for b in m["content"]):
            return messages[i:]
    raise InvalidHistory("no user text to start the conversation from")


def _answer_tool_uses(previous: Mapping[str, Any] | None, content: list[Block]) -> list[Block]:
    """A user message's blocks: only the tool_results that answer the assistant message
    before, an error result for each of its tool_use blocks left unanswered, results first."""
    asked = (
        {b.get("id") for b in previous["content"] if b["type"] == "tool_use"}
        if previous is not None and previous["role"] == "assistant"
        else set()
    )
    results = [b for b in content if b["type"] == "tool_result" and b.get("tool_use_id") in asked]
    answered = {b.get("tool_use_id") for b in results}
    stubs: list[Block] = [
        {"type": "tool_result", "tool_use_id": t, "content": _TOOL_STUB, "is_error": True}
        for t in sorted(str(x) for x in asked - answered)
    ]
    return stubs + results + [b for b in content if b["type"] != "tool_result"]


def _append_merging(out: list[dict[str, Any]], role: str, content: list[Block]) -> None:
    """Append a message, or extend the last one when it has the same role."""
    if out and out[-1]["role"] == role:
        out[-1]["content"].extend(content)
    else:
        out.append({"role": role, "content": content})
