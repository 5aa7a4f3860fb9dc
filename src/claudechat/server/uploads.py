"""Attachments through the service: images and PDFs sent as base64 with a user message.

    POST /v1/conversations/{cid}/messages
    {"content": "What is in this chart?", "attachments": [{"name": "chart.png", "data": "<base64>"}]}

Each one is decoded and checked as the library checks a file (media type by its magic bytes,
never by its name; the API's limits), before anything is stored or sent: bad base64 is a 422
naming the field, a file that is not a PNG, JPEG, GIF, WebP or PDF a 415 naming it, one over
a limit a 413 (errors.py). The chat stores each attachment once by its SHA-256 and resends it
with every later request, as the library does. Messages read back name their attachments
(name, media type, size) without their bytes; ``GET .../messages/{mid}/attachments/{n}``
gives the bytes of one, and the JSON export carries them as base64.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from ..attachments import Attachment, AttachmentLimits, is_inline, load_attachments
from ..errors import AttachmentRejected
from ..media import sniff
from ..messages import Block, Message
from ..metadata import ATTACHMENTS
from ..tokens import BLOCK_OVERHEAD, document_tokens, image_tokens
from .bodies import AttachmentBody
from .errors import ApiError

__all__ = [
    "attachment_data",
    "attachment_tokens",
    "attachments_json",
    "decode_attachments",
    "history_tokens",
    "without_data",
]


def decode_attachments(
    items: Sequence[AttachmentBody], *, limits: AttachmentLimits
) -> list[Attachment]:
    """The checked attachments of a request body: 422 for bad base64 (naming the field),
    AttachmentRejected (415 / 413) for a file of another type or over a limit."""
    decoded: list[Attachment] = []
    for i, item in enumerate(items):
        try:
            data = base64.b64decode(item.data, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(
                422, f"body.attachments.{i}.data: not valid base64 (the attachment {item.name!r})"
            ) from None
        media = sniff(data[:1024])
        if media is None:
            raise AttachmentRejected(
                f"{item.name} is not a PNG, JPEG, GIF or WebP image nor a PDF (read from its "
                "first bytes); nothing was stored or sent",
                name=item.name,
                limit="type",
            )
        decoded.append(Attachment(data, media, item.name))
    return load_attachments(decoded, limits=limits)


def attachment_tokens(attachments: Sequence[Attachment]) -> int:
    """The library's estimate of the input tokens the attachments add to a request."""
    return sum(_block_tokens(a.block()) for a in attachments)


def _block_tokens(block: Block) -> int:
    """An image or PDF block's tokens as the accountant estimates them (tokens.py)."""
    if block["type"] == "image":
        return BLOCK_OVERHEAD + image_tokens(block)
    return BLOCK_OVERHEAD + 10 + document_tokens(block)


def history_tokens(messages: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """A request's messages with their attachments' data left out, and the library's
    estimate of those attachments' tokens: the text is bounded by its size, the images and
    PDFs by their estimate (their base64 text would count far more than they cost)."""
    stripped: list[dict[str, Any]] = []
    tokens = 0
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            for b in content:
                if isinstance(b, dict) and is_inline(b):
                    tokens += _block_tokens(b)
            content = without_data([b for b in content if isinstance(b, dict)])
        stripped.append({**m, "content": content})
    return stripped, tokens


def without_data(content: Sequence[Block]) -> list[Block]:
    """A message's content with the base64 data of its attachments left out (their media
    type stays): what a client reads back, the bytes being served on their own."""
    out: list[Block] = []
    for block in content:
        if is_inline(block):
            source = {k: v for k, v in block["source"].items() if k != "data"}
            block = {**block, "source": {**source, "data_omitted": True}}
        out.append(block)
    return out


def attachments_json(message: Message) -> list[dict[str, Any]]:
    """A user message's attachments, in order: index, name, media type, size in bytes,
    SHA-256 (from its metadata; the blocks themselves for a message stored without it)."""
    described = message.metadata.get(ATTACHMENTS)
    inline = [b for b in message.content if is_inline(b)]
    out: list[dict[str, Any]] = []
    for index, block in enumerate(inline):
        known = described[index] if isinstance(described, list) and index < len(described) else {}
        known = known if isinstance(known, Mapping) else {}
        data = block["source"]["data"]
        out.append({
            "index": index,
            "name": str(known.get("name") or f"attachment {index + 1}"),
            "media_type": str(block["source"].get("media_type")),
            "bytes": int(known.get("bytes") or len(data) * 3 // 4 - data[-2:].count("=")),
            "sha256": known.get("sha256"),
        })  # fmt: skip
    return out


def attachment_data(message: Message, index: int) -> tuple[bytes, str, str]:
    """The bytes, media type and name of a message's ``index``-th attachment (404 when it
    has none there)."""
    inline = [b for b in message.content if is_inline(b)]
    if not 0 <= index < len(inline):
        raise ApiError(404, f"message {message.id} has no attachment {index}")
    source = inline[index]["source"]
    name = attachments_json(message)[index]["name"]
    return base64.b64decode(source["data"]), str(source.get("media_type")), name
