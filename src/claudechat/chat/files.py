"""Attachments in a chat: the checks and blocks of a new message's attachments, and the
optional sending of them through the Files API.

With ``attachments_upload=True`` every image and PDF a request carries inline is uploaded
once (beta ``files-api-2025-04-14``), its file id kept in the conversation's metadata by
SHA-256, and the request sends ``{"type": "file", "file_id": …}`` sources instead of the
base64 data. The store keeps the data itself, so when the API answers 404 for a file
(deleted, expired) the request is sent again inline and the id forgotten (uploaded anew
next time). Token counts are made on the inline request, before the swap.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from os import PathLike
from typing import Any

from ..attachments import (
    FILES_BETA,
    Attachment,
    AttachmentLike,
    AttachmentLimits,
    check_request_size,
    inline_size,
    is_inline,
    load_attachments,
)
from ..context.engine import Prepared
from ..errors import ClaudeChatError, ModelError, UserError
from ..messages import Block, Message
from ..metadata import ATTACHMENT_FILES, ATTACHMENTS
from ..models.base import Request
from ..store.base import Conversation, Store

__all__ = ["AttachmentSending", "Upload"]

log = logging.getLogger("claudechat")


@dataclass(frozen=True, slots=True)
class Upload:
    """An attachment a request carries inline that is not on the Files API yet."""

    sha256: str
    name: str
    media_type: str
    data: bytes


class AttachmentSending:
    """Attachment bookkeeping mixed into ChatBase (which sets the fields)."""

    store: Store
    _conv: Conversation | None
    _branch: list[Message]
    model: Any
    attachment_limits: AttachmentLimits
    attachments_upload: bool
    _sha_of: dict[str, str]  # base64 text → SHA-256 of its bytes
    _inline_request: Request | None  # the request before its files were swapped in

    def _start_attachments(self, limits: AttachmentLimits | None, upload: bool) -> None:
        """This chat's own fields; UserError when uploads are asked of a model that cannot."""
        self.attachment_limits = limits or AttachmentLimits()
        self.attachments_upload = bool(upload)
        self._sha_of = {}
        self._inline_request = None
        if upload and not callable(getattr(self.model, "upload_file", None)):
            raise UserError(
                "attachments_upload=True needs a model sent through the SDK (it uploads to "
                f"the Files API); {type(self.model).__name__} cannot upload"
            )

    def _attachment_blocks(
        self, items: Sequence[AttachmentLike] | AttachmentLike | None
    ) -> tuple[list[Block], dict[str, Any]]:
        """The checked attachments as content blocks, and the message metadata naming them
        (AttachmentRejected before anything is stored or sent)."""
        if items is None:
            return [], {}
        upload = self.attachments_upload
        attachments = load_attachments(
            _listed(items), limits=self.attachment_limits, uploading=upload
        )
        if not attachments:
            return [], {}
        if not upload:
            already = sum(inline_size(m.content) for m in self._branch)
            check_request_size(attachments, already, limits=self.attachment_limits)
        blocks = []
        for a in attachments:
            block = a.block()
            self._sha_of[block["source"]["data"]] = a.sha256
            blocks.append(block)
        return blocks, {ATTACHMENTS: [a.describe() for a in attachments]}

    # --- the Files API ----------------------------------------------------------------------

    def _file_ids(self) -> dict[str, str]:
        conv = self._conv
        known = conv.metadata.get(ATTACHMENT_FILES) if conv is not None else None
        return dict(known) if isinstance(known, Mapping) else {}

    def _sha(self, data: str) -> str:
        sha = self._sha_of.get(data)
        if sha is None:
            sha = self._sha_of[data] = hashlib.sha256(base64.b64decode(data)).hexdigest()
        return sha

    def _to_upload(self, prepared: Prepared) -> list[Upload]:
        """The inline attachments of this request not on the Files API yet (none unless
        ``attachments_upload``)."""
        if not self.attachments_upload:
            return []
        known = self._file_ids()
        names = _names(self._branch)
        out: dict[str, Upload] = {}
        for block in _inline(prepared.request.messages):
            source = block["source"]
            sha = self._sha(source["data"])
            if sha not in known and sha not in out:
                media = str(source.get("media_type"))
                name = names.get(sha) or f"attachment-{sha[:12]}.{media.rsplit('/', 1)[-1]}"
                out[sha] = Upload(sha, name, media, base64.b64decode(source["data"]))
        return list(out.values())

    def _uploader(self) -> Any:
        """The model's ``upload_file`` (sync or async, as the model is)."""
        return self.model.upload_file

    def _uploaded(self, upload: Upload, file_id: str) -> None:
        """Keep an upload's file id in the conversation (a store failure costs a re-upload)."""
        self._keep_file_ids({**self._file_ids(), upload.sha256: file_id})

    def _keep_file_ids(self, ids: dict[str, str]) -> None:
        conv = self._conv
        if conv is None:
            return
        try:
            self._conv = self.store.update_conversation(
                conv.id, metadata={**conv.metadata, ATTACHMENT_FILES: ids}
            )
        except ClaudeChatError as err:
            log.warning("could not keep the attachments' file ids: %s", err)
            self._conv = replace(conv, metadata={**conv.metadata, ATTACHMENT_FILES: ids})

    def _with_files(self, prepared: Prepared) -> Prepared:
        """The request with its uploaded attachments sent as file ids (as is without any)."""
        self._inline_request = None
        known = self._file_ids()
        if not self.attachments_upload or not known:
            return prepared
        request = prepared.request
        swapped = [_swap_message(m, lambda d: known.get(self._sha(d))) for m in request.messages]
        if all(x is y for x, y in zip(swapped, request.messages, strict=True)):
            return prepared
        self._inline_request = request
        betas = request.betas if FILES_BETA in request.betas else [*request.betas, FILES_BETA]
        return replace(prepared, request=replace(request, messages=swapped, betas=betas))

    def _files_gone(self, err: ModelError, prepared: Prepared) -> Prepared | None:
        """After a 404 for a request that named files: the inline request to send again
        (the conversation's file ids forgotten); None for any other error."""
        inline = self._inline_request
        if inline is None or err.status != 404 or "file" not in str(err).lower():
            return None
        log.warning("an attachment's file is gone from the Files API (%s); sending it inline", err)
        self._inline_request = None
        self._keep_file_ids({})
        return replace(prepared, request=inline)


def _listed(items: Sequence[AttachmentLike] | AttachmentLike) -> list[AttachmentLike]:
    """One attachment given alone (a path, bytes) as a list of one."""
    if isinstance(items, str | bytes | bytearray | PathLike | Attachment):
        return [items]
    return list(items)


def _names(branch: Sequence[Message]) -> dict[str, str]:
    """SHA-256 → the name a user message's attachment was given."""
    out: dict[str, str] = {}
    for m in branch:
        for a in m.metadata.get(ATTACHMENTS) or ():
            if isinstance(a, Mapping) and a.get("sha256") and a.get("name"):
                out[str(a["sha256"])] = str(a["name"])
    return out


def _inline(messages: Sequence[Mapping[str, Any]]) -> list[Block]:
    """The image and document blocks with base64 data in a request's messages."""
    out: list[Block] = []
    for m in messages:
        for b in m.get("content") or ():
            if isinstance(b, dict):
                out.extend(x for x in [b, *_inner(b)] if is_inline(x))
    return out


def _inner(block: Block) -> list[Block]:
    inner = block.get("content") if block.get("type") == "tool_result" else None
    return [x for x in inner if isinstance(x, dict)] if isinstance(inner, list) else []


def _swap_block(block: Block, file_id: Any) -> Block:
    if not is_inline(block):
        return block
    found = file_id(block["source"]["data"])
    if found is None:
        return block
    return {**block, "source": {"type": "file", "file_id": found}}


def _swap_message(message: dict[str, Any], file_id: Any) -> dict[str, Any]:
    """A request message whose uploaded attachments are file sources (itself if none)."""
    content = message.get("content")
    if not isinstance(content, list):
        return message
    out = []
    changed = False
    for b in content:
        new = b
        if isinstance(b, dict) and b.get("type") == "tool_result" and _inner(b):
            inner = [_swap_block(x, file_id) for x in b["content"]]
            if any(x is not y for x, y in zip(inner, b["content"], strict=True)):
                new = {**b, "content": inner}
        elif isinstance(b, dict):
            new = _swap_block(b, file_id)
        changed = changed or new is not b
        out.append(new)
    return {**message, "content": out} if changed else message
