"""Export a conversation (lossless JSON, readable Markdown) and import one back.

The JSON export is versioned: ``{"format": "claudechat", "version": 1, "conversation":
{...}, "messages": [every branch, Message.to_dict()], "summaries": [...]}``. Import takes
that, or a plain Anthropic ``messages`` array (``[{"role", "content"}, ...]``, also inside
``{"messages": [...]}``). A bad file raises ``InvalidImport`` naming the problem and where.
An import is one transaction. It keeps the file's ids when they are free; when the
conversation (or any id) exists already — the same file imported twice — the copy gets
a new conversation id and new message and summary ids, and records ``imported_from``;
its messages that carry usage name the message they copy (``copied_from``), so ``cost``
counts that spend once.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, get_args

from ..errors import ConversationNotFound, InvalidHistory, InvalidImport, StoreError
from ..messages import Message, content_problem, new_id, repair, to_api_messages, validate
from ..metadata import IMPORTED_FROM
from ..usage import Usage
from ._markdown import export_markdown, title_from
from ._rows import ordered_for_insert
from .base import LOCAL_USER, Conversation, Store, Summary

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "ParsedImport",
    "already_stored",
    "export_conversation",
    "export_json",
    "export_markdown",
    "import_conversation",
    "import_file",
    "parse_import",
    "title_from",
]

EXPORT_FORMAT = "claudechat"
EXPORT_VERSION = 1
_BLOCK = re.compile(r"^block (\d+): (.*)$", re.S)


def export_conversation(store: Store, conversation_id: str) -> dict[str, Any]:
    """The lossless export of a conversation: every branch, usage, signatures, summaries."""
    conv = store.get_conversation(conversation_id)
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": time.time(),
        "conversation": asdict(conv),
        "messages": [m.to_dict() for m in store.all_messages(conversation_id)],
        "summaries": [asdict(s) for s in store.summaries(conversation_id)],
    }


def export_json(store: Store, conversation_id: str, *, indent: int | None = 2) -> str:
    """``export_conversation`` as JSON text (non-ASCII kept as is)."""
    return json.dumps(export_conversation(store, conversation_id), ensure_ascii=False,
                      indent=indent)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ParsedImport:
    """A conversation read from a file, checked, not yet stored."""

    conversation: Conversation
    messages: list[Message]
    summaries: list[Summary]

    def rekeyed(self) -> ParsedImport:
        """The same conversation under new ids (conversation, messages, summaries)."""
        from ..usage import copy_metadata

        ids = {m.id: new_id() for m in self.messages}
        cid = new_id()
        meta = {**self.conversation.metadata, IMPORTED_FROM: self.conversation.id}
        head = self.conversation.head_id
        conv = replace(self.conversation, id=cid, head_id=ids[head] if head else None,
                       metadata=meta)  # fmt: skip
        messages = [
            m.with_(
                id=ids[m.id],
                parent_id=ids[m.parent_id] if m.parent_id else None,
                metadata=copy_metadata(m.metadata, m.id, billed=m.usage is not None),
            )
            for m in self.messages
        ]
        old_cid = self.conversation.id
        summaries = [
            replace(s, id=new_id(), conversation_id=cid, first_id=ids[s.first_id],
                    last_id=ids[s.last_id], metadata=copy_metadata(
                        s.metadata, s.id, billed=False, conversation_id=old_cid))
            for s in self.summaries
        ]  # fmt: skip
        return ParsedImport(conv, messages, summaries)


def _load(data: str | bytes, source: str) -> Any:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise InvalidImport(f"{source}: not UTF-8 text (byte {err.start})") from None
    try:
        return json.loads(data)
    except json.JSONDecodeError as err:
        raise InvalidImport(
            f"{source}: not JSON: {err.msg} at line {err.lineno}, column {err.colno}"
        ) from None
    except RecursionError:
        raise InvalidImport(f"{source}: JSON nested too deeply to read") from None


def parse_import(data: Any, *, source: str = "import") -> ParsedImport:
    """Read and check an export or a plain ``messages`` array (JSON text, bytes, or parsed).

    Raises InvalidImport naming the problem and its place (``messages[3].content[0]: …``).
    """
    if isinstance(data, str | bytes):
        data = _load(data, source)
    problem = content_problem(data)
    if problem:
        raise InvalidImport(f"{source}: {problem}")
    if isinstance(data, Mapping) and "format" in data:
        if data["format"] != EXPORT_FORMAT:
            raise InvalidImport(f"{source}: unknown format {data['format']!r}")
        return _parse_export(data, source)
    if isinstance(data, Mapping) and "messages" in data:
        return _parse_plain(data["messages"], source, data)
    if isinstance(data, list):
        return _parse_plain(data, source, {})
    raise InvalidImport(
        f"{source}: expected a claudechat export or an Anthropic messages array "
        f'([{{"role": ..., "content": ...}}, ...]), got {_KINDS.get(type(data), type(data).__name__)}'
    )


_KINDS = {
    Mapping: "an object", dict: "an object", list: "an array", str: "a string",
    int: "an integer", float: "a number",
}  # fmt: skip


def _need(value: Any, kind: Any, where: str, *, optional: bool = False) -> Any:
    """``value`` if it is of ``kind`` (a type or a union), else InvalidImport at ``where``."""
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        kinds = get_args(kind) or (kind,)
        names = " or ".join(_KINDS.get(k, k.__name__) for k in kinds)
        got = "null" if value is None else _KINDS.get(type(value), type(value).__name__)
        raise InvalidImport(f"{where}: expected {names}, got {got}")
    return value


_USAGE_FIELDS = {f.name for f in fields(Usage)}
_LATEST = 4e11  # seconds since 1970: about the year 14,600; later is not a time


def _time(value: Any, where: str, *, optional: bool = False) -> Any:
    """A timestamp in seconds as a float (None when optional and absent), else InvalidImport."""
    if value is None and optional:
        return None
    _need(value, int | float, where)
    if not -_LATEST < value < _LATEST:
        raise InvalidImport(f"{where}: {str(value)[:20]}... is not a time in seconds")
    return float(value)


def _count(value: Any, where: str, *, optional: bool = False) -> Any:
    """A non-negative integer a database column holds (below 2**63), else InvalidImport."""
    if value is None and optional:
        return None
    _need(value, int, where)
    if not 0 <= value < 2**63:
        raise InvalidImport(f"{where}: {str(value)[:20]}... is out of range")
    return value


def _blocks(content: Any, where: str) -> None:
    if isinstance(content, str):
        return
    _need(content, list, where)
    for j, block in enumerate(content):
        if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
            raise InvalidImport(f'{where}[{j}]: not a content block (an object with "type")')


def _message(raw: Any, where: str, *, plain: bool) -> Message:
    _need(raw, Mapping, where)
    if raw.get("role") not in ("user", "assistant"):
        raise InvalidImport(f"{where}.role: must be 'user' or 'assistant', got {raw.get('role')!r}")
    if "content" not in raw:
        raise InvalidImport(f"{where}: no content")
    _blocks(raw["content"], f"{where}.content")
    if plain:
        return Message.from_dict({"role": raw["role"], "content": raw["content"]})
    _need(raw.get("id"), str, f"{where}.id")
    _need(raw.get("parent_id"), str, f"{where}.parent_id", optional=True)
    for key in ("model", "stop_reason"):
        _need(raw.get(key), str, f"{where}.{key}", optional=True)
    for key in ("usage", "metadata"):
        _need(raw.get(key), Mapping, f"{where}.{key}", optional=True)
    for key, value in (raw.get("usage") or {}).items():
        if key in _USAGE_FIELDS:
            _count(value, f"{where}.usage.{key}", optional=True)
    _time(raw.get("created_at"), f"{where}.created_at", optional=True)
    if raw.get("status", "complete") not in ("complete", "partial", "error"):
        raise InvalidImport(f"{where}.status: unknown status {raw.get('status')!r}")
    try:
        return Message.from_dict(raw)
    except (TypeError, ValueError, KeyError) as err:
        raise InvalidImport(f"{where}: {err}") from None


def _history_problem(err: InvalidHistory, source: str) -> InvalidImport:
    where = f"{source}: messages" if err.index is None else f"{source}: messages[{err.index}]"
    match = _BLOCK.match(err.problem)
    if match and err.index is not None:
        return InvalidImport(f"{where}.content[{match[1]}]: {match[2]}")
    return InvalidImport(f"{where}: {err.problem}")


def _parse_plain(raw: Any, source: str, outer: Mapping[str, Any]) -> ParsedImport:
    _need(raw, list, f"{source}: messages")
    if not raw:
        raise InvalidImport(f"{source}: no messages to import")
    messages = [_message(m, f"{source}: messages[{i}]", plain=True) for i, m in enumerate(raw)]
    try:
        validate(messages)
    except InvalidHistory as err:
        raise _history_problem(err, source) from None
    now = time.time()
    chained: list[Message] = []
    for i, m in enumerate(messages):
        parent = chained[-1].id if chained else None
        chained.append(m.with_(parent_id=parent, created_at=now + i * 1e-6))
    system = outer.get("system") if isinstance(outer.get("system"), str) else None
    model = outer.get("model") if isinstance(outer.get("model"), str) else None
    first = next((m.text for m in chained if m.is_user_text and m.text.strip()), "")
    conv = Conversation(new_id(), title_from(first) or None, now, now, chained[-1].id, 0,
                        model, system, {})  # fmt: skip
    return ParsedImport(conv, chained, [])


def _parse_export(data: Mapping[str, Any], source: str) -> ParsedImport:
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidImport(f"{source}: version: expected a positive integer, got {version!r}")
    if version > EXPORT_VERSION:
        raise InvalidImport(
            f"{source}: export version {version} is newer than this claudechat reads "
            f"({EXPORT_VERSION}): upgrade claudechat"
        )
    c = _need(data.get("conversation"), Mapping, f"{source}: conversation")
    where = f"{source}: conversation"
    cid = _need(c.get("id"), str, f"{where}.id")
    for key in ("title", "head_id", "model", "system", "owner"):
        _need(c.get(key), str, f"{where}.{key}", optional=True)
    meta = _need(c.get("metadata"), Mapping, f"{where}.metadata", optional=True)
    now = time.time()
    created = _time(c.get("created_at", now), f"{where}.created_at")
    updated = _time(c.get("updated_at", created), f"{where}.updated_at")
    version_ = _count(c.get("version", 0), f"{where}.version")
    conv = Conversation(cid, c.get("title"), float(created), float(updated), c.get("head_id"),
                        version_, c.get("model"), c.get("system"), dict(meta or {}),
                        c.get("owner") or LOCAL_USER)  # fmt: skip
    raw_messages = _need(data.get("messages"), list, f"{source}: messages")
    messages = [
        _message(m, f"{source}: messages[{i}]", plain=False) for i, m in enumerate(raw_messages)
    ]
    summaries = _summaries(data.get("summaries") or [], cid, source)
    _check_structure(conv, messages, summaries, source)
    return ParsedImport(conv, messages, summaries)


def _summaries(raw: Any, cid: str, source: str) -> list[Summary]:
    _need(raw, list, f"{source}: summaries")
    out = []
    for i, s in enumerate(raw):
        where = f"{source}: summaries[{i}]"
        _need(s, Mapping, where)
        for key in ("id", "text", "first_id", "last_id"):
            _need(s.get(key), str, f"{where}.{key}")
        out.append(
            Summary(
                id=s["id"],
                conversation_id=cid,
                text=s["text"],
                first_id=s["first_id"],
                last_id=s["last_id"],
                created_at=_time(s.get("created_at"), f"{where}.created_at"),
                model=_need(s.get("model"), str, f"{where}.model", optional=True),
                tokens=_count(s.get("tokens"), f"{where}.tokens", optional=True),
                metadata=dict(_need(s.get("metadata"), Mapping, f"{where}.metadata",
                                    optional=True) or {}),
            )
        )  # fmt: skip
    return out


def _check_structure(
    conv: Conversation, messages: list[Message], summaries: list[Summary], source: str
) -> None:
    """Ids unique, parents and head present, no cycle; the active branch sendable."""
    index: dict[str, int] = {}
    for i, m in enumerate(messages):
        if m.id in index:
            raise InvalidImport(f"{source}: messages[{i}].id: {m.id} appears twice")
        index[m.id] = i
    for i, m in enumerate(messages):
        if m.parent_id is not None and m.parent_id not in index:
            raise InvalidImport(
                f"{source}: messages[{i}].parent_id: {m.parent_id} is not in the file"
            )
    if conv.head_id is not None and conv.head_id not in index:
        raise InvalidImport(f"{source}: conversation.head_id: {conv.head_id} is not in the file")
    for i, s in enumerate(summaries):
        for key in ("first_id", "last_id"):
            if getattr(s, key) not in index:
                raise InvalidImport(f"{source}: summaries[{i}].{key}: not a message in the file")
    try:
        ordered_for_insert(messages)
    except StoreError as err:
        raise InvalidImport(f"{source}: {err}") from None
    branch, mid = [], conv.head_id
    while mid is not None:
        branch.append(messages[index[mid]])
        mid = branch[-1].parent_id
    api = to_api_messages(branch[::-1])
    if api:
        try:
            validate(api)
        except InvalidHistory as err:
            if not _interrupted_tool_round(err, api):
                raise InvalidImport(f"{source}: the active branch: {err}") from None


def _interrupted_tool_round(err: InvalidHistory, api: list[dict[str, Any]]) -> bool:
    """A tool call a crash left unanswered: stored as is, answered by Chat before sending."""
    if not err.problem.startswith("tool_use without result"):
        return False
    try:
        repair(api)
    except InvalidHistory:
        return False
    return True


def _taken(store: Store, parsed: ParsedImport) -> bool:
    """Whether the file's conversation (or its first message) is in the store already."""
    try:
        store.get_conversation(parsed.conversation.id)
        return True
    except ConversationNotFound:
        pass
    if not parsed.messages:
        return False
    try:
        store.get_message(parsed.messages[0].id)
        return True
    except ConversationNotFound:
        return False


def already_stored(store: Store, data: Any, *, source: str = "import") -> Conversation | None:
    """The stored conversation an export is of (imported before, or exported from this
    store; on a user's scoped view: one of theirs), or None; InvalidImport for data that is
    no import. A plain messages array names no conversation: None."""
    parsed = parse_import(data, source=source)
    try:
        return store.get_conversation(parsed.conversation.id)
    except ConversationNotFound:
        return None


def import_conversation(
    store: Store,
    data: Any,
    *,
    title: str | None = None,
    source: str = "import",
    owner: str | None = None,
) -> Conversation:
    """Check and store a conversation in one transaction; returns it (see the module doc).
    It keeps the owner the export names (``local`` when none), unless ``owner`` is given."""
    parsed = parse_import(data, source=source)
    if title is not None:
        parsed = replace(parsed, conversation=replace(parsed.conversation, title=title))
    if owner is not None:
        parsed = replace(parsed, conversation=replace(parsed.conversation, owner=owner))
    if not _taken(store, parsed):
        try:
            return store.import_messages(parsed.conversation, parsed.messages, parsed.summaries)
        except StoreError as err:
            if "exists already" not in str(err):
                raise
    fresh = parsed.rekeyed()
    return store.import_messages(fresh.conversation, fresh.messages, fresh.summaries)


def import_file(
    store: Store, path: str | Path, *, title: str | None = None, owner: str | None = None
) -> Conversation:
    """``import_conversation`` of a file; a file that cannot be read is an InvalidImport."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise InvalidImport(f"{path}: cannot read: {err.strerror or err}") from None
    return import_conversation(store, data, title=title, source=str(path), owner=owner)
