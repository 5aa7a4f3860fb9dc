"""Attachments: images (PNG, JPEG, GIF, WebP) and PDFs sent with a user message.

    chat.send("What is in this chart?", attachments=["chart.png"])

Each attachment is a path or bytes; its type is read from its magic bytes (never from
the file name) and it is checked against the API's limits before anything is stored or
sent, so a refusal costs nothing (``AttachmentRejected`` names the file and the rule):

- an image's base64 text at most 5 MB (5,242,880 characters, about 3.75 MB of bytes),
  each side at most 8,000 pixels;
- a PDF at most 100 pages;
- every request at most 32 MB: attachments are resent with every request, so the base64
  of those already in the conversation plus the new ones must fit (unless they go
  through the Files API, where a request carries only their ids; a file there is at
  most 500 MB).

Attachments become ordinary ``image`` / ``document`` content blocks; the store keeps
each one once by its SHA-256, however many messages carry it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import AttachmentRejected
from .media import IMAGE_TYPES, PDF_TYPE, image_size, pdf_pages, sniff
from .messages import Block

__all__ = [
    "FILES_BETA",
    "Attachment",
    "AttachmentLike",
    "AttachmentLimits",
    "check_request_size",
    "inline_size",
    "is_inline",
    "load_attachments",
]

FILES_BETA = "files-api-2025-04-14"
"""The beta header of the Files API, and of file sources in messages."""
_SNIFF_BYTES = 1024


def is_inline(block: Mapping[str, Any]) -> bool:
    """True for an image or document block that carries its bytes inline (base64)."""
    source = block.get("source")
    return (
        block.get("type") in ("image", "document")
        and isinstance(source, dict)
        and source.get("type") == "base64"
        and isinstance(source.get("data"), str)
    )


@dataclass(frozen=True, slots=True)
class AttachmentLimits:
    """The API's limits an attachment is checked against (bytes are of base64 text where
    the API counts base64). Smaller figures may be set; larger ones only defer the
    refusal to the API."""

    image_base64: int = 5 * 1024 * 1024
    image_edge: int = 8_000
    pdf_pages: int = 100
    request_bytes: int = 32 * 1024 * 1024
    file_bytes: int = 500 * 1024 * 1024
    request_margin: int = 1024 * 1024  # room for the text, tools and JSON of a request


@dataclass(frozen=True, slots=True)
class Attachment:
    """One checked attachment: its bytes, media type and a name for messages and exports."""

    data: bytes
    media_type: str
    name: str
    sha256: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())

    @property
    def kind(self) -> str:
        """The content block type: "image" or "document"."""
        return "document" if self.media_type == PDF_TYPE else "image"

    @property
    def base64_size(self) -> int:
        """Characters of base64 text the data takes in a request."""
        return (len(self.data) + 2) // 3 * 4

    def block(self) -> Block:
        """The content block that carries it inline (a PDF titled with its name)."""
        data = base64.b64encode(self.data).decode("ascii")
        source = {"type": "base64", "media_type": self.media_type, "data": data}
        block: Block = {"type": self.kind, "source": source}
        if self.kind == "document":
            block["title"] = self.name
        return block

    def describe(self) -> dict[str, Any]:
        """What a message's metadata records about it (no data)."""
        return {
            "name": self.name,
            "media_type": self.media_type,
            "bytes": len(self.data),
            "sha256": self.sha256,
        }


AttachmentLike = str | os.PathLike[str] | bytes | Attachment
"""What ``attachments=`` takes: a file path, the bytes of a file, or an ``Attachment``."""


def load_attachments(
    items: Iterable[AttachmentLike], *, limits: AttachmentLimits, uploading: bool = False
) -> list[Attachment]:
    """Read and check each attachment (type by magic bytes, then each limit)."""
    return [_checked(_read(item, i, limits, uploading), limits) for i, item in enumerate(items, 1)]


def _read(
    item: AttachmentLike, index: int, limits: AttachmentLimits, uploading: bool
) -> Attachment:
    """The attachment's bytes and type; a file over every limit is refused unread."""
    if isinstance(item, Attachment):
        return item
    if isinstance(item, bytes | bytearray | memoryview):
        data = bytes(item)
        return Attachment(data, _type_of(data, f"attachment {index}"), f"attachment {index}")
    if not isinstance(item, str | os.PathLike):
        raise AttachmentRejected(
            f"attachment {index}: a path or bytes is needed, not {type(item).__name__}",
            name=f"attachment {index}", limit="type",
        )  # fmt: skip
    path = Path(item).expanduser()
    name = path.name
    try:
        with path.open("rb") as f:
            head = f.read(_SNIFF_BYTES)
            media = _type_of(head, name)
            size = os.fstat(f.fileno()).st_size
            most = _most_bytes(media, limits, uploading)
            if size > most:
                raise _too_big(name, media, size, most)
            data = head + f.read()
    except OSError as err:
        raise AttachmentRejected(
            f"cannot read the attachment {item}: {err.strerror or err}", name=name, limit="file"
        ) from None
    return Attachment(data, media, name)


def _type_of(head: bytes, name: str) -> str:
    media = sniff(head)
    if media is None:
        raise AttachmentRejected(
            f"{name} is not a PNG, JPEG, GIF or WebP image nor a PDF (read from its first "
            "bytes); nothing was stored or sent",
            name=name,
            limit="type",
        )
    return media


def _most_bytes(media: str, limits: AttachmentLimits, uploading: bool) -> int:
    """The largest file of this type worth reading."""
    if media in IMAGE_TYPES:
        return limits.image_base64 // 4 * 3
    if uploading:
        return limits.file_bytes
    return (limits.request_bytes - limits.request_margin) // 4 * 3


def _too_big(name: str, media: str, size: int, most: int) -> AttachmentRejected:
    what = "an image's base64 text (5 MB)" if media in IMAGE_TYPES else "a request (32 MB)"
    return AttachmentRejected(
        f"{name} is {size:,} bytes: over the {most:,} bytes that fit {what}; nothing was "
        "stored or sent",
        name=name,
        limit="size",
        value=size,
        maximum=most,
    )


def _checked(a: Attachment, limits: AttachmentLimits) -> Attachment:
    """The attachment, or AttachmentRejected for the first limit it is over."""
    if a.kind == "image":
        if a.base64_size > limits.image_base64:
            raise _too_big(a.name, a.media_type, len(a.data), limits.image_base64 // 4 * 3)
        size = image_size(a.data)
        if size is not None and max(size) > limits.image_edge:
            raise AttachmentRejected(
                f"{a.name} is {size[0]}×{size[1]} pixels: over the API's {limits.image_edge:,} "
                "pixels a side; nothing was stored or sent",
                name=a.name, limit="pixels", value=max(size), maximum=limits.image_edge,
            )  # fmt: skip
        return a
    pages = pdf_pages(a.data)
    if pages > limits.pdf_pages:
        raise AttachmentRejected(
            f"{a.name} has {pages} pages: over the API's {limits.pdf_pages} pages per PDF; "
            "nothing was stored or sent",
            name=a.name, limit="pages", value=pages, maximum=limits.pdf_pages,
        )  # fmt: skip
    return a


def inline_size(blocks: Iterable[Block]) -> int:
    """Characters of base64 data the image and document blocks of ``blocks`` carry."""
    total = 0
    for b in blocks:
        source = b.get("source")
        if b.get("type") in ("image", "document") and isinstance(source, dict):
            data = source.get("data")
            if source.get("type") == "base64" and isinstance(data, str):
                total += len(data)
        inner = b.get("content") if b.get("type") == "tool_result" else None
        if isinstance(inner, list):
            total += inline_size(x for x in inner if isinstance(x, dict))
    return total


def check_request_size(
    new: Sequence[Attachment], already: int, *, limits: AttachmentLimits
) -> None:
    """Refuse attachments that would bring every later request over the API's request size
    (``already``: base64 characters the conversation's requests carry now)."""
    adding = sum(a.base64_size for a in new)
    most = limits.request_bytes - limits.request_margin
    if new and already + adding > most:
        name = new[-1].name if len(new) == 1 else f"{len(new)} attachments"
        raise AttachmentRejected(
            f"{name} would make every request {already + adding:,} bytes of attachments, over "
            f"the API's 32 MB request size ({most:,} bytes left for attachments); nothing was "
            "stored or sent (attachments_upload=True sends them through the Files API instead)",
            name=name,
            limit="request",
            value=already + adding,
            maximum=most,
        )
