"""Small, valid attachment files made on the spot, for tests and offline demos: a PNG of
any size in pixels and a PDF of any number of pages (and, with filler, any size)."""

from __future__ import annotations

import struct
import zlib

__all__ = ["sample_pdf", "sample_png"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def sample_png(width: int = 64, height: int = 48, *, shade: int = 0) -> bytes:
    """A grey PNG of ``width`` × ``height`` pixels (``shade`` 0-255 makes different files)."""
    row = b"\x00" + bytes([shade % 256]) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    pixels = zlib.compress(row * height, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


def sample_pdf(pages: int = 1, *, size: int = 0, text: str = "page") -> bytes:
    """A PDF of ``pages`` pages, each showing ``text`` and its number, padded with a
    comment to at least ``size`` bytes."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(f"{3 + 2 * i} 0 R".encode() for i in range(pages))
        + f"] /Count {pages} >>".encode(),
    ]
    for i in range(pages):
        page = f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R >>"
        stream = f"BT /F1 24 Tf 72 700 Td ({text} {i + 1}) Tj ET".encode()
        objects += [
            page.encode(),
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    if len(out) < size:
        filler = size - len(out) - 64
        out += b"%" + b"0" * max(filler, 0) + b"\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)
