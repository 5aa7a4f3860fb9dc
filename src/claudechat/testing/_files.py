"""The Files API and attachment checks of the emulator.

``EmuFiles`` answers ``POST /v1/files`` (multipart upload), ``GET /v1/files`` (list),
``GET /v1/files/{id}`` (metadata), ``GET /v1/files/{id}/content`` and ``DELETE
/v1/files/{id}``; an unknown id is a 404 ``not_found_error``, as is a message naming a
file that is not there (deleted, or removed by ``expire``). Before a message is counted,
its file sources become the base64 sources they stand for, so validation and token
counts treat them as the same image or PDF sent inline.

``check_media`` does what the API does with attachment bytes: the data must be of the
media type it claims (magic bytes), an image at most 8,000 pixels a side, the PDFs of a
request at most 100 pages. (The emulator answers a request over 32 MB with the API's 413
``request_too_large`` before reading it.)
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from typing import Any

from ..media import image_size, pdf_pages, sniff
from ._errors import EmuAPIError, invalid
from ._transport import EmuResponse

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_PDF_PAGES",
    "MAX_REQUEST_BYTES",
    "EmuFile",
    "EmuFiles",
    "check_media",
    "file_response",
]

MAX_REQUEST_BYTES = 32 * 1024 * 1024
MAX_FILE_BYTES = 500 * 1024 * 1024
MAX_PDF_PAGES = 100
MAX_IMAGE_EDGE = 8_000
_KINDS = ("image", "document")


@dataclass(frozen=True)
class EmuFile:
    """One uploaded file."""

    id: str
    filename: str
    mime_type: str
    data: bytes
    created_at: float

    def metadata(self) -> dict[str, Any]:
        """The file's metadata as the API returns it."""
        created = datetime.fromtimestamp(self.created_at, UTC).isoformat().replace("+00:00", "Z")
        return {
            "id": self.id,
            "type": "file",
            "filename": self.filename,
            "mime_type": self.mime_type,
            "size_bytes": len(self.data),
            "created_at": created,
            "downloadable": False,
        }


class EmuFiles:
    """Uploaded files, by id; ``uploads`` counts every upload made."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.files: dict[str, EmuFile] = {}
        self.uploads = 0

    def expire(self, file_id: str | None = None) -> None:
        """Remove one file (or all): later messages naming it get a 404."""
        if file_id is None:
            self.files.clear()
        else:
            self.files.pop(file_id, None)

    # --- the endpoints --------------------------------------------------------------------

    def route(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Any:
        """The JSON answer (or bytes of a file's content) to a /v1/files request."""
        parts = path.strip("/").split("/")  # v1, files, [id, [content]]
        if len(parts) == 2 and method == "POST":
            return self._upload(headers, raw).metadata()
        if len(parts) == 2 and method == "GET":
            data = [f.metadata() for f in reversed(self.files.values())]
            first = data[0]["id"] if data else None
            last = data[-1]["id"] if data else None
            return {"data": data, "first_id": first, "last_id": last, "has_more": False}
        if len(parts) in (3, 4):
            found = self._get(parts[2])
            if len(parts) == 4 and parts[3] == "content" and method == "GET":
                return found.data
            if len(parts) == 3 and method == "GET":
                return found.metadata()
            if len(parts) == 3 and method == "DELETE":
                del self.files[found.id]
                return {"id": found.id, "type": "file_deleted"}
        raise EmuAPIError(404, f"Not found: {method} {path}")

    def _get(self, file_id: str) -> EmuFile:
        found = self.files.get(file_id)
        if found is None:
            raise EmuAPIError(404, f"File not found: {file_id}")
        return found

    def _upload(self, headers: dict[str, str], raw: bytes) -> EmuFile:
        if len(raw) > MAX_FILE_BYTES:
            raise EmuAPIError(413, "File exceeds the maximum allowed size of 500 MB.")
        name, mime, data = _file_part(headers.get("content-type", ""), raw)
        self.uploads += 1
        file_id = f"file_emu_{self.uploads:014d}"
        self.files[file_id] = EmuFile(file_id, name, mime, data, self.clock())
        return self.files[file_id]

    # --- messages naming files ---------------------------------------------------------------

    def resolve(self, body: dict[str, Any]) -> dict[str, Any]:
        """The request with each file source replaced by the base64 source of its file
        (404 for a file that is not there); the body itself when it names none."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not _names_files(messages):
            return body
        out = []
        for m in messages:
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, list):
                m = {**m, "content": [self._resolved(b) for b in content]}
            out.append(m)
        return {**body, "messages": out}

    def _resolved(self, block: Any) -> Any:
        if not isinstance(block, dict):
            return block
        if block.get("type") == "tool_result" and isinstance(block.get("content"), list):
            return {**block, "content": [self._resolved(x) for x in block["content"]]}
        source = block.get("source")
        if block.get("type") not in _KINDS or not isinstance(source, dict):
            return block
        if source.get("type") != "file":
            return block
        found = self._get(str(source.get("file_id")))
        data = base64.b64encode(found.data).decode("ascii")
        media = found.mime_type
        return {**block, "source": {"type": "base64", "media_type": media, "data": data}}


def _names_files(messages: list[Any]) -> bool:
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):
            for _, b in _blocks(content):
                source = b.get("source")
                if isinstance(source, dict) and source.get("type") == "file":
                    return True
    return False


def _file_part(content_type: str, raw: bytes) -> tuple[str, str, bytes]:
    """The ``file`` part of a multipart/form-data body: its file name, type and bytes."""
    if not content_type.startswith("multipart/form-data"):
        raise invalid("Content-Type must be multipart/form-data")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + raw)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            data = part.get_payload(decode=True)
            if not isinstance(data, bytes):
                break
            name = part.get_filename() or "unnamed"
            return name.rsplit("/", 1)[-1], part.get_content_type(), data
    raise invalid("file: Field required")


# --- attachment bytes ----------------------------------------------------------------------


def check_media(body: dict[str, Any]) -> None:
    """The API's checks on attachment bytes (after the request's own validation)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    pages = 0
    for i, m in enumerate(messages):
        content = m.get("content") if isinstance(m, dict) else None
        if not isinstance(content, list):
            continue
        for j, block in _blocks(content):
            pages += _check_block(block, f"messages.{i}.content.{j}")
    if pages > MAX_PDF_PAGES:
        raise invalid(f"A maximum of {MAX_PDF_PAGES} PDF pages may be provided.")


def _blocks(content: list[Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    for j, b in enumerate(content):
        if not isinstance(b, dict):
            continue
        yield j, b
        inner = b.get("content") if b.get("type") == "tool_result" else None
        if isinstance(inner, list):
            yield from ((j, x) for x in inner if isinstance(x, dict))


def _check_block(block: dict[str, Any], where: str) -> int:
    """The PDF pages a block carries, after checking that its bytes are what it says."""
    source = block.get("source")
    if block.get("type") not in _KINDS or not isinstance(source, dict):
        return 0
    if source.get("type") != "base64" or not isinstance(source.get("data"), str):
        return 0
    found, size, pages = _reading(source["data"])
    media = source.get("media_type")
    place = f"{where}.{block['type']}.source.base64.data"
    if found is not None and media is not None and found != media:
        noun = "image" if block["type"] == "image" else "document"
        raise invalid(
            f"{place}: The {noun} was specified using the {media} media type, but the "
            f"{noun} appears to be a {found} {noun}"
        )
    if size is not None and max(size) > MAX_IMAGE_EDGE:
        raise invalid(
            f"{place}: At least one of the image dimensions exceed max allowed size: "
            f"{MAX_IMAGE_EDGE} pixels"
        )
    return pages


@functools.lru_cache(maxsize=64)
def _reading(data: str) -> tuple[str | None, tuple[int, int] | None, int]:
    """What the bytes of base64 ``data`` are: media type, image size, PDF pages."""
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return None, None, 0
    media = sniff(raw)
    if media == "application/pdf":
        return media, None, pdf_pages(raw)
    return media, image_size(raw) if media else None, 0


def file_response(answer: Any, request_id: str) -> EmuResponse:
    """The HTTP answer of a /v1/files request."""
    if isinstance(answer, bytes):
        headers = {"request-id": request_id, "content-type": "application/octet-stream"}
        return EmuResponse(200, headers, answer)
    headers = {"request-id": request_id, "content-type": "application/json"}
    return EmuResponse(200, headers, json.dumps(answer).encode())
