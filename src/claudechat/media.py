"""What an attachment is, read from its bytes: the media type by magic bytes, an image's
size in pixels, a PDF's page count. No I/O; the chat, the token estimates and the
emulator share these readings so their figures agree.
"""

from __future__ import annotations

import re
import struct

__all__ = [
    "IMAGE_TYPES",
    "PDF_TYPE",
    "image_size",
    "pdf_pages",
    "sniff",
]

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
PDF_TYPE = "application/pdf"

_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def sniff(data: bytes) -> str | None:
    """The media type ``data`` starts like (PNG, JPEG, GIF, WebP, PDF), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:1024].lstrip(b"\x00\t\n\r ").startswith(b"%PDF-"):
        return PDF_TYPE
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) in pixels from an image's header, or None when it cannot be read."""
    try:
        if data.startswith(b"\x89PNG") and len(data) >= 24:
            w, h = struct.unpack(">II", data[16:24])
            return int(w), int(h)
        if data[:4] == b"GIF8" and len(data) >= 10:
            w, h = struct.unpack("<HH", data[6:10])
            return int(w), int(h)
        if data.startswith(b"\xff\xd8"):
            return _jpeg_size(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
    except struct.error:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the JPEG segments to the first start-of-frame marker."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size of a lossy (VP8), lossless (VP8L) or extended (VP8X) WebP."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return int(w) & 0x3FFF, int(h) & 0x3FFF
    return None


def pdf_pages(data: bytes) -> int:
    """The number of page objects in a PDF (``/Type /Page``, not ``/Pages``); at least 1.

    A reading of the file's text, not a parser: pages inside compressed object streams are
    not seen, so this is an estimate for budgets and local checks."""
    return max(1, len(_PAGE.findall(data)))
