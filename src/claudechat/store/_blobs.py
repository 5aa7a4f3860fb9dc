"""Attachments stored once by content: base64 image and document data out of message
content into blobs keyed by SHA-256, and back in on reading.

A stored block keeps every key of the block as sent but its source, which becomes
``{"type": "claudechat_blob", "media_type": …, "sha256": …}``; readers get the base64
source again, so nothing above the store ever sees a reference. Tool results' content
is looked into as well. Content without base64 data is neither copied nor changed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import StoreError
from ..messages import Block, Message

__all__ = [
    "BLOB_SOURCE",
    "Blob",
    "blob_refs",
    "encoded",
    "inline_blocks",
    "join_blobs",
    "message_refs",
    "split_blobs",
]

BLOB_SOURCE = "claudechat_blob"
_KINDS = ("image", "document")


@dataclass(frozen=True, slots=True)
class Blob:
    """One attachment's bytes, named by their SHA-256."""

    sha256: str
    media_type: str
    data: bytes


def _inline(block: Any) -> bool:
    """True for an image or document block carrying base64 data."""
    if type(block) is not dict or block.get("type") not in _KINDS:
        return False
    source = block.get("source")
    return isinstance(source, dict) and source.get("type") == "base64"


def _stored(block: Any) -> bool:
    if type(block) is not dict or block.get("type") not in _KINDS:
        return False
    source = block.get("source")
    return isinstance(source, dict) and source.get("type") == BLOB_SOURCE


def _inner(block: Any) -> list[Any] | None:
    """A tool result's content list (where images may be), else None."""
    if type(block) is dict and block.get("type") == "tool_result":
        inner = block.get("content")
        if isinstance(inner, list):
            return inner
    return None


def _any(content: Iterable[Any], test: Callable[[Any], bool]) -> bool:
    for b in content:
        if test(b):
            return True
        inner = _inner(b)
        if inner is not None and any(test(x) for x in inner):
            return True
    return False


def _map(content: list[Any], change: Callable[[dict[str, Any]], dict[str, Any]],
         test: Callable[[Any], bool]) -> list[Any]:  # fmt: skip
    out: list[Any] = []
    for b in content:
        inner = _inner(b)
        if test(b):
            out.append(change(b))
        elif inner is not None and any(test(x) for x in inner):
            out.append({**b, "content": [change(x) if test(x) else x for x in inner]})
        else:
            out.append(b)
    return out


def split_blobs(message: Message) -> tuple[Message, list[Blob]]:
    """The message as stored (base64 data replaced by references) and the blobs it
    carries; the message itself, and no blobs, when it carries none."""
    if not _any(message.content, _inline):
        return message, []
    blobs: dict[str, Blob] = {}

    def refer(block: dict[str, Any]) -> dict[str, Any]:
        source = block["source"]
        try:
            data = base64.b64decode(str(source.get("data", "")), validate=True)
        except (binascii.Error, ValueError):
            raise StoreError(f"message {message.id}: {block['type']} data is not base64") from None
        sha = hashlib.sha256(data).hexdigest()
        media = str(source.get("media_type", ""))
        blobs.setdefault(sha, Blob(sha, media, data))
        return {**block, "source": {"type": BLOB_SOURCE, "media_type": media, "sha256": sha}}

    content = _map(message.content, refer, _inline)
    return message.with_(content=content), list(blobs.values())


def blob_refs(content: Iterable[Any]) -> set[str]:
    """The SHA-256 of every blob a stored content list references."""
    found: set[str] = set()
    for b in content:
        for x in [b, *(_inner(b) or [])]:
            if _stored(x):
                found.add(str(x["source"].get("sha256")))
    return found


def join_blobs(message: Message, data: Mapping[str, str]) -> Message:
    """The message with its references made base64 sources again (``data``: SHA-256 →
    base64 text); the message itself when it holds none. StoreError for a missing blob."""
    if not _any(message.content, _stored):
        return message

    def restore(block: dict[str, Any]) -> dict[str, Any]:
        source = block["source"]
        sha = str(source.get("sha256"))
        if sha not in data:
            raise StoreError(f"message {message.id}: attachment {sha[:12]}… is missing")
        media = source.get("media_type")
        return {**block, "source": {"type": "base64", "media_type": media, "data": data[sha]}}

    return message.with_(content=_map(message.content, restore, _stored))


def message_refs(messages: Iterable[Message]) -> set[str]:
    """The blobs a list of stored messages references (empty for most histories)."""
    found: set[str] = set()
    for m in messages:
        if _any(m.content, _stored):
            found |= blob_refs(m.content)
    return found


def encoded(blobs: Iterable[tuple[str, bytes]]) -> dict[str, str]:
    """SHA-256 → base64 text, each blob encoded once however many messages use it."""
    return {sha: base64.b64encode(bytes(data)).decode("ascii") for sha, data in blobs}


def inline_blocks(content: Iterable[Block]) -> list[Block]:
    """Every image or document block of ``content`` with base64 data (tool results too)."""
    out: list[Block] = []
    for b in content:
        for x in [b, *(_inner(b) or [])]:
            if _inline(x):
                out.append(x)
    return out
