"""``Chat``: the turn loop, synchronously.

    chat = Chat("claude-sonnet-4-6", system="Be concise.")
    reply = chat.send("Hello")                 # or: for piece in chat.stream("Hello"): ...

One turn: ``_begin`` checks the prompt, claims the conversation and stores the user
message before any network call; then, until the turn is done, ``_call`` asks the context
engine for the request (answering its side calls: summaries, exact counts), sends it,
folds the stream events into a ``Call`` and stores the reply; tools run when Claude asks
for them. A cut stream keeps what arrived as a ``partial`` message. The decisions live in
``ChatBase`` (base.py) and the per-call fold in fold.py; this file only waits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from ..attachments import AttachmentLike
from ..context.base import SideCall
from ..context.engine import Prepared
from ..errors import ContextOverflow, ModelError, StreamInterrupted
from ..messages import Block
from ..models.base import Model
from .base import STOPPED, ChatBase, Documents
from .fold import Next, end_of_stream
from .lease import BLOCKING_LEASE_SECONDS
from .reply import Reply, TurnState

__all__ = ["Chat"]


class Chat(ChatBase[Model]):
    """A conversation with Claude: ``send`` / ``stream`` a message, get a Reply.

    The arguments are ChatBase's: a model name (or a ``Model``), the system prompt, tools,
    the store, the context policies and budget, and the SDK ``client``.
    """

    asynchronous = False

    # --- turns --------------------------------------------------------------------------------

    def send(
        self,
        prompt: str | Sequence[Block],
        *,
        prefill: str | None = None,
        documents: Documents | None = None,
        attachments: Sequence[AttachmentLike] | None = None,
    ) -> Reply:
        """Send a user message and return Claude's reply (running tools as asked).
        ``attachments``: image and PDF paths or bytes, sent before the text (attachments.py)."""
        return self._run(
            self._begin(prompt, prefill=prefill, documents=documents, attachments=attachments)
        )

    def stream(
        self,
        prompt: str | Sequence[Block],
        *,
        prefill: str | None = None,
        documents: Documents | None = None,
        attachments: Sequence[AttachmentLike] | None = None,
    ) -> Iterator[str]:
        """Send a user message and yield the reply text as it arrives.

        The user message is stored before the first request; ``last_reply`` holds the
        Reply afterwards. Leaving the loop early keeps what arrived as a partial reply.
        """
        turn = self._begin(prompt, prefill=prefill, documents=documents, attachments=attachments)
        return self._opened(self._turn(turn, stream=True))

    def retry(self) -> Reply:
        """A new reply to the last user message, as a sibling of the current one."""
        return self._run(self._begin_retry())

    def retry_stream(self) -> Iterator[str]:
        """``retry``, streamed as ``stream`` does."""
        return self._opened(self._turn(self._begin_retry(), stream=True))

    def edit(self, message_id: str, prompt: str | Sequence[Block]) -> Reply:
        """Replace a user message by a new one on a new branch, and get a reply to it."""
        return self._run(self._begin_edit(message_id, prompt))

    def edit_stream(self, message_id: str, prompt: str | Sequence[Block]) -> Iterator[str]:
        """``edit``, streamed as ``stream`` does."""
        return self._opened(self._turn(self._begin_edit(message_id, prompt), stream=True))

    # --- the loop -------------------------------------------------------------------------------

    def _run(self, turn: TurnState) -> Reply:
        for _ in self._turn(turn, stream=self._streams_sends()):
            pass
        assert self.last_reply is not None
        return self.last_reply

    def _turn(self, turn: TurnState, *, stream: bool) -> Iterator[str]:
        """Calls until the turn is done: a reply, sent back while paused, tools run."""
        try:
            while True:
                if turn.rounds and turn.last is not None and turn.last.text:
                    yield "\n\n"  # keep the text of successive tool rounds apart on screen
                yield from self._call(turn, stream)
                step = self._next(turn)
                if step is Next.DONE:
                    break
                if step is Next.RUN_TOOLS:
                    assert turn.last is not None
                    self._append_results(turn, [self.tools.run(b) for b in turn.last.tool_uses])
            self._end_turn(turn)
        finally:
            self._release_turn()

    def _call(self, turn: TurnState, stream: bool) -> Iterator[str]:
        """One model request, with one retry, trimmed further, on "prompt is too long"."""
        prepared = self._prepare(turn)
        call, shown = self._start_call(turn)
        for attempt in (0, 1):
            try:
                if not stream:
                    self._renew_turn(ttl=BLOCKING_LEASE_SECONDS, force=True)
                    call = replace(call, response=self._replier().create(prepared.request))
                    break
                if shown and attempt == 0:
                    yield shown
                for event in self._replier().stream(prepared.request):
                    call, piece = self._take(call, event)
                    if piece:
                        yield piece
                call, rest = end_of_stream(call)
                if rest:
                    yield rest
                break
            except ContextOverflow as err:
                if not self._retry_overflow(err, call, attempt):
                    raise
                prepared = self._prepare(turn, overflow_retry=True)
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
        self._finish(turn, prepared, call)

    def _prepare(self, turn: TurnState, *, overflow_retry: bool = False) -> Prepared:
        """The request for the next call: the engine's, with its side calls answered."""
        request = self._context_request(turn, overflow_retry=overflow_retry)
        answers: dict[str, str | int] = {}
        while not isinstance(step := self.context.step(request, answers), Prepared):
            answers[step.key] = self._answer(step)
        prepared = self._sending(turn, step)
        for upload in self._to_upload(prepared):
            file_id = self._uploader()(upload.name, upload.data, upload.media_type)
            self._uploaded(upload, file_id)
        return self._with_files(prepared)

    def _answer(self, call: SideCall) -> str | int:
        """A side call of the context engine, answered by the model."""
        if call.kind == "count":
            return self.model.count_tokens(call.request)
        return self._summary_text(call, self._side_model(call.request.model).create(call.request))
