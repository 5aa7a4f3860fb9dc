"""Message threads: send only what the server does not hold yet; replay it all when it
has lost it.

With threads on (``Chat(threads=True)``), the server holds the conversation for 5 minutes
after each reply (beta ``message-threads-2026-08-12``), so a turn can send only its new
messages plus the previous reply's id. The thread is best-effort; the chat's store is the
durable copy, and the context engine still builds the whole request every turn. That
whole request decides what goes out:

- ``continue`` when the server holds exactly its beginning: the same system prompt,
  tools, model and settings (the fingerprint), the same messages up to the last reply
  (breakpoints aside), and the thread has not expired on our clock. Only the new
  messages are sent; ``system`` and ``tools`` are left out (the thread keeps them);
- ``create`` (the whole request, starting a new thread) otherwise: a trim, a summary
  fold or a system change moved the prefix, or there is no thread yet;
- a continue the server refuses (``thread_not_found``, ``thread_already_continued``,
  ``thread_continue_in_flight``, ``thread_fingerprint_mismatch``) is replayed at once
  as a ``create``; a ``thread_unsupported_request`` is replayed without a thread, and
  requests with that fingerprint go without one from then on. The user sees nothing;
  an INFO line on the ``claudechat`` logger says why.

What the server holds is kept in the conversation's metadata (``THREAD``): the last
reply's id, the fingerprint, a digest of the held messages, their number and when the
thread was last used, so a new process continues a thread that is still alive.
``ThreadKeeper`` makes the decisions and sends nothing; ``ThreadedModel`` and
``AsyncThreadedModel`` are the two thin loops around a model that send.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

from ..errors import ModelError
from ..models.base import AsyncModel, Done, Model, ModelResponse, Request, StreamEvent
from ..tokens import strip_cache_control

__all__ = [
    "MESSAGE_THREADS_BETA",
    "THREAD_TTL_SECONDS",
    "AsyncThreadedModel",
    "Outgoing",
    "ThreadKeeper",
    "ThreadMark",
    "ThreadedModel",
    "Threads",
    "supports_threads",
]

log = logging.getLogger("claudechat")

MESSAGE_THREADS_BETA = "message-threads-2026-08-12"
THREAD_TTL_SECONDS = 300.0  # the server drops a thread 5 minutes after its last use
EXPIRY_MARGIN_SECONDS = 10.0  # a thread this close to expiring is not continued
REPLAY_CODES = frozenset(
    {
        "thread_not_found",
        "thread_already_continued",
        "thread_continue_in_flight",
        "thread_fingerprint_mismatch",
    }
)
UNSUPPORTED_CODE = "thread_unsupported_request"
_VERSION = re.compile(r"(?<![0-9])([0-9]{1,2})(?:-([0-9]{1,2}))?(?![0-9])")

ThreadKind = Literal["create", "continue", "off"]


@dataclass(frozen=True, slots=True)
class Threads:
    """Thread options: ``clock`` (seconds; wall time by default, since a thread's last use
    is kept across processes) and the server's ``ttl``."""

    clock: Callable[[], float] = time.time
    ttl: float = THREAD_TTL_SECONDS


@dataclass(frozen=True, slots=True)
class ThreadMark:
    """What the server holds of this conversation, as kept in its metadata."""

    reply_id: str  # the API id of the last reply: the next continue names it
    fingerprint: str  # digest of model, system, tools and the settings a continue repeats
    prefix: str  # digest of the held messages (the last reply included), breakpoints aside
    messages: int  # how many messages the server holds
    used_at: float  # when the thread was last used, on the Threads clock

    def to_metadata(self) -> dict[str, Any]:
        """The mark as a JSON-ready dict."""
        return {
            "reply_id": self.reply_id,
            "fingerprint": self.fingerprint,
            "prefix": self.prefix,
            "messages": self.messages,
            "used_at": self.used_at,
        }

    @classmethod
    def from_metadata(cls, value: object) -> ThreadMark | None:
        """The mark stored in metadata, or None for none (or one this version cannot read)."""
        if not isinstance(value, Mapping):
            return None
        try:
            return cls(
                str(value["reply_id"]),
                str(value["fingerprint"]),
                str(value["prefix"]),
                int(value["messages"]),
                float(value["used_at"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One request as it goes out (``request``), the whole request it stands for
    (``full``: what a chat without threads sends) and how it uses the thread."""

    request: Request
    full: Request
    kind: ThreadKind
    fingerprint: str


def supports_threads(model: str) -> bool:
    """Whether a model takes message threads: the 4.5 generation and later."""
    match = _VERSION.search(model.removeprefix("claude-"))
    if match is None:
        return False
    return (int(match.group(1)), int(match.group(2) or 0)) >= (4, 5)


class ThreadKeeper:
    """The thread decisions of one chat: what each request sends, when to replay, and the
    mark kept after each reply. ``load`` reads the conversation's mark, ``save`` keeps one."""

    def __init__(
        self,
        options: Threads,
        *,
        load: Callable[[], ThreadMark | None],
        save: Callable[[ThreadMark], None],
    ) -> None:
        self.options = options
        self._load = load
        self._save = save
        self._unthreaded: set[str] = set()  # fingerprints the server cannot thread

    def plan(self, request: Request) -> Outgoing:
        """The request to send for the whole ``request``: a continue when the server holds
        its beginning, else a create (or no thread at all when threads cannot serve it)."""
        fingerprint = _fingerprint(request)
        if fingerprint in self._unthreaded or not supports_threads(request.model):
            return Outgoing(request, request, "off", fingerprint)
        mark = self._load()
        reason = self._why_not_continue(mark, request, fingerprint)
        if mark is None or reason is not None:
            if mark is not None:
                log.info("starting a new message thread: %s", reason)
            return Outgoing(_create(request), request, "create", fingerprint)
        delta = request.messages[mark.messages :]
        thread = {"type": "continue", "previous_message_id": mark.reply_id}
        sent = replace(
            request,
            messages=delta,
            system=[],
            tools=[],
            betas=_with_beta(request.betas),
            extra={**request.extra, "thread": thread},
        )
        return Outgoing(sent, request, "continue", fingerprint)

    def _why_not_continue(
        self, mark: ThreadMark | None, request: Request, fingerprint: str
    ) -> str | None:
        """Why the server's thread cannot carry ``request`` (None when it can)."""
        if mark is None:
            return "no thread yet"
        if mark.fingerprint != fingerprint:
            return "the model, system prompt, tools or settings changed"
        idle = self.options.clock() - mark.used_at
        if idle >= self.options.ttl - EXPIRY_MARGIN_SECONDS:
            return f"the thread expired ({idle:.0f}s since its last use)"
        held = request.messages[: mark.messages]
        if len(held) < mark.messages or _digest(held) != mark.prefix:
            return "the context changed the messages the thread holds"
        if len(request.messages) == mark.messages:
            return "nothing new to continue with"
        return None

    def replay(self, sent: Outgoing, err: ModelError) -> Outgoing | None:
        """The whole request to send again after ``err``, or None when ``err`` is not a
        thread error a replay recovers from."""
        code = err.error_code
        if sent.kind == "continue" and code in REPLAY_CODES:
            log.info(
                "replaying the whole conversation in a new message thread: %s (%s)",
                code,
                err.args[0] if err.args else "",
            )
            return Outgoing(_create(sent.full), sent.full, "create", sent.fingerprint)
        if sent.kind != "off" and code == UNSUPPORTED_CODE:
            log.info(
                "the server cannot thread this request; sending it whole: %s",
                err.args[0] if err.args else "",
            )
            self._unthreaded.add(sent.fingerprint)
            return Outgoing(sent.full, sent.full, "off", sent.fingerprint)
        return None

    def record(self, sent: Outgoing, response: ModelResponse) -> None:
        """Keep what the server holds after ``response`` (a threaded request's reply)."""
        if sent.kind == "off" or response.id is None:
            return
        if response.stop_reason == "refusal":  # the server may hold it or not: start anew
            return
        held = [*sent.full.messages, {"role": "assistant", "content": response.content}]
        self._save(
            ThreadMark(
                response.id, sent.fingerprint, _digest(held), len(held), self.options.clock()
            )
        )

    def wrap(self, model: Model | AsyncModel, *, asynchronous: bool) -> Any:
        """``model`` sending through this keeper (``AsyncThreadedModel`` for an async one)."""
        if asynchronous:
            return AsyncThreadedModel(cast(AsyncModel, model), self)
        return ThreadedModel(cast(Model, model), self)


class ThreadedModel:
    """A Model whose replies go through message threads (see the module docstring)."""

    def __init__(self, model: Model, keeper: ThreadKeeper) -> None:
        self.model = model
        self.keeper = keeper
        self.name = model.name

    def create(self, request: Request) -> ModelResponse:
        """Send the request, continuing the thread when it can; replay once if refused."""
        sent = self.keeper.plan(request)
        try:
            response = self.model.create(sent.request)
        except ModelError as err:
            again = self.keeper.replay(sent, err)
            if again is None:
                raise
            sent, response = again, self.model.create(again.request)
        self.keeper.record(sent, response)
        return response

    def stream(self, request: Request) -> Iterator[StreamEvent]:
        """``create``, streamed: a refusal arrives before any event, so a replay shows
        nothing twice."""
        sent = self.keeper.plan(request)
        started = False
        try:
            for event in self.model.stream(sent.request):
                started = True
                yield _seen(self.keeper, sent, event)
            return
        except ModelError as err:
            again = None if started else self.keeper.replay(sent, err)
            if again is None:
                raise
        for event in self.model.stream(again.request):
            yield _seen(self.keeper, again, event)

    def count_tokens(self, request: Request) -> int:
        """The model's own count (threads do not change what a request holds)."""
        return self.model.count_tokens(request)


class AsyncThreadedModel:
    """The async twin of ``ThreadedModel``."""

    def __init__(self, model: AsyncModel, keeper: ThreadKeeper) -> None:
        self.model = model
        self.keeper = keeper
        self.name = model.name

    async def create(self, request: Request) -> ModelResponse:
        """Send the request, continuing the thread when it can; replay once if refused."""
        sent = self.keeper.plan(request)
        try:
            response = await self.model.create(sent.request)
        except ModelError as err:
            again = self.keeper.replay(sent, err)
            if again is None:
                raise
            sent, response = again, await self.model.create(again.request)
        self.keeper.record(sent, response)
        return response

    async def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        """``create``, streamed (a refusal arrives before any event)."""
        sent = self.keeper.plan(request)
        started = False
        try:
            async for event in self.model.stream(sent.request):
                started = True
                yield _seen(self.keeper, sent, event)
            return
        except ModelError as err:
            again = None if started else self.keeper.replay(sent, err)
            if again is None:
                raise
        async for event in self.model.stream(again.request):
            yield _seen(self.keeper, again, event)

    async def count_tokens(self, request: Request) -> int:
        """The model's own count."""
        return await self.model.count_tokens(request)


def _seen(keeper: ThreadKeeper, sent: Outgoing, event: StreamEvent) -> StreamEvent:
    """Pass a stream event on, keeping the thread's mark when the reply is whole."""
    if isinstance(event, Done):
        keeper.record(sent, event.response)
    return event


def _create(request: Request) -> Request:
    """The whole request, starting a new thread."""
    return replace(
        request,
        betas=_with_beta(request.betas),
        extra={**request.extra, "thread": {"type": "create"}},
    )


def _with_beta(betas: Sequence[str]) -> list[str]:
    return [*betas, MESSAGE_THREADS_BETA] if MESSAGE_THREADS_BETA not in betas else list(betas)


def _canon(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode()


def _fingerprint(request: Request) -> str:
    """What a continue must not change: model, system, tools, thinking, tool_choice."""
    fields = {
        "model": request.model,
        "system": request.system,
        "tools": request.tools,
        "thinking": request.thinking,
        "tool_choice": request.tool_choice,
    }
    return hashlib.sha256(_canon(fields)).hexdigest()


def _digest(messages: Sequence[Mapping[str, Any]]) -> str:
    """The messages as the thread holds them: breakpoints aside (they move every turn)."""
    return hashlib.sha256(_canon(strip_cache_control(list(messages)))).hexdigest()
