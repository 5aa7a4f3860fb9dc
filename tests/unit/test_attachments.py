"""Attachments without a model: the type read from magic bytes, each API limit, the token
estimates for images and PDFs, and the store's split of base64 data into blobs."""

from __future__ import annotations

import base64
import hashlib
import struct
from pathlib import Path

import pytest

from claudechat.attachments import (
    Attachment,
    AttachmentLimits,
    check_request_size,
    load_attachments,
)
from claudechat.errors import AttachmentRejected, UserError
from claudechat.media import image_size, pdf_pages, sniff
from claudechat.messages import Message
from claudechat.store._blobs import BLOB_SOURCE, join_blobs, split_blobs
from claudechat.testing import sample_pdf, sample_png
from claudechat.testing._tokens import block_tokens
from claudechat.tokens import IMAGE_TOKENS, PDF_PAGE_TOKENS, document_tokens, image_tokens

LIMITS = AttachmentLimits()


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def _gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def _webp(width: int, height: int) -> bytes:
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    body += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


@pytest.mark.parametrize(
    ("data", "media", "size"),
    [
        (sample_png(300, 200), "image/png", (300, 200)),
        (_jpeg(640, 480), "image/jpeg", (640, 480)),
        (_gif(32, 16), "image/gif", (32, 16)),
        (_webp(1024, 768), "image/webp", (1024, 768)),
    ],
)
def test_images_are_known_by_their_bytes_and_measured(
    data: bytes, media: str, size: tuple[int, int]
) -> None:
    assert sniff(data) == media
    assert image_size(data) == size


def test_the_type_comes_from_the_bytes_not_the_name(tmp_path: Path) -> None:
    misnamed = tmp_path / "report.pdf"
    misnamed.write_bytes(sample_png(10, 10))
    [a] = load_attachments([misnamed], limits=LIMITS)
    assert a.media_type == "image/png" and a.kind == "image" and a.name == "report.pdf"
    text = tmp_path / "photo.png"
    text.write_text("not an image at all")
    with pytest.raises(AttachmentRejected) as info:
        load_attachments([text], limits=LIMITS)
    assert info.value.limit == "type" and info.value.name == "photo.png"
    assert "nothing was stored or sent" in str(info.value)
    assert isinstance(info.value, UserError)


def test_a_missing_file_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(AttachmentRejected, match=r"cannot read the attachment .*nope\.png"):
        load_attachments([tmp_path / "nope.png"], limits=LIMITS)


def test_bytes_are_taken_and_named_by_position() -> None:
    [pdf, png] = load_attachments([sample_pdf(2), sample_png()], limits=LIMITS)
    assert (pdf.name, pdf.kind, pdf.media_type) == ("attachment 1", "document", "application/pdf")
    assert png.name == "attachment 2"
    block = pdf.block()
    assert block["type"] == "document" and block["title"] == "attachment 1"
    assert base64.b64decode(block["source"]["data"]) == pdf.data
    assert pdf.sha256 == hashlib.sha256(pdf.data).hexdigest()


def test_an_image_over_5_mb_of_base64_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(sample_png(16, 16) + b"\x00" * (4 * 1024 * 1024))
    with pytest.raises(AttachmentRejected) as info:
        load_attachments([big], limits=LIMITS)
    assert info.value.limit == "size" and info.value.maximum == 5 * 1024 * 1024 // 4 * 3


def test_an_image_over_8000_pixels_a_side_is_refused() -> None:
    with pytest.raises(AttachmentRejected) as info:
        load_attachments([sample_png(8001, 2)], limits=LIMITS)
    assert (info.value.limit, info.value.value, info.value.maximum) == ("pixels", 8001, 8000)
    assert load_attachments([sample_png(8000, 2)], limits=LIMITS)


def test_a_pdf_over_100_pages_is_refused() -> None:
    assert pdf_pages(sample_pdf(100)) == 100
    assert load_attachments([sample_pdf(100)], limits=LIMITS)
    with pytest.raises(AttachmentRejected) as info:
        load_attachments([sample_pdf(101)], limits=LIMITS)
    assert (info.value.limit, info.value.value) == ("pages", 101)


def test_attachments_resent_with_every_request_must_fit_32_mb() -> None:
    ten = Attachment(sample_pdf(3, size=10_000_000), "application/pdf", "ten.pdf")
    check_request_size([ten], 2 * ten.base64_size - 14_000_000, limits=LIMITS)
    with pytest.raises(AttachmentRejected) as info:
        check_request_size([ten], 2 * ten.base64_size, limits=LIMITS)
    assert info.value.limit == "request" and "Files API" in str(info.value)


def test_image_tokens_follow_the_documented_formula() -> None:
    def block(data: bytes) -> dict[str, object]:
        return Attachment(data, sniff(data) or "", "x").block()

    assert image_tokens(block(sample_png(300, 200))) == 80  # 300 × 200 / 750
    assert image_tokens(block(_jpeg(640, 480))) == 410  # ceil(640 × 480 / 750)
    assert image_tokens(block(_webp(1000, 1000))) == 1334
    # A long edge over 1,568 px is scaled down first; the result is capped at about 1.15 MP.
    assert image_tokens(block(_jpeg(3136, 200))) == math_ceil(1568 * 100 / 750)
    assert image_tokens(block(_jpeg(4000, 3000))) == IMAGE_TOKENS
    file_source = {"type": "image", "source": {"type": "file", "file_id": "file_1"}}
    assert image_tokens(file_source) == IMAGE_TOKENS


def math_ceil(x: float) -> int:
    return -int(-x // 1)


def test_pdf_tokens_are_a_per_page_estimate_shared_with_the_emulator() -> None:
    block = Attachment(sample_pdf(7), "application/pdf", "seven.pdf").block()
    assert document_tokens(block) == 7 * PDF_PAGE_TOKENS
    title = block_tokens("seven.pdf", "claude-sonnet-4-6") - 1  # the emulator counts the title
    assert block_tokens(block, "claude-sonnet-4-6") == 1 + 10 + title + 7 * PDF_PAGE_TOKENS


def test_the_store_keeps_base64_data_once_as_a_reference() -> None:
    png = Attachment(sample_png(20, 20), "image/png", "a.png").block()
    result = {"type": "tool_result", "tool_use_id": "t", "content": [dict(png)]}
    message = Message("user", [png, {"type": "text", "text": "see"}, result])
    stored, blobs = split_blobs(message)
    assert len(blobs) == 1 and blobs[0].data == sample_png(20, 20)
    ref = stored.content[0]["source"]
    assert ref == {"type": BLOB_SOURCE, "media_type": "image/png", "sha256": blobs[0].sha256}
    assert stored.content[2]["content"][0]["source"] == ref
    assert "data" not in str(stored.content)
    data = {blobs[0].sha256: png["source"]["data"]}
    assert join_blobs(stored, data).content == message.content
    plain = Message("user", [{"type": "text", "text": "no attachments"}])
    assert split_blobs(plain) == (plain, [])
