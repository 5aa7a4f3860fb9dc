"""What Chat and AsyncChat share: conversation state, branching, bookkeeping of a turn.

The model calls themselves (sync or async) live in ``chat.py`` and ``async_chat.py``.

One turn: store the user message (before any network call) → build the request through
the context pipeline → call the model (streaming or not) → record usage → store the
reply → run tools and repeat while Claude asks for them. A cut stream keeps what arrived
as a ``partial`` message; the history stays valid for the next request.

A turn first claims the conversation's turn lease in the store, so a second writer is
refused before it stores or sends anything, and the holder's writes never conflict. A
reply the store could not take (a database outage) is held in memory and stored with the
next write, never dropped.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from ._turn import (
    Reply,
    TurnState,
    check_fits,
    check_output_cap,
    check_prefill,
    check_prompt,
    check_system,
    prefill_hint,
    response_message,
)
from ._writes import BLOCKING_LEASE_SECONDS, TURN_LEASE_SECONDS, _SharedWriter
from .context.base import ContextPolicy
from .context.documents import describe_documents, document_blocks
from .context.engine import Budget, ContextEngine, Prepared
from .context.report import WindowFill
from .errors import (
    ClaudeChatError,
    ConcurrentUpdate,
    ContextOverflow,
    ConversationNotFound,
    InvalidHistory,
    StoreError,
    UserError,
)
from .messages import Block, Message, Turn, group_turns, new_id, repair, to_api_messages, validate
from .models.base import ModelResponse, Request
from .models.capabilities import ModelInfo, check_lifecycle, model_info, model_prices
from .store._markdown import title_from
from .store.base import Conversation, Store
from .tools import Tool, ToolRegistry
from .usage import SIDE_USAGE, Ledger, Usage

__all__ = ["BLOCKING_LEASE_SECONDS", "DEFAULT_MODEL", "TURN_LEASE_SECONDS", "title_from"]

log = logging.getLogger("claudechat")

DEFAULT_MODEL = "claude-sonnet-4-6"
SDK_STREAM_ONLY_ABOVE = 21_333  # the SDK refuses non-streaming calls with more max_tokens
CHECKPOINT_SECONDS = 1.0
MAX_PAUSES = 8  # pause_turn continuations of one turn before it is ended
_PAUSED = ("pause_turn", "compaction")  # a turn stopped early; compaction: pause_after_compaction

ToolLike = Callable[..., Any] | Tool | Mapping[str, Any]


class _PrefixStripper:
    """Streams an emulated prefill: emits the prefix once, then drops it if the model repeats it."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.buffer = ""
        self.decided = False

    def feed(self, text: str) -> str:
        if self.decided:
            return text
        self.buffer += text
        if self.prefix.startswith(self.buffer) and len(self.buffer) < len(self.prefix):
            return ""
        self.decided = True
        out = self.buffer
        self.buffer = ""
        return out[len(self.prefix) :] if out.startswith(self.prefix) else out

    def flush(self) -> str:
        out, self.buffer = self.buffer, ""
        self.decided = True
        return "" if self.prefix.startswith(out) else out


class _Inflight:
    """A reply being streamed: its id, the text so far, and when it was last checkpointed."""

    def __init__(self, prefill: str | None, *, sent: bool = False) -> None:
        self.message_id = new_id()
        self.usage: Usage | None = None  # what the stream reported so far
        self.text = ""
        self.checkpointed = False
        self.last_checkpoint = 0.0
        self.store_failed = False  # a checkpoint failed: no more until the reply is done
        self.strip = _PrefixStripper(prefill) if prefill else None
        if self.strip is not None and sent:
            self.strip.decided = True  # the API continues a sent prefill: never strip


class _ChatCore(_SharedWriter):
    """State and bookkeeping shared by Chat and AsyncChat (no model I/O here)."""

    model: Any

    def __init__(
        self,
        model: Any,
        *,
        system: str | Sequence[Block] | None,
        tools: Sequence[ToolLike],
        max_tokens: int,
        store: Store | None,
        context: ContextEngine | Sequence[ContextPolicy] | None,
        budget: Budget,
        thinking: Mapping[str, Any] | None,
        temperature: float | None,
        stop_sequences: Sequence[str],
        max_tool_rounds: int,
        conversation: Conversation | None,
    ) -> None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise UserError(f"max_tokens must be a positive integer, got {max_tokens!r}")
        if max_tool_rounds < 1:
            raise UserError("max_tool_rounds must be at least 1")
        self.model = model
        self.info: ModelInfo = model_info(model.name)
        check_lifecycle(self.info)
        check_output_cap(max_tokens, self.info)
        self.max_tokens = max_tokens
        self.tools = ToolRegistry(tools)
        if store is None:
            from .store.memory import MemoryStore

            store = MemoryStore()
        self.store: Store = store
        if isinstance(context, ContextEngine):
            self.context = context
        else:
            self.context = ContextEngine(
                list(context) if context is not None else None, budget=budget
            )
        self.thinking = dict(thinking) if thinking else None
        self.temperature = temperature
        self.stop_sequences = list(stop_sequences)
        self.max_tool_rounds = max_tool_rounds
        self.ledger = Ledger(prices=model_prices)
        self.last_reply: Reply | None = None
        self._previous_api_id: str | None = None
        self._conv: Conversation | None = conversation
        self._branch: list[Message] = (
            self.store.branch(conversation.id) if conversation is not None else []
        )
        if system is None and conversation is not None:
            system = conversation.system
        self._system: list[Block] = check_system(system)
        self._force_compact = False
        self._side_usage: list[dict[str, Any]] = []  # summary requests not yet stored
        self._api_limit: int | None = None  # the input limit a "prompt is too long" named
        self._owner = new_id()
        self._lease = None
        self._open_stream: weakref.ref[Any] | None = None
        self._lease_renewed = 0.0
        self._unsaved = []

    # --- the public view ------------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The conversation id (None until the first message is stored)."""
        return self._conv.id if self._conv else None

    @property
    def conversation(self) -> Conversation | None:
        """The stored conversation row."""
        return self._conv

    @property
    def history(self) -> list[Message]:
        """The active branch, root to head, as stored (partial replies included)."""
        return list(self._branch)

    @property
    def turns(self) -> list[Turn]:
        """The active branch grouped into turns."""
        return group_turns(self._branch)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The active history as the API takes it (partials reduced, repaired if needed)."""
        api = to_api_messages(self._branch)
        if not api:
            return []
        try:
            validate(api)
        except InvalidHistory:
            api = repair(api)
        return api

    @property
    def usage(self) -> Usage:
        """Usage of every request this chat object made (replies and summaries)."""
        return self.ledger.usage

    @property
    def cost_usd(self) -> float | None:
        """Cost of this chat object's requests; None when a price is unknown."""
        return self.ledger.cost_usd

    @property
    def system(self) -> str:
        """The system prompt text."""
        return "".join(b.get("text", "") for b in self._system)

    @system.setter
    def system(self, value: str | Sequence[Block] | None) -> None:
        self._system = check_system(value)
        if self._conv is not None:
            with self._turn_held():
                self._conv = self.store.update_conversation(self._conv.id, system=self.system)

    def set_model(self, model: Any) -> None:
        """Switch the model for the next turns (refused when max_tokens is over its cap)."""
        info = model_info(model.name)
        check_lifecycle(info)
        check_output_cap(self.max_tokens, info)
        self.model = model
        self.info = info
        self._api_limit = None
        if self._conv is not None:
            with self._turn_held():
                self._conv = self.store.update_conversation(self._conv.id, model=model.name)

    def stored_usage(self) -> Usage:
        """Usage of every assistant message stored in the active branch."""
        total = Usage()
        for m in self._branch:
            if m.usage is not None:
                total = total + m.usage
        return total

    def context_tokens(self) -> WindowFill:
        """How full the context window is: the last request's tokens against the budget
        (for a resumed chat with no request yet, an estimate of the next one)."""
        if self.context.last is None and self._branch:
            try:
                return self.context.fill(
                    self.context.prepare(
                        model=self.info,
                        max_tokens=self.max_tokens,
                        system=self._system,
                        tools=self.tools.schemas,
                        history=self._branch,  # the engine works on its own copy
                        dry_run=True,
                    )
                )
            except ClaudeChatError:
                pass
        return self.context.fill()

    # --- branching ------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read the conversation head and branch from the store (after ConcurrentUpdate)."""
        if self._conv is not None:
            self._conv = self.store.get_conversation(self._conv.id)
            self._branch = self.store.branch(self._conv.id)

    def checkout(self, message_id: str) -> None:
        """Make the branch ending at ``message_id`` the active one."""
        self._require_conv()
        self.store.get_message(message_id)  # raises ConversationNotFound for a bad id
        with self._turn_held():
            self._set_head(message_id)

    def undo(self) -> Turn | None:
        """Move the head back one turn (the turn stays stored); returns the turn undone."""
        if not self.turns:
            return None
        with self._turn_held():
            turns = self.turns  # as the store has it now
            if not turns:
                return None
            last = turns[-1]
            self._set_head(last.first.parent_id)
        return last

    def branches(self) -> list[Message]:
        """The tip of every branch of the conversation."""
        return self.store.leaves(self._conv.id) if self._conv else []

    def siblings(self, message_id: str) -> list[Message]:
        """The alternatives to a message (itself included): retries and edits."""
        conv = self._require_conv()
        return self.store.children(conv.id, self.store.get_message(message_id).parent_id)

    def compact(self) -> None:
        """Summarise / trim at the next request even if the window is not full."""
        self._force_compact = True

    # --- internals ------------------------------------------------------------------------

    def _require_conv(self) -> Conversation:
        if self._conv is None:
            raise UserError("the conversation is empty")
        return self._conv

    def _head(self) -> str | None:
        return self._branch[-1].id if self._branch else None

    # --- the turn lease (see _writes.py) --------------------------------------------------

    def _start_turn(self, title_text: str) -> None:
        """Claim the conversation's turn (creating the conversation first if there is none)
        before anything of the turn is stored or sent; ConcurrentUpdate if another writer
        holds it."""
        self._check_no_open_stream()
        if self._conv is None:
            self._conv = self.store.create_conversation(
                title=title_from(title_text or "conversation"),
                model=self.model.name,
                system=self.system or None,
            )
        self._claim_turn()

    def _set_head(self, message_id: str | None) -> None:
        conv = self._require_conv()
        self._conv = self.store.set_head(
            conv.id, message_id, expect_version=conv.version, lease=self._owner
        )
        self._branch = self.store.branch(conv.id)

    # --- storing --------------------------------------------------------------------------

    def _append(self, message: Message, *, hold: bool = True) -> Message:
        """Store a message under the head; keep the local branch in step. With ``hold``, a
        store failure keeps the message in memory (see ``unsaved``) instead of raising."""
        head = self._head()
        if message.parent_id != head:  # a reply is made under the head already: no copy
            message = message.with_(parent_id=head)
        if self._unsaved and not self.store_unsaved(quiet=True):
            if not hold:
                raise StoreError("the store is unavailable; earlier messages wait in memory")
            return self._hold(message, None)
        conv = self._require_conv()
        try:
            self._conv = self.store.append(
                conv.id, message, expect_version=conv.version, lease=self._owner
            )
        except ConcurrentUpdate:
            if message.role == "assistant":
                # The lease was lost (it expired): keep the reply as a side branch, report.
                self.store.append(conv.id, message, move_head=False, lease=self._owner)
            raise
        except StoreError as err:
            if not hold or isinstance(err, ConversationNotFound):
                raise
            return self._hold(message, err)
        self._branch.append(message)
        return message

    def _on_delta(self, inflight: _Inflight, text: str) -> str:
        """Take a text delta: checkpoint the reply now and then, return what to show."""
        inflight.text += text
        now = time.monotonic()
        due = not inflight.checkpointed or now - inflight.last_checkpoint >= CHECKPOINT_SECONDS
        if due and not inflight.store_failed:
            msg = Message(
                "assistant",
                [{"type": "text", "text": inflight.text}],
                id=inflight.message_id,
                model=self.model.name,
                status="partial",
                metadata={"in_flight": True},
            )
            try:
                self._store_partial(msg, replace=inflight.checkpointed)
                inflight.checkpointed = True
            except StoreError as err:  # the reply goes on; it is stored whole at the end
                log.warning("could not checkpoint the reply: %s", err)
                inflight.store_failed = True
            inflight.last_checkpoint = now
        return inflight.strip.feed(text) if inflight.strip is not None else text

    def _store_partial(self, msg: Message, *, replace: bool) -> None:
        """Store a partial reply: under the head, or over its own earlier checkpoint."""
        if not replace:
            self._append(msg, hold=False)
            return
        msg = msg.with_(parent_id=self._branch[-1].parent_id)
        self._conv = self.store.append(
            self._require_conv().id, msg, move_head=False, lease=self._owner
        )
        self._branch[-1] = msg

    def _check_fits(self, message: Message, injected: list[Block] | None = None) -> None:
        """UserError, before anything is stored, for a prompt no trimming can fit."""
        check_fits(message, engine=self.context, info=self.info, max_tokens=self.max_tokens,
                   system=self._system, tools=self.tools.schemas, injected=injected or [],
                   input_limit=self._api_limit)  # fmt: skip

    def _begin(self, prompt: Any, *, prefill: str | None, documents: Any) -> TurnState:
        from .context.caching import check_breakpoints

        blocks = check_prompt(prompt)
        check_breakpoints(blocks, self._system, self.tools.schemas)
        check_prefill(prefill)
        meta: dict[str, Any] = {}
        docs: list[Any] | None = None
        if documents is not None:
            docs = list(documents(_text(blocks)) if callable(documents) else documents)
            meta["documents"] = describe_documents(docs)
        message = Message("user", blocks, metadata=meta)
        injected = document_blocks(docs) if docs is not None else []
        self._check_fits(message, injected)
        self.ledger.start_turn()
        self._start_turn(_text(blocks))
        try:
            self._append(message, hold=False)
        except BaseException:
            self._release_turn()
            raise
        return TurnState(prefill=prefill, documents=docs)

    def _prepare(self, state: TurnState, *, overflow_retry: bool = False) -> Prepared:
        self._renew_turn()
        injected: list[Block] = []
        first_round = state.rounds == 0
        if state.documents is not None:
            injected.extend(document_blocks(state.documents))
        prefill = state.prefill if first_round else None
        if prefill and not self.info.prefill:
            injected.append(prefill_hint(prefill))
        fields: dict[str, Any] = {}
        if self.thinking:
            fields["thinking"] = self.thinking
        if self.temperature is not None:
            fields["temperature"] = self.temperature
        if self.stop_sequences:
            fields["stop_sequences"] = self.stop_sequences
        if state.rounds >= self.max_tool_rounds:
            fields["tool_choice"] = {"type": "none"}
        prepared = self._prepare_context(state, injected, fields, overflow_retry)
        self._force_compact = False
        request = prepared.request
        try:
            validate(request.messages)
        except InvalidHistory as err:
            log.warning("repairing the history before sending: %s", err)
            request.messages = repair(request.messages)
        if prefill and self.info.prefill:
            request.messages = [
                *request.messages,
                {"role": "assistant", "content": [{"type": "text", "text": prefill}]},
            ]
        return prepared

    def _prepare_context(
        self, state: TurnState, injected: list[Block], fields: dict[str, Any], overflow_retry: bool
    ) -> Prepared:
        return self.context.prepare(
            model=self.info,
            max_tokens=self.max_tokens,
            system=self._system,
            tools=self.tools.schemas,
            history=self._branch,  # the engine works on its own copy
            injected=injected,
            query=_query(self._branch),
            store=self.store,
            conversation_id=self.id,
            complete=self._complete,
            count=self._count,
            force_compact=self._force_compact,
            overflow_retry=overflow_retry,
            request_fields=fields,
            previous_message_id=self._previous_api_id,
            input_limit=self._api_limit,  # the server's window, when smaller than ours
            spent=self._take_side_usage,
        )

    def _take_side_usage(self) -> list[dict[str, Any]]:
        """The side requests' usage not stored yet, handed over to be stored (summaries)."""
        taken, self._side_usage = self._side_usage, []
        return taken

    def _learn_limit(self, err: ContextOverflow) -> None:
        """Remember the input limit the API named, so later requests are cut to fit it."""
        if err.limit is not None and (self._api_limit is None or err.limit < self._api_limit):
            self._api_limit = err.limit

    def _finish(
        self, state: TurnState, prepared: Prepared, response: ModelResponse, message_id: str | None
    ) -> Message:
        """Record and store a complete response."""
        msg = response_message(
            response,
            parent_id=self._head(),
            model=self.model.name,
            prefill=state.prefill if state.rounds == 0 else None,
            prefill_sent=self.info.prefill,
            message_id=message_id,
        )
        entry = self.ledger.record(msg.model or self.model.name, response.usage, message_id=msg.id)
        state.add_cost(response.usage, entry.cost_usd)
        if self._side_usage:
            msg = msg.with_(metadata={**msg.metadata, SIDE_USAGE: self._side_usage})
            self._side_usage = []
        self._previous_api_id = response.id
        if not msg.content:
            msg = msg.with_(content=[{"type": "text", "text": "(empty reply)"}])
        # The reply's count is taught by the output tokens only if it is the response as is.
        same = msg.content == response.content
        self.context.observe(prepared, response, reply=msg if same else None)
        self._append(msg)
        state.messages.append(msg)
        return msg

    def _keep_partial(
        self,
        state: TurnState,
        inflight: _Inflight,
        err: BaseException,
        partial: ModelResponse | None,
    ) -> None:
        """Store what arrived of a cut reply as a partial message."""
        text = inflight.text
        content: list[Block] = [{"type": "text", "text": text}] if text else []
        usage = inflight.usage  # billed even when cut: what the stream reported
        if partial is not None:
            partial_text = [b for b in partial.content if b.get("type") == "text" and b.get("text")]
            if sum(len(b["text"]) for b in partial_text) >= len(text):
                content = partial_text
            if partial.usage.requests:
                usage = partial.usage
        if usage is not None:
            entry = self.ledger.record(self.model.name, usage, message_id=inflight.message_id)
            state.add_cost(usage, entry.cost_usd)
        prefill = state.prefill if state.rounds == 0 else None
        sent = self.info.prefill
        if prefill and content and (sent or not content[0]["text"].startswith(prefill)):
            text = content[0]["text"]
            repeat_cut = not sent and prefill.startswith(text)
            content[0] = {"type": "text", "text": prefill if repeat_cut else prefill + text}
        reason = "interrupted" if isinstance(err, KeyboardInterrupt | GeneratorExit) else str(err)
        if not content and not inflight.checkpointed:
            if usage is not None:
                self._keep_billed_without_text(inflight.message_id, usage, reason)
            return
        msg = Message(
            "assistant",
            content or [{"type": "text", "text": "(no text arrived)"}],
            id=inflight.message_id,
            model=self.model.name,
            usage=usage,
            status="partial",
            metadata={"interrupted": reason},
        )
        if self._side_usage:  # summaries made for this request are billed with what is kept
            msg = msg.with_(metadata={**msg.metadata, SIDE_USAGE: self._side_usage})
        try:
            self._store_partial(msg, replace=inflight.checkpointed)
            self._side_usage = []
        except Exception:  # never let bookkeeping hide the interruption itself
            log.exception("could not store the partial reply")
        state.messages.append(msg)
        self.last_reply = state.reply()

    def _keep_billed_without_text(self, message_id: str, usage: Usage, reason: str) -> None:
        """A request cut before any text, whose usage arrived: stored beside the branch as an
        empty partial reply (never sent, not the head), so its cost outlives this process."""
        metadata: dict[str, Any] = {"interrupted": reason}
        if self._side_usage:
            metadata[SIDE_USAGE] = self._side_usage
        msg = Message(
            "assistant",
            [],
            id=message_id,
            parent_id=self._head(),
            model=self.model.name,
            usage=usage,
            status="partial",
            metadata=metadata,
        )
        try:
            self._conv = self.store.append(
                self._require_conv().id, msg, move_head=False, lease=self._owner
            )
            self._side_usage = []
        except Exception:  # never let bookkeeping hide the interruption itself
            log.exception("could not store the usage of the cut request")

    def _next_step(self, state: TurnState, msg: Message) -> list[Block] | Literal[True] | None:
        """After a reply: [] to send it back (a paused turn), True to run its tools, or None
        when the turn is over."""
        if msg.stop_reason in _PAUSED:  # the API continues the reply when it is sent back
            state.pauses += 1
            if state.pauses > MAX_PAUSES:
                log.warning("the turn paused %d times; stopping here", state.pauses - 1)
                return None
            state.rounds += 1
            return []
        if msg.stop_reason != "tool_use" or not msg.tool_uses:
            return None
        state.rounds += 1
        return True

    def _after_reply(self, state: TurnState, msg: Message) -> list[Block] | None:
        """Tool results to send next, or None when the turn is over."""
        step = self._next_step(state, msg)
        if step is not True:
            return step
        self._renew_turn(ttl=BLOCKING_LEASE_SECONDS, force=True)
        return [self.tools.run(b) for b in msg.tool_uses]

    def _complete(self, system: str, prompt: str, *, model: str, max_tokens: int) -> str:
        raise NotImplementedError  # defined by Chat; AsyncChat runs summaries synchronously

    def _count(self, request: Request) -> int:
        raise NotImplementedError


def _query(branch: Sequence[Message]) -> str:
    for m in reversed(branch):
        if m.is_user_text:
            return m.text
    return ""


def _text(blocks: Sequence[Block]) -> str:
    return "".join(b.get("text", "") for b in blocks if b.get("type") == "text")


def _resolve_model(model: Any, client: Any, *, asynchronous: bool) -> Any:
    if not isinstance(model, str):
        if not hasattr(model, "name"):
            raise UserError(f"model must be a model name or a Model, got {type(model).__name__}")
        return model
    if not model.strip():
        raise UserError("the model name is empty")
    from .models.anthropic import AnthropicModel, AsyncAnthropicModel

    cls = AsyncAnthropicModel if asynchronous else AnthropicModel
    return cls(model, client=client)
