"""The API as a journey test sees it: the emulator, observed at its HTTP edge.

Every ``/v1/messages`` request is kept as an ``Answer``: its body, its status, and what of
the reply reached the client (usage, text, whether it ended), so a test can compare what
the API billed and said with what claudechat stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from claudechat.context.summary import SUMMARY_SYSTEM
from claudechat.testing import Emulator, EmuResponse

BILLED = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


@dataclass
class Answer:
    """One messages request and what of its reply reached the client."""

    number: int
    body: dict[str, Any] | None
    status: int
    usage: dict[str, int] | None = None  # the newest usage figures that arrived
    text: str = ""  # reply text that arrived
    complete: bool = False  # message_stop (or the whole JSON body) arrived
    conversation: str | None = None  # set by the journey: whose turn this was

    @property
    def is_summary(self) -> bool:
        """A summary request (made by the rolling summary, not by a user's turn)."""
        system = (self.body or {}).get("system") or []
        return any(str(b.get("text", "")).startswith(SUMMARY_SYSTEM[:40]) for b in system)

    @property
    def last_user_text(self) -> str | None:
        """The text of the last text block of the request's last user message."""
        messages = (self.body or {}).get("messages") or []
        users = [m for m in messages if m["role"] == "user"]
        if not users:
            return None
        texts = [b["text"] for b in users[-1]["content"] if b.get("type") == "text"]
        return texts[-1] if texts else None

    def user_texts(self) -> list[str]:
        """The text of every user text block the request carried."""
        messages = (self.body or {}).get("messages") or []
        return [
            b["text"]
            for m in messages
            if m["role"] == "user"
            for b in m["content"]
            if b.get("type") == "text"
        ]

    def billed(self) -> tuple[int, ...]:
        """(input, output, cache write, cache read, requests) of what arrived."""
        if self.usage is None:
            return (0, 0, 0, 0, 0)
        return (*(self.usage.get(k, 0) for k in BILLED), 1)

    def take(self, event: str, data: dict[str, Any]) -> None:
        """Fold one server-sent event into what arrived."""
        if event == "message_start":
            self.usage = _figures(data["message"].get("usage") or {})
        elif event == "content_block_delta" and data["delta"].get("type") == "text_delta":
            self.text += data["delta"]["text"]
        elif event == "message_delta" and self.usage is not None:
            self.usage = {**self.usage, **_figures(data.get("usage") or {})}
        elif event == "message_stop":
            self.complete = True

    def take_message(self, message: dict[str, Any]) -> None:
        """Fold a whole (non-streamed) message."""
        self.usage = _figures(message.get("usage") or {})
        self.text = "".join(b.get("text", "") for b in message["content"] if b["type"] == "text")
        self.complete = True


def _figures(usage: dict[str, Any]) -> dict[str, int]:
    return {k: int(usage[k]) for k in BILLED if isinstance(usage.get(k), int)}


class ObservedEmulator(Emulator):
    """The emulator, keeping an ``Answer`` for every messages request it gets and a line
    for every request it rejects as invalid."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.answers: list[Answer] = []
        self.rejected: list[str] = []  # every request answered 400, on any endpoint

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> EmuResponse:
        """Answer as the emulator does; watch what of a messages reply leaves."""
        response = super().handle(method, path, headers, body)
        record = self.requests[-1]
        if response.status == 400 and isinstance(response.body, bytes):
            error = json.loads(response.body).get("error", {}).get("message")
            self.rejected.append(f"request {record.number} to {record.path}: {error}")
        if method.upper() != "POST" or urlsplit(path).path.rstrip("/") != "/v1/messages":
            return response
        try:
            parsed = record.body if record.body is not None else json.loads(record.raw)
        except ValueError:
            parsed = None
        answer = Answer(record.number, parsed, response.status)
        self.answers.append(answer)
        if response.status == 200:
            response.body = _watched(answer, response.body)
        return response

    def withdraw_faults(self) -> None:
        """Forget faults queued for requests that were never made."""
        with self._lock:
            self._faults.clear()
            self._keyed_faults.clear()


def _watched(answer: Answer, body: bytes | Iterator[bytes]) -> bytes | Iterator[bytes]:
    if isinstance(body, bytes):
        _take_body(answer, body)
        return body

    def chunks() -> Iterator[bytes]:
        buffer = b""
        seen = b""
        for chunk in body:  # a dropped connection raises here, after what was sent
            seen += chunk
            buffer += chunk
            while b"\n\n" in buffer:
                raw, buffer = buffer.split(b"\n\n", 1)
                _take_frame(answer, raw)
            yield chunk
        if not seen.startswith(b"event:"):
            _take_body(answer, seen)

    return chunks()


def _take_frame(answer: Answer, raw: bytes) -> None:
    event, data = "", ""
    for line in raw.decode().splitlines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
    if event and data:
        answer.take(event, json.loads(data))


def _take_body(answer: Answer, raw: bytes) -> None:
    try:
        message = json.loads(raw)
    except ValueError:
        return  # garbage or a cut body: nothing usable arrived
    if isinstance(message, dict) and message.get("type") == "message":
        answer.take_message(message)
