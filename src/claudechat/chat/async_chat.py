"""``AsyncChat``: the turn loop for asyncio, the sibling of ``Chat`` (sync_chat.py).

    chat = AsyncChat("claude-sonnet-4-6", client=AsyncAnthropic())
    reply = await chat.send("Hello")       # or: async for piece in chat.stream("Hello"): ...

The same turn as ``Chat``, line for line, with the model calls awaited: the decisions are
``ChatBase``'s and the per-call fold is fold.py's. Tools may be plain or async callables.
The store writes while the reply streams and after it (checkpoints, the reply, the turn's
release), the writes before the request (the turn's lease, the user message) and the
context engine's steps when it asks for it (``ContextEngine.offload``) run in a worker
thread (offload.py), so that they do not hold the event loop, and a piece of text is handed
out before the writes its event calls for; the store must be usable from several threads, as
the built-in stores are. A server that opens its turns in a worker thread of its own opens
a stream there with ``open_now=True`` (and ``step_ahead``): one thread visit before the
request instead of two.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from ..attachments import AttachmentLike
from ..context.base import ContextRequest, SideCall
from ..context.engine import Prepared
from ..errors import ContextOverflow, ModelError, StreamInterrupted
from ..messages import Block
from ..models.base import AsyncModel
from .base import STOPPED, ChatBase, Documents
from .checks import check_prefill, check_prompt
from .fold import Next, accumulate, end_of_stream
from .lease import BLOCKING_LEASE_SECONDS
from .offload import in_thread
from .reply import Reply, TurnState

__all__ = ["AsyncChat"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Ahead:
    """A turn's first context step, taken when its stream was opened (``step_ahead``)."""

    turn: TurnState
    request: ContextRequest
    step: Prepared | SideCall


class AsyncChat(ChatBase[AsyncModel]):
    """A conversation with Claude for asyncio: ``await chat.send(...)``, ``async for piece
    in chat.stream(...)``; everything ``Chat`` does, with the same arguments.

    The arguments are ChatBase's, with an ``AsyncModel`` (or a model name used through an
    ``AsyncAnthropic`` client).
    """

    asynchronous = True
    _opened_turn: TurnState | None = None  # a reply stream's turn not read yet (step_ahead)
    _ahead: _Ahead | None = None

    # --- turns --------------------------------------------------------------------------------

    async def send(
        self,
        prompt: str | Sequence[Block],
        *,
        prefill: str | None = None,
        documents: Documents | None = None,
        attachments: Sequence[AttachmentLike] | None = None,
    ) -> Reply:
        """Send a user message and return Claude's reply (running tools as asked).
        ``attachments``: image and PDF paths or bytes, sent before the text (attachments.py).
        The message is checked and stored in a worker thread, off the event loop."""
        return await self._run(await self._open(
            lambda: self._begin(prompt, prefill=prefill, documents=documents,
                                attachments=attachments)))  # fmt: skip

    def stream(
        self,
        prompt: str | Sequence[Block],
        *,
        prefill: str | None = None,
        documents: Documents | None = None,
        attachments: Sequence[AttachmentLike] | None = None,
        open_now: bool = False,
    ) -> AsyncIterator[str]:
        """Send a user message and yield the reply text as it arrives (see Chat.stream).

        A malformed prompt or prefill raises here. The message is then checked against
        the conversation (its budget, another writer's turn) and stored, the turn's lease
        claimed, when the stream is first read, in a worker thread, with the request's first
        context step: the event loop does not wait for the disk or the database. A refusal
        there raises at that first read, before anything is stored or sent; a stream never
        read stores nothing. ``open_now``: check and store it all now, in the calling
        thread, and raise here (a server opening its turns in a worker thread of its own;
        see ``step_ahead``)."""
        check_prompt(prompt)
        check_prefill(prefill)
        return self._stream_turn(
            lambda: self._begin(prompt, prefill=prefill, documents=documents,
                                attachments=attachments), open_now)  # fmt: skip

    async def retry(self) -> Reply:
        """A new reply to the last user message, as a sibling of the current one."""
        return await self._run(await self._open(self._begin_retry))

    def retry_stream(self, *, open_now: bool = False) -> AsyncIterator[str]:
        """``retry``, streamed as ``stream`` does (``open_now`` as there)."""
        return self._stream_turn(self._begin_retry, open_now)

    async def edit(self, message_id: str, prompt: str | Sequence[Block]) -> Reply:
        """Replace a user message by a new one on a new branch, and get a reply to it."""
        return await self._run(await self._open(lambda: self._begin_edit(message_id, prompt)))

    def edit_stream(
        self, message_id: str, prompt: str | Sequence[Block], *, open_now: bool = False
    ) -> AsyncIterator[str]:
        """``edit``, streamed as ``stream`` does (``open_now`` as there)."""
        check_prompt(prompt)
        return self._stream_turn(lambda: self._begin_edit(message_id, prompt), open_now)

    def step_ahead(self) -> None:
        """Take the context step of the request of the reply stream just opened with
        ``open_now=True`` (``stream``, ``retry_stream``, ``edit_stream``) now, in the calling
        thread, instead of when the stream is first read. A server opens its turns in a
        worker thread (the lease and the user message are written there): stepping there
        too saves the turn a second visit to a thread, and its wait for one, before the
        request goes out (a stream opened at its first read does the same by itself in its
        worker thread). Does nothing when
        no stream is waiting to be read, or when the step fails: the turn takes it again
        and meets its error where it always does."""
        opened, self._opened_turn = self._opened_turn, None
        if opened is None or opened.rounds:
            return
        try:
            request = self._context_request(opened)
            step = self.context.step(request, {})
        except Exception:  # raised again, in its place, by the turn's own step
            return
        self._ahead = _Ahead(opened, request, step)

    def _streamed(self, turn: TurnState) -> AsyncIterator[str]:
        self._opened_turn, self._ahead = turn, None
        return self._opened(self._turn(turn, stream=True))

    def _stream_turn(self, begin: Callable[[], TurnState], open_now: bool) -> AsyncIterator[str]:
        """The reply stream of the turn ``begin`` opens: opened now, or at its first read."""
        if open_now:
            return self._streamed(begin())
        return self._opening(begin)

    async def _opening(self, begin: Callable[[], TurnState]) -> AsyncIterator[str]:
        """Open the turn in a worker thread (its checks, lease and user message, then its
        first context step), then stream it."""
        stream = await self._open(lambda: self._open_ahead(begin))
        try:
            async for piece in stream:
                yield piece
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    def _open_ahead(self, begin: Callable[[], TurnState]) -> AsyncIterator[str]:
        stream = self._streamed(begin())
        self.step_ahead()
        return stream

    async def _open(self, open_turn: Callable[[], T]) -> T:
        """``open_turn()`` (a turn's checks, lease and user message) in a worker thread. A
        caller cancelled meanwhile gives the opened turn back before the cancellation goes
        on: its user message stays stored, as for a stream left unread, and other writers
        need not wait for the lease to expire."""
        opened: list[T] = []

        def run() -> T:
            opened.append(open_turn())
            return opened[0]

        try:
            return await in_thread(run)
        except asyncio.CancelledError:
            if opened:
                await in_thread(self._give_back, opened[0])
            raise

    def _give_back(self, opened: object) -> None:
        """Release the turn opened for a caller that is gone (``opened``: its turn state,
        or its reply stream, never read)."""
        if self._open_stream is not None and self._open_stream() is opened:
            self._open_stream = None
        self._opened_turn, self._ahead = None, None
        self._release_turn()

    # --- the loop -------------------------------------------------------------------------------

    async def _run(self, turn: TurnState) -> Reply:
        async for _ in self._turn(turn, stream=self._streams_sends()):
            pass
        assert self.last_reply is not None
        return self.last_reply

    async def _turn(self, turn: TurnState, *, stream: bool) -> AsyncIterator[str]:
        """Calls until the turn is done: a reply, sent back while paused, tools run."""
        try:
            while True:
                if turn.rounds and turn.last is not None and turn.last.text:
                    yield "\n\n"  # keep the text of successive tool rounds apart on screen
                call = self._call(turn, stream)
                try:
                    async for piece in call:
                        yield piece
                finally:
                    # No ``yield from`` for async generators: close the request now, so a
                    # stream left early keeps its partial reply at once, not at collection.
                    await call.aclose()  # type: ignore[attr-defined]
                step = self._next(turn)
                if step is Next.DONE:
                    break
                if step is Next.RUN_TOOLS:
                    assert turn.last is not None
                    results = [await self.tools.arun(b) for b in turn.last.tool_uses]
                    self._append_results(turn, results)
            self._end_turn(turn)
        finally:
            if self._lease is not None:
                await in_thread(self._release_turn)

    async def _call(self, turn: TurnState, stream: bool) -> AsyncIterator[str]:
        """One model request, with one retry, trimmed further, on "prompt is too long"."""
        prepared = await self._prepare(turn)
        call, shown = self._start_call(turn)
        for attempt in (0, 1):
            try:
                if not stream:
                    self._renew_turn(ttl=BLOCKING_LEASE_SECONDS, force=True)
                    call = replace(call, response=await self._replier().create(prepared.request))
                    break
                if shown and attempt == 0:
                    yield shown
                async for event in self._replier().stream(prepared.request):
                    call, piece = accumulate(call, event)
                    if piece:
                        yield piece  # before the event's store writes: shown without waiting
                    if self._keep_up_due(event):
                        await in_thread(self._keep_up, call, event)
                call, rest = end_of_stream(call)
                if rest:
                    yield rest
                break
            except ContextOverflow as err:
                if not self._retry_overflow(err, call, attempt):
                    raise
                prepared = await self._prepare(turn, overflow_retry=True)
            except StreamInterrupted as err:
                self._keep_partial(turn, call, err, err.partial)
                raise
            except ModelError as err:  # a 404 for an uploaded attachment: send it inline
                inline = self._files_gone(err, prepared) if attempt == 0 else None
                if inline is None:
                    raise
                prepared = inline
            except STOPPED as err:
                self._keep_partial(turn, call, err, None)
                raise
        await in_thread(self._finish, turn, prepared, call)

    async def _prepare(self, turn: TurnState, *, overflow_retry: bool = False) -> Prepared:
        """The request for the next call: the engine's, with its side calls answered (its
        first step already taken if ``step_ahead`` took it for this turn)."""
        ahead, self._ahead, self._opened_turn = self._ahead, None, None
        answers: dict[str, str | int] = {}
        if ahead is not None and ahead.turn is turn and not overflow_retry and not turn.rounds:
            request, step = ahead.request, ahead.step
        else:
            request = self._context_request(turn, overflow_retry=overflow_retry)
            step = await self._step(request, answers)
        while not isinstance(step, Prepared):
            answers[step.key] = await self._answer(step)
            step = await self._step(request, answers)
        prepared = self._sending(turn, step)
        for upload in self._to_upload(prepared):
            file_id = await self._uploader()(upload.name, upload.data, upload.media_type)
            self._uploaded(upload, file_id)
        return self._with_files(prepared)

    async def _step(
        self, request: ContextRequest, answers: dict[str, str | int]
    ) -> Prepared | SideCall:
        """The engine's next step; in a worker thread when the engine asks for it
        (``offload``: its recall index read and written, a long history counted, without
        holding the other tasks of the loop)."""
        if self.context.offload:
            return await in_thread(self.context.step, request, answers)
        return self.context.step(request, answers)

    async def _answer(self, call: SideCall) -> str | int:
        """A side call of the context engine, answered by the model."""
        if call.kind == "count":
            return await self.model.count_tokens(call.request)
        model = self._side_model(call.request.model)
        return self._summary_text(call, await model.create(call.request))
