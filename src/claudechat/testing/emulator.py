"""The emulator: one transport-independent handler for the Messages API endpoints."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from . import _context
from ._cache import PromptCache, breakpoints
from ._catalog import model_object, model_page
from ._diagnostics import RequestFingerprint, diagnose
from ._errors import EmuAPIError, invalid
from ._faults import ConnectionDropped, Fault
from ._files import MAX_REQUEST_BYTES, EmuFiles, check_media, file_response
from ._models import model_facts
from ._prefix import PrefixUnit, flatten_request
from ._reply import (
    EmuReply,
    EmuRequest,
    FinalReply,
    ReplyFunction,
    ReplyResult,
    default_reply,
    finalize,
    normalize,
)
from ._sse import frame, message_events
from ._system_messages import check_system_messages, without_system_messages
from ._threads import Threads
from ._tokens import count_tokens_text
from ._transport import EmulatorTransport, EmuResponse
from ._validate import paused_key, validate_request

if TYPE_CHECKING:
    import httpx2

_MODEL_PATH = re.compile(r"^/v1/models/([^/]+)$")


@dataclass
class RecordedRequest:
    """One request the emulator received, for assertions in tests."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    body: Any = None
    number: int = 0
    query_string: str = ""  # the raw query (repeated keys such as lifecycle[] kept)


@dataclass
class _Prepared:
    """A messages request after context management, counted and cached."""

    body: dict[str, Any]
    tokens: int
    usage: dict[str, Any]
    cached_tokens: int
    compaction: dict[str, Any] | None = None
    applied_edits: list[dict[str, Any]] = field(default_factory=list)


class Emulator:
    """A deterministic, offline stand-in for the Anthropic Messages API.

    Options: `script` (replies consumed in order), `reply` (a function of EmuRequest),
    `api_key` (required key), `context_window` (overrides every model), `clock` (seconds),
    `keep_requests` / `keep_bytes`: how many recorded requests, and how many body bytes,
    `requests` keeps (the newest; None: all, the default for tests).
    """

    def __init__(
        self,
        *,
        script: Iterable[ReplyResult] | None = None,
        reply: ReplyFunction | None = None,
        api_key: str | None = None,
        context_window: int | None = None,
        clock: Callable[[], float] | None = None,
        allow_low_compaction_trigger: bool = True,
        keep_requests: int | None = None,
        keep_bytes: int | None = None,
    ) -> None:
        self.script: deque[ReplyResult] = deque(script or [])
        self.reply_function = reply
        self.api_key = api_key
        self.context_window = context_window
        self.clock = clock or time.monotonic
        self.allow_low_compaction_trigger = allow_low_compaction_trigger
        self.requests: list[RecordedRequest] = []
        self.keep_requests = keep_requests
        self.keep_bytes = keep_bytes
        self._received = 0
        self._kept_bytes = 0
        self.cache = PromptCache()
        self._faults: deque[Fault] = deque()
        self._keyed_faults: dict[int, Fault] = {}
        self._history: dict[str, RequestFingerprint] = {}
        self._replies = 0
        self._tool_ids = 0
        self._paused: set[tuple[str, ...]] = set()  # replies that stopped mid-turn
        self.threads = Threads(lambda: self.clock())  # message threads the server holds
        self.files = EmuFiles(self.clock)  # the Files API's uploads
        self._lock = threading.RLock()

    # ----- configuration -------------------------------------------------------------

    def inject(self, fault: Fault, *, at_request: int | None = None) -> None:
        """Queue `fault` for the next request, or for request number `at_request` (1-based)."""
        with self._lock:
            if at_request is None:
                self._faults.append(fault)
            else:
                self._keyed_faults[at_request] = fault

    def clear_faults(self) -> None:
        """Forget the faults queued for requests that were never made (a turn refused
        locally, or one that ended before its summary request)."""
        with self._lock:
            self._faults.clear()
            self._keyed_faults.clear()

    def count_request_tokens(self, body: dict[str, Any]) -> int:
        """Total input tokens of a request body, as usage and count_tokens report them."""
        model = str(body.get("model", ""))
        messages = _context.after_last_compaction(list(body.get("messages") or []))
        return sum(u.tokens for u in flatten_request({**body, "messages": messages}, model))

    # ----- client plumbing -----------------------------------------------------------

    def transport(self) -> EmulatorTransport:
        """An httpx2 transport (sync and async) that answers from this emulator."""
        return EmulatorTransport(self.handle)

    def http_client(self, **kwargs: Any) -> httpx2.Client:
        """An `httpx2.Client` for `anthropic.Anthropic(http_client=...)`."""
        import httpx2

        return httpx2.Client(transport=self.transport(), **kwargs)

    def async_http_client(self, **kwargs: Any) -> httpx2.AsyncClient:
        """An `httpx2.AsyncClient` for `anthropic.AsyncAnthropic(http_client=...)`."""
        import httpx2

        return httpx2.AsyncClient(transport=self.transport(), **kwargs)

    # ----- the handler ---------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> EmuResponse:
        """Answer one HTTP request; `path` may carry a query string."""
        with self._lock:
            return self._handle(method, path, {k.lower(): v for k, v in headers.items()}, body)

    def _handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> EmuResponse:
        split = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        record = RecordedRequest(method.upper(), split.path, query, headers, raw,
                                 query_string=split.query)  # fmt: skip
        self._received += 1
        record.number = self._received
        self._keep(record)
        request_id = f"req_emu_{record.number:012d}"
        fault = self._keyed_faults.pop(record.number, None)
        if fault is None and self._faults:
            fault = self._faults.popleft()
        try:
            if fault is not None and fault.kind == "status":
                raise fault.error()
            if fault is not None and fault.kind == "garbage":
                return EmuResponse(
                    200,
                    self._headers(request_id, "application/json"),
                    b"<html>502 Bad Gateway</html> not json",
                )
            if self.api_key is not None and _api_key(headers) != self.api_key:
                raise EmuAPIError(401, "invalid x-api-key")
            response = self._route(record, request_id)
        except RecursionError:
            error = invalid("Request body is nested too deeply")
            head = self._headers(request_id, "application/json")
            return EmuResponse(error.status, head, json.dumps(error.body(request_id)).encode())
        except EmuAPIError as error:
            head = {**self._headers(request_id, "application/json"), **error.headers}
            return EmuResponse(error.status, head, json.dumps(error.body(request_id)).encode())
        if fault is not None:
            response.body = _faulty_body(response, fault, request_id)
        return response

    def _keep(self, record: RecordedRequest) -> None:
        """Record a request, forgetting the oldest ones (and their fingerprints) over the caps."""
        self.requests.append(record)
        self._kept_bytes += len(record.raw)
        while len(self.requests) > 1 and (
            (self.keep_requests is not None and len(self.requests) > self.keep_requests)
            or (self.keep_bytes is not None and self._kept_bytes > self.keep_bytes)
        ):
            old = self.requests.pop(0)
            self._kept_bytes -= len(old.raw)
            self._history.pop(_message_id(old.number), None)

    def _headers(self, request_id: str, content_type: str) -> dict[str, str]:
        return {"request-id": request_id, "content-type": content_type}

    def _route(self, record: RecordedRequest, request_id: str) -> EmuResponse:
        path = record.path.rstrip("/")
        beta = record.query.get("beta") == "true" or "anthropic-beta" in record.headers
        model_match = _MODEL_PATH.match(path)
        if record.method == "GET" and model_match:
            return self._json(request_id, model_object(model_match.group(1), self.context_window))
        if record.method == "GET" and path == "/v1/models":
            return self._json(request_id, model_page(record.query_string, self.context_window))
        if record.method == "POST" and path in ("/v1/messages", "/v1/messages/count_tokens"):
            if len(record.raw) > MAX_REQUEST_BYTES:
                raise EmuAPIError(413)
            try:
                body = json.loads(record.raw or b"null")
            except ValueError as error:
                raise invalid("There was an error parsing the body of your request") from error
            if not isinstance(body, dict):
                raise invalid("Request body must be a JSON object")
            record.body = body
            body = self.files.resolve(body)  # file sources stand for their files' bytes
            check_system_messages(body, _betas(record.headers))
            if path.endswith("count_tokens"):
                return self._json(request_id, self._count_tokens(body, beta))
            return self._messages(record, body, request_id, beta)
        if path == "/v1/files" or path.startswith("/v1/files/"):
            answer = self.files.route(record.method, path, record.headers, record.raw)
            return file_response(answer, request_id)
        raise EmuAPIError(404, f"Not found: {record.method} {record.path}")

    def _json(self, request_id: str, data: dict[str, Any]) -> EmuResponse:
        return EmuResponse(
            200,
            self._headers(request_id, "application/json"),
            json.dumps(data, ensure_ascii=False).encode(),
        )

    # ----- /v1/messages/count_tokens ------------------------------------------------

    def _count_tokens(self, body: dict[str, Any], beta: bool) -> dict[str, Any]:
        checked = without_system_messages(body)
        validate_request(checked, model_facts(str(body.get("model", ""))), need_max_tokens=False)
        check_media(body)
        original = self.count_request_tokens(body)
        read = _context.after_last_compaction(list(body.get("messages") or []))
        prepared_messages = self._edited_messages(body, read, original)[0]
        total = self.count_request_tokens({**body, "messages": prepared_messages})
        result: dict[str, Any] = {"input_tokens": total}
        if beta and "context_management" in body:
            result["context_management"] = {"original_input_tokens": original}
        return result

    # ----- /v1/messages ---------------------------------------------------------------

    def _edited_messages(
        self, body: dict[str, Any], messages: list[Any], tokens: int
    ) -> tuple[list[Any], list[dict[str, Any]]]:
        applied: list[dict[str, Any]] = []
        for edit in _context.edits_of(body):
            if edit.get("type") == _context.CLEAR_TOOL_USES_EDIT:
                messages, done = _context.clear_tool_uses(
                    messages,
                    edit,
                    tokens,
                    lambda m: self.count_request_tokens({**body, "messages": m}),
                )
                if done is not None:
                    applied.append(done)
                    tokens = self.count_request_tokens({**body, "messages": messages})
        return messages, applied

    def _cache_usage(
        self, body: dict[str, Any], model: str, now: float, units: list[PrefixUnit] | None = None
    ) -> tuple[dict[str, Any], int]:
        """The cache's usage of a request (``units``: its flattened body, when already made)."""
        units = flatten_request(body, model) if units is None else units
        automatic = (
            body.get("cache_control") if isinstance(body.get("cache_control"), dict) else None
        )
        points = breakpoints(units, automatic)
        outcome = self.cache.apply(units, points, model_facts(model).cache_minimum, now=now)
        return (
            outcome.usage(),
            outcome.cache_read_input_tokens + outcome.cache_creation_input_tokens,
        )

    def _prepare(self, body: dict[str, Any], now: float) -> _Prepared:
        model = str(body["model"])
        facts = model_facts(model)
        read = _context.after_last_compaction(list(body["messages"]))
        units = flatten_request({**body, "messages": read}, model)  # once, for the tokens
        tokens = sum(u.tokens for u in units)  # and the cache, unless an edit changes them
        messages, applied = self._edited_messages(body, read, tokens)
        effective = {**body, "messages": messages}
        if messages is not read:
            units = flatten_request(effective, model)
            tokens = sum(u.tokens for u in units)
        window = self.context_window or facts.context_window
        if tokens > window:
            raise invalid(f"prompt is too long: {tokens} tokens > {window} maximum")
        compact = next(
            (
                (i, e)
                for i, e in enumerate(_context.edits_of(body))
                if e.get("type") == _context.COMPACT_EDIT
            ),
            None,
        )
        if compact is not None:
            trigger = _context.compaction_trigger(
                compact[1], compact[0], allow_low=self.allow_low_compaction_trigger
            )
            if tokens > trigger:
                summary = _context.summarize(messages, tokens, compact[1].get("instructions"))
                block = {"type": "compaction", "content": summary}
                after = {**body, "messages": [{"role": "assistant", "content": [block]}]}
                after_tokens = self.count_request_tokens(after)
                usage, cached = self._cache_usage(after, model, now)
                compaction_iteration = {
                    "type": "compaction",
                    "input_tokens": tokens,
                    "output_tokens": count_tokens_text(summary, model),
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                }
                usage["iterations"] = [compaction_iteration]
                return _Prepared(after, after_tokens, usage, cached, block, applied)
        usage, cached = self._cache_usage(effective, model, now, units)
        if compact is not None:
            usage["iterations"] = []
        return _Prepared(effective, tokens, usage, cached, None, applied)

    def _next_tool_id(self) -> str:
        self._tool_ids += 1
        return f"toolu_emu_{self._tool_ids:014d}"

    def _reply(self, request: EmuRequest) -> FinalReply:
        self._replies += 1
        result: ReplyResult
        if self.script:
            result = self.script.popleft()
        elif self.reply_function is not None:
            result = self.reply_function(request)
        else:
            result = default_reply(request, self._replies)
        blocks, stop_reason = normalize(result, self._next_tool_id)
        return finalize(
            blocks,
            stop_reason,
            max_tokens=int(request.body["max_tokens"]),
            stop_sequences=list(request.body.get("stop_sequences") or []),
            model=request.model,
        )

    def _messages(
        self, record: RecordedRequest, body: dict[str, Any], request_id: str, beta: bool
    ) -> EmuResponse:
        model = str(body.get("model", ""))
        incoming = self.threads.receive(body, record.headers, self._paused)  # validates it
        body = incoming.body
        check_media(body)
        prepared = self._prepare(body, self.clock())
        request = EmuRequest(body, record.number, prepared.tokens, record.path, record.headers)
        final = self._reply(request)
        message_id = _message_id(record.number)
        usage = _message_usage(prepared.usage, final.output_tokens, model)
        content, stop_reason = _with_compaction(body, prepared.compaction, final)
        if stop_reason in ("pause_turn", "compaction"):
            self._paused.add(paused_key(content))
        message: dict[str, Any] = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": final.stop_sequence,
            "usage": usage,
        }
        if "context_management" in body:
            message["context_management"] = {"applied_edits": prepared.applied_edits}
        if isinstance(body.get("diagnostics"), dict):  # only these leave a fingerprint
            fingerprint = RequestFingerprint.of(body, prepared.cached_tokens)
            message["diagnostics"] = self._diagnostics(body["diagnostics"], fingerprint, usage)
            self._history[message_id] = fingerprint
        held = self.threads.answered(incoming, message, streaming=bool(body.get("stream")))
        if body.get("stream"):
            events = message_events(message)
            return EmuResponse(
                200,
                self._headers(request_id, "text/event-stream; charset=utf-8"),
                held(iter([frame(name, data) for name, data in events])),
            )
        return self._json(request_id, message)

    def _diagnostics(
        self, diagnostics: dict[str, Any], fingerprint: RequestFingerprint, usage: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Why the cache missed against the message the request names, if it did."""
        previous_id = diagnostics.get("previous_message_id")
        if previous_id is None:
            return None
        reason = diagnose(
            self._history.get(str(previous_id)), fingerprint, int(usage["cache_read_input_tokens"])
        )
        return None if reason is None else {"cache_miss_reason": reason}


def _message_usage(usage: dict[str, Any], output_tokens: int, model: str) -> dict[str, Any]:
    """The usage of a reply: the request's, its output, and (after a server compaction)
    the message's own iteration after the compaction's."""
    usage = {**usage, "output_tokens": output_tokens, "service_tier": "standard"}
    if "iterations" in usage:
        usage["iterations"] = [
            *usage["iterations"],
            {
                "type": "message",
                "model": model,
                "input_tokens": usage["input_tokens"],
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                "cache_read_input_tokens": usage["cache_read_input_tokens"],
            },
        ]
    return usage


def _with_compaction(
    body: dict[str, Any], compaction: dict[str, Any] | None, final: FinalReply
) -> tuple[list[dict[str, Any]], str | None]:
    """The reply's content and stop reason, led by the compaction block when the server
    compacted (and only that block when the edit asks to pause after compacting)."""
    content = list(final.content)
    stop_reason = final.stop_reason
    if compaction is not None:
        edit = next(e for e in _context.edits_of(body) if e.get("type") == _context.COMPACT_EDIT)
        if edit.get("pause_after_compaction"):
            content, stop_reason = [], "compaction"
        content.insert(0, compaction)
    return content, stop_reason


def _message_id(number: int) -> str:
    """The id of the message answering request number `number`."""
    return f"msg_emu_{number:012d}"


def _betas(headers: dict[str, str]) -> set[str]:
    """The betas a request names in its `anthropic-beta` header."""
    return {b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()}


def _api_key(headers: dict[str, str]) -> str | None:
    """The key a request presents: `x-api-key`, or an `authorization: Bearer` token."""
    if "x-api-key" in headers:
        return headers["x-api-key"]
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" else None


def _faulty_body(response: EmuResponse, fault: Fault, request_id: str) -> Iterator[bytes]:
    """The response body with a mid-stream error or a dropped connection after K chunks."""
    chunks: list[bytes]
    if isinstance(response.body, bytes):
        body = response.body
        half = max(1, len(body) // 2)
        chunks = [body[:half], body[half:]]
    else:
        chunks = list(response.body)

    def generate() -> Iterator[bytes]:
        for index, chunk in enumerate(chunks):
            if index == fault.after_events:
                if fault.kind == "drop":
                    raise ConnectionDropped("peer closed connection without sending complete body")
                if fault.kind == "midstream_error":
                    yield frame("error", fault.error().body(request_id))
                    return
            yield chunk
        if fault.kind == "drop":
            raise ConnectionDropped("peer closed connection without sending complete body")
        if fault.kind == "midstream_error":
            yield frame("error", fault.error().body(request_id))

    return generate()


__all__ = ["EmuReply", "EmuRequest", "EmuResponse", "Emulator", "RecordedRequest"]
