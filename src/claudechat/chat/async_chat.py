"""``AsyncChat``: the turn loop for asyncio, the sibling of ``Chat`` (sync_chat.py).

    chat = AsyncChat("claude-sonnet-4-6", client=AsyncAnthropic())
    reply = await chat.send("Hello")       # or: async for piece in chat.stream("Hello"): ...

The same turn as ``Chat``, line for line, with the model calls awaited: the decisions are
``ChatBase``'s and the per-call fold is fold.py's. Tools may be plain or async callables.
The store writes while the reply streams and after it (checkpoints, the reply, the turn's
release), and the context engine's steps when it asks for it (``ContextEngine.offload``),
run in a worker thread (offload.py), so that they do not hold the event loop, and a piece
of text is handed out before the writes its event calls for; the store
must be usable from several threads, as the built-in stores are. The writes before the
request (the turn's lease, the user message) run inline: a server opens the turn in a
thread of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from ..attachments import AttachmentLike
from ..context.base import ContextRequest, SideCall
from ..context.engine import Prepared
from ..errors import ContextOverflow, ModelError, StreamInterrupted
from ..messages import Block
from ..models.base import AsyncModel
from .base import SDK_STREAM_ONLY_ABOVE, STOPPED, ChatBase, Documents
from .fold import Next, accumulate, end_of_stream
from .lease import BLOCKING_LEASE_SECONDS
from .offload import in_thread
from .reply import Reply, TurnState

__all__ = ["AsyncChat"]


class AsyncChat(ChatBase[AsyncModel]):
    """A conversation with Claude for asyncio: ``await chat.send(...)``, ``async for piece
    in chat.stream(...)``; everything ``Chat`` does, with the same arguments.

    The arguments are ChatBase's, with an ``AsyncModel`` (or a model name used through an
    ``AsyncAnthropic`` client).
    """

    asynchronous = True

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
        ``attachments``: image and PDF paths or bytes, sent before the text (attachments.py)."""
        return await self._run(
            self._begin(prompt, prefill=prefill, documents=documents, attachments=attachments)
        )

    def stream(
        self,
        prompt: str | Sequence[Block],
        *,
        prefill: str | None = None,
        documents: Documents | None = None,
        attachments: Sequence[AttachmentLike] | None = None,
    ) -> AsyncIterator[str]:
        """Send a user message and yield the reply text as it arrives (see Chat.stream)."""
        turn = self._begin(prompt, prefill=prefill, documents=documents, attachments=attachments)
        return self._opened(self._turn(turn, stream=True))

    async def retry(self) -> Reply:
        """A new reply to the last user message, as a sibling of the current one."""
        return await self._run(self._begin_retry())

    def retry_stream(self) -> AsyncIterator[str]:
        """``retry``, streamed as ``stream`` does."""
        return self._opened(self._turn(self._begin_retry(), stream=True))

    async def edit(self, message_id: str, prompt: str | Sequence[Block]) -> Reply:
        """Replace a user message by a new one on a new branch, and get a reply to it."""
        return await self._run(self._begin_edit(message_id, prompt))

    def edit_stream(self, message_id: str, prompt: str | Sequence[Block]) -> AsyncIterator[str]:
        """``edit``, streamed as ``stream`` does."""
        return self._opened(self._turn(self._begin_edit(message_id, prompt), stream=True))

    # --- the loop -------------------------------------------------------------------------------

    async def _run(self, turn: TurnState) -> Reply:
        async for _ in self._turn(turn, stream=self.max_tokens > SDK_STREAM_ONLY_ABOVE):
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
        """The request for the next call: the engine's, with its side calls answered."""
        request = self._context_request(turn, overflow_retry=overflow_retry)
        answers: dict[str, str | int] = {}
        while not isinstance(step := await self._step(request, answers), Prepared):
            answers[step.key] = await self._answer(step)
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
