"""Message threads (beta ``message-threads-2026-08-12``) as the emulator serves them.

A request with ``thread: {"type": "create"}`` is a whole request; the server then holds
the conversation (system, tools, messages and the reply) under the reply's id. A request
with ``thread: {"type": "continue", "previous_message_id": ID}`` sends only the new
messages: the emulator rebuilds the whole request from what it holds and answers it as
it would the whole request (same usage, same prompt cache), so prices are unchanged.

The rules, as the SDK's ``lib/threads`` and its error types describe them:

- ``thread`` needs the beta header; ``create`` takes no ``previous_message_id``;
- a ``continue`` leaves out ``system`` and ``tools`` (the thread keeps those it was
  created with) and must repeat the fingerprint fields (``model``, ``thinking``,
  ``tool_choice``: those whose change voids the cached messages) unchanged, else
  ``thread_fingerprint_mismatch``;
- a thread lives 5 minutes after its last use (on the emulator's clock), then
  ``thread_not_found``, as for an id the server never held;
- each reply is continued once (``thread_already_continued``), and not while another
  continue of it is still streaming (``thread_continue_in_flight``);
- ``thread_unsupported_request`` for what threads do not take: ``context_management``,
  a top-level ``cache_control``, ``fallbacks``, manual thinking (``type: "enabled"``),
  and models before the 4.5 generation.

``ThreadWork`` counts what the server had to read anew: the blocks it validated and
the input tokens of what was sent (a continue's new messages; all of a whole request).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..tokens import strip_cache_control
from ._errors import EmuAPIError, invalid
from ._models import model_facts
from ._prefix import content_blocks, request_tokens, system_blocks
from ._system_messages import without_system_messages
from ._validate import validate_request

__all__ = ["THREADS_BETA", "THREAD_TTL_SECONDS", "Incoming", "ThreadWork", "Threads"]

THREADS_BETA = "message-threads-2026-08-12"
THREAD_TTL_SECONDS = 300.0
CREATE_ONLY = ("system", "tools")
FINGERPRINT_FIELDS = ("model", "thinking", "tool_choice")
_VERSION = re.compile(r"(?<![0-9])([0-9]{1,2})(?:-([0-9]{1,2}))?(?![0-9])")


@dataclass
class ThreadWork:
    """What the emulator read anew for the requests it answered."""

    requests: int = 0
    validated_blocks: int = 0  # tools, system blocks and message blocks validated
    new_input_tokens: int = 0  # input tokens of what the requests carried

    def add(self, blocks: int, tokens: int) -> None:
        """Count one request."""
        self.requests += 1
        self.validated_blocks += blocks
        self.new_input_tokens += tokens


@dataclass
class HeldThread:
    """A conversation the server holds: its create-only fields, fingerprint, messages
    (the last reply included, without breakpoints) and the reply a continue must name."""

    created_with: dict[str, Any]
    fingerprint: dict[str, Any]
    messages: list[Any]
    head: str
    last_used: float
    in_flight: bool = False


@dataclass
class Incoming:
    """A validated request: the whole body to answer, and the thread it creates or
    continues (None without ``thread``)."""

    body: dict[str, Any]
    kind: str | None = None  # "create", "continue" or None
    held: HeldThread | None = None
    sent_messages: int = 0  # how many of body's messages the request carried


@dataclass
class Threads:
    """The threads the emulator holds, by reply id."""

    clock: Callable[[], float]
    ttl: float = THREAD_TTL_SECONDS
    by_reply: dict[str, HeldThread] = field(default_factory=dict)
    work: ThreadWork = field(default_factory=ThreadWork)

    def receive(
        self, body: dict[str, Any], headers: dict[str, str], paused: Collection[tuple[str, ...]]
    ) -> Incoming:
        """Validate a /v1/messages request (its new part only, for a continue) and return
        the whole request it stands for; EmuAPIError for a broken rule."""
        model = str(body.get("model", ""))
        thread = body.get("thread")
        if thread is None or "thread" not in body:
            validate_request(
                without_system_messages(body),
                model_facts(model),
                need_max_tokens=True,
                paused=paused,
            )
            self._count(body, body)
            return Incoming(body, sent_messages=len(body["messages"]))
        kind = _check_shape(thread, headers)
        _check_supported(body)
        whole = {k: v for k, v in body.items() if k != "thread"}
        if kind == "create":
            validate_request(
                without_system_messages(whole),
                model_facts(model),
                need_max_tokens=True,
                paused=paused,
            )
            self._count(whole, whole)
            return Incoming(whole, "create", sent_messages=len(whole["messages"]))
        held = self._continued(str(thread["previous_message_id"]), body)
        delta = body.get("messages")
        if not isinstance(delta, list):
            raise invalid("messages: Input should be a valid list")
        # The new messages are checked after the held turn they follow (tool results
        # answer its tool calls; an empty `messages` resumes a paused reply).
        boundary = {**whole, "messages": [*held.messages[_last_user(held.messages) :], *delta]}
        validate_request(
            without_system_messages(boundary),
            model_facts(model),
            need_max_tokens=True,
            paused=paused,
        )
        self._count(boundary, {"model": model, "messages": delta})
        whole.update({k: v for k, v in held.created_with.items() if v is not None})
        whole["messages"] = [*held.messages, *delta]
        return Incoming(whole, "continue", held, sent_messages=len(delta))

    def _count(self, validated: dict[str, Any], sent: dict[str, Any]) -> None:
        blocks = len(validated.get("tools") or []) + len(system_blocks(validated.get("system")))
        blocks += sum(len(content_blocks(m.get("content"))) for m in validated["messages"])
        self.work.add(blocks, request_tokens(sent, str(sent.get("model", ""))))

    def _continued(self, previous_id: str, body: dict[str, Any]) -> HeldThread:
        """The thread a continue names, if the request may continue it now."""
        now = self.clock()
        held = self.by_reply.get(previous_id)
        if held is not None and now - held.last_used > self.ttl:
            self._forget(held)
            held = None
        if held is None:
            raise _thread_error(
                404, "thread_not_found", f"No usable thread state for {previous_id}."
            )
        if held.head != previous_id:
            raise _thread_error(
                400,
                "thread_already_continued",
                f"{previous_id} was already continued; continue from {held.head}.",
            )
        if held.in_flight:
            raise _thread_error(
                400,
                "thread_continue_in_flight",
                f"Another request is still continuing from {previous_id}.",
            )
        for name in CREATE_ONLY:
            if name in body:
                raise invalid(
                    f"{name}: not allowed with thread.type 'continue': the thread keeps the "
                    f"{name} it was created with"
                )
        changed = [f for f in FINGERPRINT_FIELDS if body.get(f) != held.fingerprint.get(f)]
        if changed:
            raise _thread_error(
                400,
                "thread_fingerprint_mismatch",
                f"{', '.join(changed)} differ from the values stored with the thread.",
            )
        return held

    def _forget(self, held: HeldThread) -> None:
        for reply_id in [k for k, v in self.by_reply.items() if v is held]:
            del self.by_reply[reply_id]

    def answered(
        self, incoming: Incoming, message: dict[str, Any], *, streaming: bool
    ) -> Callable[[Iterator[bytes]], Iterator[bytes]]:
        """Hold the reply of a threaded request; a streamed one is in flight until its
        last event is sent (a stream cut before then leaves the thread where it was).
        Returns what wraps the stream's frames."""
        if incoming.kind is None:
            return _unchanged
        reply = {"role": "assistant", "content": message["content"]}
        messages = [*strip_cache_control(incoming.body["messages"]), reply]
        if incoming.held is not None:
            held = incoming.held
            held.last_used = self.clock()
        else:
            created = {k: incoming.body.get(k) for k in CREATE_ONLY}
            fingerprint = {k: incoming.body.get(k) for k in FINGERPRINT_FIELDS}
            held = HeldThread(created, fingerprint, [], "", self.clock())
        if not streaming:
            self._advance(held, messages, message["id"])
            return _unchanged
        held.in_flight = incoming.held is not None

        def frames(events: Iterator[bytes]) -> Iterator[bytes]:
            try:
                yield from events
            finally:
                held.in_flight = False
            self._advance(held, messages, message["id"])

        return frames

    def _advance(self, held: HeldThread, messages: list[Any], reply_id: str) -> None:
        held.messages = messages
        held.head = reply_id
        held.last_used = self.clock()
        self.by_reply[reply_id] = held

    def forget_all(self) -> None:
        """Drop every thread (the server may lose one at any time)."""
        self.by_reply.clear()


def _last_user(messages: list[Any]) -> int:
    """Where the last turn starts: its user message that answers no tool call."""
    return max(
        (
            i
            for i, m in enumerate(messages)
            if m.get("role") == "user"
            and not any(b.get("type") == "tool_result" for b in content_blocks(m.get("content")))
        ),
        default=0,
    )


def _unchanged(events: Iterator[bytes]) -> Iterator[bytes]:
    return events


def _check_shape(thread: Any, headers: dict[str, str]) -> str:
    """The thread's type, after the checks of its shape and of the beta header."""
    betas = [b.strip() for b in headers.get("anthropic-beta", "").split(",")]
    if THREADS_BETA not in betas:
        raise invalid(f"thread: requires the anthropic-beta header {THREADS_BETA}")
    if not isinstance(thread, dict) or thread.get("type") not in ("create", "continue"):
        raise invalid("thread.type: Input should be 'create' or 'continue'")
    if thread["type"] == "create":
        if "previous_message_id" in thread:
            raise invalid("thread.create.previous_message_id: Extra inputs are not permitted")
        return "create"
    previous = thread.get("previous_message_id")
    if not isinstance(previous, str) or not previous:
        raise invalid("thread.continue.previous_message_id: Field required")
    return "continue"


def _check_supported(body: dict[str, Any]) -> None:
    """thread_unsupported_request for a request field or model threads do not take."""
    unsupported = [
        name
        for name in ("context_management", "cache_control", "fallbacks")
        if body.get(name) is not None
    ]
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        unsupported.append("thinking")
    if unsupported:
        raise _thread_error(
            400,
            "thread_unsupported_request",
            f"Threads do not support {', '.join(unsupported)}; send the whole conversation "
            "without `thread`.",
            unsupported=unsupported,
        )
    if not supports_threads(str(body.get("model", ""))):
        raise _thread_error(
            400,
            "thread_unsupported_request",
            f"{body.get('model')} does not support message threads.",
        )


def supports_threads(model: str) -> bool:
    """Whether a model takes threads: the 4.5 generation and later."""
    match = _VERSION.search(model.removeprefix("claude-"))
    if match is None:
        return False
    version = (int(match.group(1)), int(match.group(2) or 0))
    return version >= (4, 5)


def _thread_error(status: int, code: str, message: str, **details: Any) -> EmuAPIError:
    return EmuAPIError(status, message, details={"error_code": code, **details})
