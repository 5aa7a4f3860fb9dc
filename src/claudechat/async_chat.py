"""``AsyncChat``: the turn loop for asyncio; the twin of ``Chat``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from ._core import (
    BLOCKING_LEASE_SECONDS,
    DEFAULT_MODEL,
    SDK_STREAM_ONLY_ABOVE,
    ToolLike,
    _ChatCore,
    _Inflight,
    _resolve_model,
)
from ._turn import Reply, TurnState
from .context.base import ContextPolicy
from .context.engine import Budget, ContextEngine
from .errors import ContextOverflow, StreamInterrupted, UserError
from .messages import Block, Message
from .models.base import AsyncModel, Done, ModelResponse, Request, TextDelta, UsageSoFar
from .store.base import Conversation, Store

__all__ = ["AsyncChat"]


class AsyncChat(_ChatCore):
    """The async twin of Chat: ``await chat.send(...)``, ``async for piece in chat.stream(...)``.

    Store calls and summaries run inline (they are local and short); model calls await.
    """

    def __init__(
        self,
        model: str | AsyncModel = DEFAULT_MODEL,
        *,
        system: str | Sequence[Block] | None = None,
        tools: Sequence[ToolLike] = (),
        max_tokens: int = 1024,
        store: Store | None = None,
        context: ContextEngine | Sequence[ContextPolicy] | None = None,
        budget: Budget = None,
        thinking: Mapping[str, Any] | None = None,
        temperature: float | None = None,
        stop_sequences: Sequence[str] = (),
        max_tool_rounds: int = 10,
        client: Any = None,
        _conversation: Conversation | None = None,
    ) -> None:
        super().__init__(
            _resolve_model(model, client, asynchronous=True),
            system=system,
            tools=tools,
            max_tokens=max_tokens,
            store=store,
            context=context,
            budget=budget,
            thinking=thinking,
            temperature=temperature,
            stop_sequences=stop_sequences,
            max_tool_rounds=max_tool_rounds,
            conversation=_conversation,
        )

    @classmethod
    def resume(
        cls,
        conversation_id: str,
        *,
        store: Store,
        model: str | AsyncModel | None = None,
        **kw: Any,
    ) -> AsyncChat:
        """Continue a stored conversation."""
        conv = store.get_conversation(conversation_id)
        return cls(model or conv.model or DEFAULT_MODEL, store=store, _conversation=conv, **kw)

    async def send(
        self, prompt: str | Sequence[Block], *, prefill: str | None = None, documents: Any = None
    ) -> Reply:
        """Send a user message and return Claude's reply (running tools as asked)."""
        state = self._begin(prompt, prefill=prefill, documents=documents)
        async for _ in self._loop(state, stream=self.max_tokens > SDK_STREAM_ONLY_ABOVE):
            pass
        assert self.last_reply is not None
        return self.last_reply

    def stream(
        self, prompt: str | Sequence[Block], *, prefill: str | None = None, documents: Any = None
    ) -> AsyncIterator[str]:
        """Send a user message and yield the reply text as it arrives."""
        state = self._begin(prompt, prefill=prefill, documents=documents)
        return self._opened(self._loop(state, stream=True))

    async def _loop(self, state: TurnState, *, stream: bool) -> AsyncIterator[str]:
        try:
            while True:
                if state.rounds and state.last is not None and state.last.text:
                    yield "\n\n"
                call = self._call(state, stream)
                try:
                    async for piece in call:
                        yield piece
                finally:
                    # No ``yield from`` for async generators: close the request now, so a
                    # stream left early keeps its partial reply at once, not at collection.
                    await call.aclose()  # type: ignore[attr-defined]
                assert state.last is not None
                results = await self._after_reply_async(state, state.last)
                if results is None:
                    break
                if results:
                    state.messages.append(self._append(Message("user", results)))
            self.last_reply = state.reply()
        finally:
            self._release_turn()

    async def _after_reply_async(self, state: TurnState, msg: Message) -> list[Block] | None:
        step = self._next_step(state, msg)
        if step is not True:
            return step
        self._renew_turn(ttl=BLOCKING_LEASE_SECONDS, force=True)
        return [await self.tools.arun(b) for b in msg.tool_uses]

    async def _call(self, state: TurnState, stream: bool) -> AsyncIterator[str]:
        prepared = self._prepare(state)
        inflight = _Inflight(state.prefill if state.rounds == 0 else None, sent=self.info.prefill)
        response: ModelResponse | None = None
        for attempt in (0, 1):
            try:
                if not stream:
                    self._renew_turn(ttl=BLOCKING_LEASE_SECONDS, force=True)
                    response = await self.model.create(prepared.request)
                    break
                if inflight.strip is not None and attempt == 0:  # once, not again on retry
                    yield inflight.strip.prefix
                async for event in self.model.stream(prepared.request):
                    self._renew_turn()
                    if isinstance(event, TextDelta):
                        piece = self._on_delta(inflight, event.text)
                        if piece:
                            yield piece
                    elif isinstance(event, UsageSoFar):
                        inflight.usage = event.usage
                    elif isinstance(event, Done):
                        response = event.response
                if inflight.strip is not None and (rest := inflight.strip.flush()):
                    yield rest
                break
            except ContextOverflow as err:
                self._learn_limit(err)
                if attempt == 1 or inflight.text:
                    raise
                prepared = self._prepare(state, overflow_retry=True)
            except StreamInterrupted as err:
                self._keep_partial(state, inflight, err, err.partial)
                raise
            except (KeyboardInterrupt, GeneratorExit) as err:
                self._keep_partial(state, inflight, err, None)
                raise
        assert response is not None
        if inflight.checkpointed:
            self._branch.pop()
        state.last = self._finish(state, prepared, response, inflight.message_id)

    def _complete(self, system: str, prompt: str, *, model: str, max_tokens: int) -> str:
        raise UserError(
            "rolling summaries need a synchronous summariser in AsyncChat: pass "
            "context=ContextEngine(...) with a RollingSummary(complete=...) callable"
        )

    def _count(self, request: Request) -> int:
        raise UserError("exact token counts are not available from AsyncChat's policies")
