"""``Chat``: the turn loop, synchronously.

One turn: store the user message (before any network call) → build the request through
the context pipeline → call the model (streaming or not) → record usage → store the
reply → run tools and repeat while Claude asks for them. A cut stream keeps what arrived
as a ``partial`` message; the history stays valid for the next request.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ._core import (
    BLOCKING_LEASE_SECONDS,
    DEFAULT_MODEL,
    MAX_PAUSES,
    SDK_STREAM_ONLY_ABOVE,
    ToolLike,
    _ChatCore,
    _Inflight,
    _resolve_model,
    log,
    title_from,
)
from ._turn import Reply, TurnState, check_prompt
from .async_chat import AsyncChat
from .context.base import ContextPolicy
from .context.caching import check_breakpoints
from .context.engine import Budget, ContextEngine
from .errors import ContextOverflow, StreamInterrupted, UserError
from .messages import Block, Message, new_id
from .models.base import Done, Model, ModelResponse, Request, TextDelta, UsageSoFar
from .store.base import Conversation, Store
from .usage import copy_metadata

__all__ = ["DEFAULT_MODEL", "MAX_PAUSES", "AsyncChat", "Chat", "Reply", "title_from"]


class Chat(_ChatCore):
    """A conversation with Claude: ``send`` / ``stream`` a message, get a Reply.

    ``model`` is a model name (used through the official SDK, with ``client`` if given)
    or any ``Model``. Every message is kept in ``store`` (in memory by default). ``budget``:
    input tokens per request, 200,000 unless set; "max" for the model's whole window.
    """

    def __init__(
        self,
        model: str | Model = DEFAULT_MODEL,
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
        summary_model: str | None = None,
        _conversation: Conversation | None = None,
    ) -> None:
        super().__init__(
            _resolve_model(model, client, asynchronous=False),
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
        self._client = client
        self.summary_model = summary_model or self.context.summary_model

    @classmethod
    def resume(
        cls, conversation_id: str, *, store: Store, model: str | Model | None = None, **kw: Any
    ) -> Chat:
        """Continue a stored conversation (its model and system prompt unless given)."""
        conv = store.get_conversation(conversation_id)
        return cls(model or conv.model or DEFAULT_MODEL, store=store, _conversation=conv, **kw)

    def send(
        self, prompt: str | Sequence[Block], *, prefill: str | None = None, documents: Any = None
    ) -> Reply:
        """Send a user message and return Claude's reply (running tools as asked)."""
        state = self._begin(prompt, prefill=prefill, documents=documents)
        for _ in self._loop(state, stream=self.max_tokens > SDK_STREAM_ONLY_ABOVE):
            pass
        assert self.last_reply is not None
        return self.last_reply

    def stream(
        self, prompt: str | Sequence[Block], *, prefill: str | None = None, documents: Any = None
    ) -> Iterator[str]:
        """Send a user message and yield the reply text as it arrives.

        The user message is stored before the first request; ``last_reply`` holds the
        Reply afterwards. Leaving the loop early keeps what arrived as a partial reply.
        """
        state = self._begin(prompt, prefill=prefill, documents=documents)
        return self._opened(self._loop(state, stream=True))

    def retry(self, *, stream: bool = False) -> Reply | Iterator[str]:
        """A new reply to the last user message, as a sibling of the current one."""
        if not self.turns:
            raise UserError("nothing to retry: the conversation is empty")
        self._start_turn("")
        try:
            turns = self.turns  # as the store has it now
            if not turns:
                raise UserError("nothing to retry: the conversation is empty")
            self._set_head(turns[-1].first.id)
        except BaseException:
            self._release_turn()
            raise
        self.ledger.start_turn()
        return self._run(TurnState(documents=None), stream)

    def edit(
        self, message_id: str, prompt: str | Sequence[Block], *, stream: bool = False
    ) -> Reply | Iterator[str]:
        """Replace a user message by a new one on a new branch, and get a reply to it."""
        self._require_conv()
        old = self.store.get_message(message_id)
        if not old.is_user_text:
            raise UserError(f"message {message_id} is not a user message and cannot be edited")
        check_breakpoints(prompt, self._system, self.tools.schemas)
        blocks = check_prompt(prompt)
        self._check_fits(Message("user", blocks))
        self._start_turn("")
        try:
            self._set_head(old.parent_id)
            self._append(Message("user", blocks), hold=False)
        except BaseException:
            self._release_turn()
            raise
        self.ledger.start_turn()
        return self._run(TurnState(documents=None), stream)

    def fork(self) -> Chat:
        """A new conversation holding a copy of this branch; this one is unchanged."""
        conv = self._require_conv()
        new = self.store.create_conversation(
            title=(conv.title or "conversation") + " (fork)",
            model=self.model.name,
            system=self.system or None,
            metadata={"forked_from": conv.id},
        )
        parent: str | None = None
        copied: dict[str, str] = {}  # original id -> the copy's
        for m in self._branch:
            meta = copy_metadata(m.metadata, m.id, billed=m.usage is not None)
            copy = m.with_(id=new_id(), parent_id=parent, metadata=meta)
            new = self.store.append(new.id, copy, expect_version=new.version)
            parent = copied[m.id] = copy.id
        for s in self.store.summaries(conv.id):  # paid for once: the fork need not redo them
            if s.first_id in copied and s.last_id in copied:
                meta = copy_metadata(s.metadata, s.id, billed=False, conversation_id=conv.id)
                self.store.add_summary(
                    replace(s, id=new_id(), conversation_id=new.id, first_id=copied[s.first_id],
                            last_id=copied[s.last_id], metadata=meta)
                )  # fmt: skip
        child = Chat(
            self.model,
            store=self.store,
            context=self.context,
            summary_model=self.summary_model,
            max_tokens=self.max_tokens,
            tools=[],
            _conversation=new,
            thinking=self.thinking,
            temperature=self.temperature,
            stop_sequences=self.stop_sequences,
            max_tool_rounds=self.max_tool_rounds,
        )
        child.tools = self.tools
        return child

    def _run(self, state: TurnState, stream: bool) -> Reply | Iterator[str]:
        if stream:
            return self._opened(self._loop(state, stream=True))
        for _ in self._loop(state, stream=self.max_tokens > SDK_STREAM_ONLY_ABOVE):
            pass
        assert self.last_reply is not None
        return self.last_reply

    def _call(self, state: TurnState, stream: bool) -> Iterator[str]:
        """One model request (with one automatic retry on context overflow)."""
        prepared = self._prepare(state)
        inflight = _Inflight(state.prefill if state.rounds == 0 else None, sent=self.info.prefill)
        response: ModelResponse | None = None
        for attempt in (0, 1):
            try:
                if not stream:
                    self._renew_turn(ttl=BLOCKING_LEASE_SECONDS, force=True)
                    response = self.model.create(prepared.request)
                    break
                if inflight.strip is not None and attempt == 0:  # once, not again on retry
                    yield inflight.strip.prefix
                for event in self.model.stream(prepared.request):
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
                log.info("the API said the prompt is too long; trimming further, retrying once")
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

    def _loop(self, state: TurnState, *, stream: bool) -> Iterator[str]:
        try:
            while True:
                if state.rounds and state.last is not None and state.last.text:
                    yield "\n\n"  # keep the text of successive tool rounds apart on screen
                yield from self._call(state, stream)
                assert state.last is not None
                results = self._after_reply(state, state.last)
                if results is None:
                    break
                if results:
                    state.messages.append(self._append(Message("user", results)))
            self.last_reply = state.reply()
        finally:
            self._release_turn()

    def _complete(self, system: str, prompt: str, *, model: str, max_tokens: int) -> str:
        """A one-off completion for summaries, billed to this chat's ledger."""
        summarizer = self._summary_model(model)
        request = Request(
            model=model,
            max_tokens=max_tokens,
            messages=[{"role": "user", "content": [{"type": "text", "text": prompt}]}],
            system=[{"type": "text", "text": system}] if system else [],
        )
        response = summarizer.create(request)
        self.ledger.record(model, response.usage, purpose="summary")
        # Stored with the next reply, so `claudechat cost` counts summaries too.
        self._side_usage.append(
            {"purpose": "summary", "model": model, "usage": response.usage.to_dict()}
        )
        return "".join(b.get("text", "") for b in response.content if b.get("type") == "text")

    def _summary_model(self, name: str) -> Model:
        from .models.anthropic import AnthropicModel

        if isinstance(self.model, AnthropicModel):
            return AnthropicModel(name, client=self.model.client)
        model: Model = self.model  # a custom Model answers summary requests too
        return model

    def _count(self, request: Request) -> int:
        return int(self.model.count_tokens(request))
