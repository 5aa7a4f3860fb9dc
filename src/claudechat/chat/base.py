"""``ChatBase``: the decisions of a turn, shared by ``Chat`` and ``AsyncChat``.

Everything here is done without waiting on the model: the conversation's state and
branches, the checks before a turn, the request for each call (built by the context
engine), and the bookkeeping after it (ledger, store, partial replies). ``Chat`` and
``AsyncChat`` are the two short loops that wait: they call the model, fold its stream
events into a ``Call`` (``fold.py``), answer the engine's side calls, and run tools.

One turn, in the order the loops call these methods:

    _begin / _begin_retry / _begin_edit   checks, turn lease, store the user message
    _prepare_request                      ContextRequest for the engine (the loop drives
                                          ``engine.step`` and answers side calls with
                                          ``_side_model`` and ``_summary_text``)
    _sending                              keep what the policies made; the Request to send
    _start_call, _checkpoint              a Call per request; partial text kept as it comes
    _finish / _keep_partial               record usage, store the reply (or what arrived)
    _next                                 done, send back a paused reply, or run tools
    _append_results, _end_turn            tool results stored; the Reply; lease released

A turn first claims the conversation's turn lease in the store (``lease.py``), so a second
writer is refused before it stores or sends anything. A reply the store could not take
(a database outage) is held in memory and stored with the next write, never dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import replace
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

from ..attachments import AttachmentLike, AttachmentLimits
from ..context.base import ContextPolicy, ContextRequest, Keep, SideCall
from ..context.caching import check_breakpoints
from ..context.documents import Document, Retriever, describe_documents, document_blocks
from ..context.engine import Budget, ContextEngine, Prepared
from ..context.report import WindowFill
from ..errors import (
    ClaudeChatError,
    ConcurrentUpdate,
    ContextOverflow,
    ConversationNotFound,
    InvalidHistory,
    StoreError,
    TurnStopped,
    UserError,
)
from ..messages import Block, Message, Turn, group_turns, new_id, repair, to_api_messages, validate
from ..metadata import (
    DOCUMENTS,
    FORKED_FROM,
    INTERRUPTED,
    PURPOSE,
    SIDE_USAGE,
    THREAD,
    WINDOW_START,
)
from ..models.base import AsyncModel, Model, ModelResponse, Request, StreamEvent, TextDelta
from ..models.capabilities import ModelInfo, check_lifecycle, model_info, model_prices
from ..store._markdown import title_from
from ..store.base import Conversation, Store, branch_tips, one_transaction
from ..tools import Tool, ToolRegistry
from ..usage import Ledger, Usage, copy_metadata
from .changes import ChangesInConversation, last_api_id
from .checks import (
    check_fits,
    check_output_cap,
    check_prefill,
    check_prompt,
    check_system,
    prefill_hint,
)
from .files import AttachmentSending
from .fold import (
    Call,
    Next,
    accumulate,
    checkpoint_message,
    next_step,
    partial_reply,
    reply_message,
    retry_after_overflow,
    start_call,
)
from .lease import BLOCKING_LEASE_SECONDS, SharedWriter
from .memory import memory_tool
from .reply import Reply, TurnState
from .system_changes import record_change
from .thinking import ThinkingChoice, ThinkingSetting, check_model_takes
from .threads import ThreadKeeper, ThreadMark, Threads

__all__ = ["DEFAULT_MODEL", "SDK_STREAM_ONLY_ABOVE", "STOPPED", "ChatBase", "Documents", "ToolLike"]

log = logging.getLogger("claudechat")

DEFAULT_MODEL = "claude-sonnet-4-6"
SDK_STREAM_ONLY_ABOVE = 21_333  # the SDK refuses non-streaming calls with more max_tokens
CHECKPOINT_SECONDS = 1.0  # how often a streaming reply is stored as it grows
STOP_CHECK_SECONDS = 1.0  # how often a streaming reply reads whether it was asked to stop

ToolLike = Callable[..., Any] | Tool | Mapping[str, Any]
# What stops a reply from outside: Ctrl-C, a stream closed early, a cancelled task (an
# async server's client went away), a stop asked through the store (the service's cancel).
# What arrived is kept as a partial reply.
STOPPED = (KeyboardInterrupt, GeneratorExit, asyncio.CancelledError, TurnStopped)
Documents = Sequence[Document] | Retriever  # a turn's documents, or a function that finds them


M = TypeVar("M", Model, AsyncModel)  # the kind of model a chat waits on


class ChatBase(ChangesInConversation, SharedWriter, AttachmentSending, Generic[M]):
    """State and bookkeeping shared by Chat and AsyncChat (no model calls here).

    ``model`` is a model name (used through the official SDK, with ``client`` if given: an
    ``Anthropic`` client for Chat, an ``AsyncAnthropic`` one for AsyncChat) or a model
    object of the chat's kind. Every message is kept in ``store`` (in memory by default).
    ``context``: a ContextEngine or a list of policies (the "window" strategy by default);
    ``budget``: input tokens per request, 200,000 unless set; "max" for the model's whole
    window. ``summary_model`` writes rolling summaries (the engine's, by default).
    ``extra_fields``: further Messages API fields sent with every reply (top_p, service_tier…).
    ``threads``: send each turn through a server-side message thread (``True``, or
    ``Threads(clock=…)``), replaying the whole request whenever the thread is gone.
    ``thinking``: "auto" (adaptive where the model takes it), "off", "adaptive", a budget in
    tokens or the API's dict (``thinking.py``). ``memory``: "shared" or "conversation" gives
    Claude the memory tool on the store, one tree for the owner's conversations or one for
    this conversation (``claudechat.memorytool``); "off" by default.
    ``attachment_limits``: the limits attachments are checked against (the API's by
    default); ``attachments_upload``: send attachments through the Files API (files.py).
    ``watch_stops``: a streamed reply reads, every second, whether the service was asked
    to stop its turn (TurnStopped; the service's own chats leave it to their worker). On a
    store other processes share (a file, PostgreSQL), ``send`` then streams its requests
    too, so that its turns can be stopped as well (``_streams_sends``).
    """

    model: M
    asynchronous: ClassVar[bool]  # which SDK client a model name is used through
    watch_stops: bool = True  # obey a stop asked through the store (the service's cancel)
    _stop_read_at = 0.0  # when the streaming reply last read its stop mark (_start_call)

    def __init__(
        self,
        model: str | M = DEFAULT_MODEL,
        *,
        system: str | Sequence[Block] | None = None,
        tools: Sequence[ToolLike] = (),
        max_tokens: int = 1024,
        store: Store | None = None,
        context: ContextEngine | Sequence[ContextPolicy] | None = None,
        budget: Budget = None,
        thinking: ThinkingSetting = "auto",
        temperature: float | None = None,
        stop_sequences: Sequence[str] = (),
        extra_fields: Mapping[str, Any] | None = None,
        max_tool_rounds: int = 10,
        client: Any = None,
        summary_model: str | None = None,
        threads: bool | Threads = False,
        memory: str = "off",
        attachment_limits: AttachmentLimits | None = None,
        attachments_upload: bool = False,
        _conversation: Conversation | None = None,
    ) -> None:
        resolved: M = resolve_model(model, client, asynchronous=self.asynchronous)
        conversation = _conversation
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise UserError(f"max_tokens must be a positive integer, got {max_tokens!r}")
        if max_tool_rounds < 1:
            raise UserError("max_tool_rounds must be at least 1")
        self.model = resolved
        self.info: ModelInfo = model_info(resolved.name)
        check_lifecycle(self.info)
        check_output_cap(max_tokens, self.info)
        self.max_tokens = max_tokens
        self.tools = ToolRegistry(tools)
        self.store: Store = store if store is not None else _memory_store()
        self.context = _engine(context, budget, summary_model)
        self._thinking = ThinkingChoice(thinking)
        check_model_takes(self._thinking.setting, self.info)
        self.temperature = temperature
        self.stop_sequences = list(stop_sequences)
        self.extra_fields = dict(extra_fields or {})
        self.max_tool_rounds = max_tool_rounds
        self.ledger = Ledger(prices=model_prices)
        self.last_reply: Reply | None = None
        self._previous_api_id: str | None = None  # the last response's id (cache diagnostics)
        self._conv: Conversation | None = conversation
        self._branch: list[Message] = (
            self.store.branch(conversation.id) if conversation is not None else []
        )
        # A resumed chat diagnoses its first request against the stored last reply.
        self._previous_api_id = last_api_id(self._branch)
        if system is None and conversation is not None:
            system = conversation.system
        self._system: list[Block] = check_system(system)
        self._force_compact = False
        self._side_usage: list[dict[str, Any]] = []  # summary requests not stored yet
        self._api_limit: int | None = None  # the input limit a "prompt is too long" named
        self._checkpointed_at: float | None = None  # the streaming reply's last checkpoint
        self._checkpoint_failed = False  # no more checkpoints until the reply is done
        self._threads: ThreadKeeper | None = None
        if threads:
            options = threads if isinstance(threads, Threads) else Threads()
            self._threads = ThreadKeeper(options, load=self._thread_mark, save=self._keep_thread)
        self._start_sharing()
        if (memory_schema := memory_tool(self, memory)) is not None:
            self.tools.add(memory_schema)
        self._start_attachments(attachment_limits, attachments_upload)

    # --- the public view ------------------------------------------------------------------

    @classmethod
    def resume(
        cls, conversation_id: str, *, store: Store, model: str | M | None = None, **kw: Any
    ) -> Self:
        """Continue a stored conversation (its model and system prompt unless given)."""
        conv = store.get_conversation(conversation_id)
        return cls(model or conv.model or DEFAULT_MODEL, store=store, _conversation=conv, **kw)

    @property
    def id(self) -> str | None:
        """The conversation id (None until the first message is stored)."""
        return self._conv.id if self._conv else None

    @property
    def conversation(self) -> Conversation | None:
        """The stored conversation row."""
        return self._conv

    @property
    def thinking(self) -> dict[str, Any] | str | None:
        """The thinking setting: "auto" (adaptive where the model takes it), None, or a dict."""
        return self._thinking.setting

    @thinking.setter
    def thinking(self, value: ThinkingSetting) -> None:
        choice = ThinkingChoice(value)
        check_model_takes(choice.setting, self.info)
        self._thinking = choice

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
    def summary_model(self) -> str:
        """The model that writes rolling summaries (the context engine's)."""
        return self.context.summary_model

    @property
    def system(self) -> str:
        """The system prompt text."""
        return "".join(b.get("text", "") for b in self._system)

    @system.setter
    def system(self, value: str | Sequence[Block] | None) -> None:
        old = self.system
        self._system = check_system(value)
        if self._conv is not None:
            with self._turn_held():
                meta = self._conv.metadata
                if self.system != old:  # sent as a system message where the model takes one
                    meta = record_change(meta, old=old, new=self.system, head_id=self._head())
                self._conv = self.store.update_conversation(
                    self._conv.id, system=self.system, metadata=meta
                )

    def set_model(self, model: M) -> None:
        """Switch the model for the next turns (refused when max_tokens is over its cap)."""
        info = model_info(model.name)
        check_lifecycle(info)
        check_output_cap(self.max_tokens, info)
        check_model_takes(self._thinking.setting, info)
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

    def window_fill(self) -> WindowFill:
        """How full the context window is: the last request's tokens against the budget
        (for a resumed chat with no request yet, an estimate of the next one)."""
        if self.context.last is None and self._branch:
            try:
                request = self._context_request(dry_run=True)
                return self.context.fill(self.context.prepare(request))
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
        """The tip of every branch of the conversation (a branch whose last message got no
        reply, the request stopped before any text, ends at that message)."""
        return branch_tips(self.store, self._conv.id) if self._conv else []

    def siblings(self, message_id: str) -> list[Message]:
        """The alternatives to a message (itself included): retries and edits."""
        conv = self._require_conv()
        return self.store.children(conv.id, self.store.get_message(message_id).parent_id)

    def compact(self) -> None:
        """Summarise / trim at the next request even if the window is not full."""
        self._force_compact = True

    def fork(self) -> Self:
        """A new conversation holding a copy of this branch; this one is unchanged."""
        conv = self._require_conv()
        new = self.store.create_conversation(
            title=(conv.title or "conversation") + " (fork)",
            model=self.model.name,
            system=self.system or None,
            metadata={FORKED_FROM: conv.id},
            owner=conv.owner,  # a fork belongs to whoever owns the original
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
        make: Callable[..., Self] = type(self)  # Chat or AsyncChat, with this chat's model
        child = make(
            self.model,
            store=self.store,
            context=self.context,
            max_tokens=self.max_tokens,
            thinking=self.thinking,
            temperature=self.temperature,
            stop_sequences=self.stop_sequences,
            extra_fields=self.extra_fields,
            max_tool_rounds=self.max_tool_rounds,
            threads=self._threads.options if self._threads is not None else False,
            attachment_limits=self.attachment_limits,
            attachments_upload=self.attachments_upload,
            _conversation=new,
        )
        child.tools = self.tools
        return child

    # --- internals ------------------------------------------------------------------------

    def _require_conv(self) -> Conversation:
        if self._conv is None:
            raise UserError("the conversation is empty")
        return self._conv

    def _head(self) -> str | None:
        return self._branch[-1].id if self._branch else None

    def _set_head(self, message_id: str | None) -> None:
        conv = self._require_conv()
        self._conv = self.store.set_head(
            conv.id, message_id, expect_version=conv.version, lease=self._owner
        )
        self._branch = self.store.branch(conv.id)

    # --- the start of a turn ----------------------------------------------------------------

    def _begin(
        self,
        prompt: str | Sequence[Block],
        *,
        prefill: str | None,
        documents: Documents | None,
        attachments: Sequence[AttachmentLike] | None = None,
    ) -> TurnState:
        """A new user message (its attachments first): checked, then stored under the head
        in the turn's lease."""
        blocks: list[Block] = check_prompt(prompt)
        check_prefill(prefill)
        docs = None
        files: list[Block]
        meta: dict[str, Any]
        files, meta = self._attachment_blocks(attachments)
        if documents is not None:
            docs = list(documents(_text(blocks)) if callable(documents) else documents)
            meta[DOCUMENTS] = describe_documents(docs)
        message = Message("user", [*files, *blocks], metadata=meta)
        self._open_turn(message, docs, title=_text(blocks))
        return TurnState(prefill=prefill, documents=docs)

    def _begin_retry(self) -> TurnState:
        """A new reply to the last user message, as a sibling of the current one."""
        if not self.turns:
            raise UserError("nothing to retry: the conversation is empty")

        def last_prompt(turns: list[Turn]) -> str:
            if not turns:  # another writer undid every turn meanwhile
                raise UserError("nothing to retry: the conversation is empty")
            return turns[-1].first.id

        self._open_turn(None, None, at=last_prompt)
        return TurnState()

    def _begin_edit(self, message_id: str, prompt: str | Sequence[Block]) -> TurnState:
        """A new user message in place of ``message_id``, on a new branch from its parent."""
        self._require_conv()
        old = self.store.get_message(message_id)
        if not old.is_user_text:
            raise UserError(f"message {message_id} is not a user message and cannot be edited")
        message = Message("user", check_prompt(prompt))
        self._open_turn(message, None, at=lambda turns: old.parent_id)
        return TurnState()

    def _open_turn(
        self,
        message: Message | None,
        documents: list[Document] | None,
        *,
        title: str = "",
        at: Callable[[list[Turn]], str | None] | None = None,
    ) -> None:
        """Check what would be sent, claim the turn (creating the conversation first if
        there is none), move the head ``at`` a message of the turns as stored now, store
        ``message``. Nothing is stored or sent when a check fails or another writer holds
        the conversation (ConcurrentUpdate)."""
        if message is not None:
            check_breakpoints(message.content, self._system, self.tools.schemas)
            injected = document_blocks(documents) if documents is not None else []
            check_fits(message, engine=self.context, info=self.info, max_tokens=self.max_tokens,
                       system=self._system, tools=self.tools.schemas, injected=injected,
                       input_limit=self._api_limit)  # fmt: skip
        self._check_no_open_stream()
        if self._conv is None:
            self._conv = self.store.create_conversation(
                title=title_from(title or "conversation"),
                model=self.model.name,
                system=self.system or None,
            )
        # One commit for the lease and the message, where nothing waits in memory: the
        # writes before the request are the wait before its first token.
        saved, together = (self._conv, list(self._branch)), not self._unsaved
        try:
            with one_transaction(self.store) if together else nullcontext():
                self._claim_turn()
                if at is not None:
                    self._set_head(at(self.turns))  # the turns as the store has them now
                if message is not None:
                    self._note_tool_change()
                    self._append(message, hold=False)
        except BaseException:
            if together:
                self._conv, self._branch = saved  # nothing of the block was kept
            self._release_turn()
            raise
        self.ledger.start_turn()

    # --- the request of each call --------------------------------------------------------------

    def _context_request(
        self, turn: TurnState | None = None, *, overflow_retry: bool = False, dry_run: bool = False
    ) -> ContextRequest:
        """What the context engine needs for the next request of ``turn``."""
        self._renew_turn()
        injected: list[Block] = []
        first = turn is not None and turn.rounds == 0
        if turn is not None and turn.documents is not None:
            injected.extend(document_blocks(turn.documents))
        if first and turn is not None and turn.prefill and not self.info.prefill:
            injected.append(prefill_hint(turn.prefill))
        fields: dict[str, Any] = {}
        thinking = self._thinking.field(
            self.info, temperature=self.temperature, extra=self.extra_fields
        )
        if thinking:
            fields["thinking"] = thinking
        if self.temperature is not None:
            fields["temperature"] = self.temperature
        if self.stop_sequences:
            fields["stop_sequences"] = self.stop_sequences
        if self.extra_fields:
            fields["extra"] = dict(self.extra_fields)
        if turn is not None and turn.rounds >= self.max_tool_rounds:
            fields["tool_choice"] = {"type": "none"}
        conv = self._conv
        cid = conv.id if conv is not None else None
        hint = conv.metadata.get(WINDOW_START) if conv is not None else None
        return ContextRequest(
            model=self.info,
            max_tokens=self.max_tokens,
            system=self._top_level_system(),
            tools=self._tool_plan().top_level,
            history=self._branch,  # the engine works on its own copy
            injected=injected,
            query=_query(self._branch),
            conversation_id=cid,
            window_start=hint if isinstance(hint, str) else None,
            summaries=(lambda: self.store.summaries(cid)) if cid is not None else None,
            fields=fields,
            previous_message_id=self._previous_api_id,
            input_limit=self._api_limit,  # the server's window, when smaller than ours
            force_compact=self._force_compact,
            overflow_retry=overflow_retry,
            dry_run=dry_run,
        )

    def _side_model(self, name: str) -> M:
        """The model that answers a summary side call: ``name`` through this chat's client,
        or this chat's own model when it is not an SDK model (a test model answers all)."""
        from ..models.anthropic import AnthropicModel, AsyncAnthropicModel

        model = self.model
        if isinstance(model, AnthropicModel):
            return cast(M, AnthropicModel(name, client=model.client))
        if isinstance(model, AsyncAnthropicModel):
            return cast(M, AsyncAnthropicModel(name, client=model.client))
        return model

    def bill_side_request(self, model: str, usage: Usage, *, purpose: str) -> None:
        """Bill a request made for this conversation outside its turns (a generated title):
        in the ledger now, stored with the conversation's next message."""
        self.ledger.record(model, usage, purpose=purpose)
        self._side_usage.append({PURPOSE: purpose, "model": model, "usage": usage.to_dict()})

    def _summary_text(self, call: SideCall, response: ModelResponse) -> str:
        """The answer to a summary side call; its usage is billed to this chat and stored
        with the summary it makes (or with the next reply)."""
        model = call.request.model
        self.ledger.record(model, response.usage, purpose="summary")
        self._side_usage.append(
            {PURPOSE: "summary", "model": model, "usage": response.usage.to_dict()}
        )
        return "".join(b.get("text", "") for b in response.content if b.get("type") == "text")

    def _sending(self, turn: TurnState, prepared: Prepared) -> Prepared:
        """Keep what the policies made, then the request as it is sent: a history the API
        accepts (repaired if it must be), and a prefill the API continues at its end."""
        self._force_compact = False
        self._keep(prepared.keep)
        request: Request = prepared.request
        try:
            validate(request.messages)
        except InvalidHistory as err:
            log.warning("repairing the history before sending: %s", err)
            request.messages = repair(request.messages)
        self._place_changes(prepared)
        if turn.rounds == 0 and turn.prefill and self.info.prefill:
            prefill: Block = {"type": "text", "text": turn.prefill}
            request.messages = [*request.messages, {"role": "assistant", "content": [prefill]}]
        return prepared

    def _keep(self, keep: Keep) -> None:
        """Store what the policies made: new summaries (with what their requests cost) and
        where a trimmed window starts (a cache hint; a failure costs cache hits only)."""
        for summary in keep.summaries:
            if self._side_usage:
                summary = replace(
                    summary, metadata={**summary.metadata, SIDE_USAGE: self._side_usage}
                )
            try:
                self.store.add_summary(summary)
            except StoreError as err:  # made again when needed; its cost goes with the reply
                log.warning("could not store the summary: %s", err)
                continue
            self._side_usage = []
        conv = self._conv
        start = keep.window_start
        if start is None or conv is None or conv.metadata.get(WINDOW_START) == start:
            return
        try:
            self._conv = self.store.update_conversation(
                conv.id, metadata={**conv.metadata, WINDOW_START: start}
            )
        except ClaudeChatError as err:
            log.warning("could not keep the window start in the store: %s", err)

    def _replier(self) -> M:
        """What the turn's requests are sent to: the model, through the thread if on."""
        if self._threads is None:
            return self.model
        return cast(M, self._threads.wrap(self.model, asynchronous=self.asynchronous))

    def _thread_mark(self) -> ThreadMark | None:
        return ThreadMark.from_metadata(self._conv.metadata.get(THREAD)) if self._conv else None

    def _keep_thread(self, mark: ThreadMark) -> None:
        """Keep the thread's mark with the conversation (a failure costs one replay)."""
        conv = self._conv
        if conv is None:
            return
        try:
            metadata = {**conv.metadata, THREAD: mark.to_metadata()}
            self._conv = self.store.update_conversation(conv.id, metadata=metadata)
        except ClaudeChatError as err:
            log.warning("could not keep the message thread in the store: %s", err)

    def _retry_overflow(self, err: ContextOverflow, call: Call, attempt: int) -> bool:
        """After "prompt is too long": remember the input limit the API named (later
        requests are cut to fit it); True when this call is to be made again, trimmed."""
        if err.limit is not None and (self._api_limit is None or err.limit < self._api_limit):
            self._api_limit = err.limit
        return retry_after_overflow(call, attempt)

    # --- one call -------------------------------------------------------------------------------

    def _start_call(self, turn: TurnState) -> tuple[Call, str]:
        """A new Call for the next request, and the text to show first."""
        self._checkpointed_at = None
        self._checkpoint_failed = False
        self._stop_read_at = time.monotonic()  # the first read a second into the reply
        prefill = turn.prefill if turn.rounds == 0 else None
        return start_call(prefill, prefill_sent=self.info.prefill)

    def _take(self, call: Call, event: StreamEvent) -> tuple[Call, str]:
        """One stream event folded into the call (the text to show with it), then its
        store writes (``_keep_up``)."""
        call, piece = accumulate(call, event)
        self._keep_up(call, event)
        return call, piece

    def _keep_up(self, call: Call, event: StreamEvent) -> None:
        """The lease renewed when due, a stop asked through the store obeyed (TurnStopped),
        and the reply checkpointed as its text grows."""
        self._renew_turn()
        if self._stop_read_due():
            self._obey_stop()
        if isinstance(event, TextDelta):
            self._checkpoint(call)

    def _keep_up_due(self, event: StreamEvent) -> bool:
        """True when ``_keep_up`` of this event would read or write the store."""
        return (self._renew_due() or self._stop_read_due()
                or (isinstance(event, TextDelta) and self._checkpoint_due()))  # fmt: skip

    def _streams_sends(self) -> bool:
        """True when ``send`` (and retry, edit) streams its requests rather than waiting for
        a whole reply: above the SDK's limit for a request without streaming, and when stops
        asked through a store that other processes share are watched. A stop is read between
        the events of a stream; a request without one could not be stopped, though the
        service's cancel would say it was."""
        return self.max_tokens > SDK_STREAM_ONLY_ABOVE or (
            self._watches_stops() and bool(getattr(self.store, "shared", False))
        )

    def _watches_stops(self) -> bool:
        """True when the chat watches for stops (``watch_stops``) and the store keeps them."""
        return self.watch_stops and hasattr(self.store, "stop_requested")

    def _stop_read_due(self) -> bool:
        """True every ``STOP_CHECK_SECONDS`` of a reply streamed under a turn lease, when the
        chat watches for stops."""
        return (
            self._lease is not None
            and time.monotonic() - self._stop_read_at >= STOP_CHECK_SECONDS
            and self._watches_stops()
        )

    def _obey_stop(self) -> None:
        """TurnStopped when someone asked through the store (the service's cancel) to stop
        the turn this chat holds; a store that cannot say is logged and the reply goes on."""
        lease = self._lease
        assert lease is not None
        self._stop_read_at = time.monotonic()
        try:
            asked = self.store.stop_requested(lease.conversation_id)  # type: ignore[attr-defined]
        except StoreError as err:
            log.warning("could not read whether the turn was asked to stop: %s", err)
            return
        if asked:
            raise TurnStopped("the turn was stopped from another client (the service's cancel)")

    def _checkpoint_due(self) -> bool:
        last = self._checkpointed_at
        return not self._checkpoint_failed and (
            last is None or time.monotonic() - last >= CHECKPOINT_SECONDS
        )

    def _checkpoint(self, call: Call) -> None:
        """Store the streaming reply as a partial message, at once and then every
        ``CHECKPOINT_SECONDS`` (a crash keeps what arrived); a failure is logged once."""
        if not self._checkpoint_due():
            return
        now = time.monotonic()
        last = self._checkpointed_at
        try:
            self._store_partial(
                checkpoint_message(call, model=self.model.name), replace=last is not None
            )
            self._checkpointed_at = now
        except StoreError as err:  # the reply goes on; it is stored whole at the end
            log.warning("could not checkpoint the reply: %s", err)
            self._checkpoint_failed = True

    def _finish(self, turn: TurnState, prepared: Prepared, call: Call) -> Message:
        """Record and store a complete response."""
        response = call.response
        assert response is not None
        if self._checkpointed_at is not None:
            self._branch.pop()  # the checkpoint: replaced by the whole reply
        msg = reply_message(
            response,
            parent_id=self._head(),
            model=self.model.name,
            prefill=call.prefill,
            prefill_sent=call.prefill_sent,
            message_id=call.message_id,
        )
        entry = self.ledger.record(msg.model or self.model.name, response.usage, message_id=msg.id)
        turn.add_cost(response.usage, entry.cost_usd)
        if self._side_usage:
            msg = msg.with_(metadata={**msg.metadata, SIDE_USAGE: self._side_usage})
            self._side_usage = []
        self._previous_api_id = response.id
        # The reply's count is taught by the output tokens only if it is the response as is.
        same = msg.content == response.content
        self.context.observe(prepared, response, reply=msg if same else None)
        if next_step(msg, turn.pauses) is Next.DONE:
            self._append_last(msg)
        else:
            self._append(msg)
        turn.messages.append(msg)
        turn.last = msg
        return msg

    def _append_last(self, msg: Message) -> None:
        """Store the turn's last reply and give the turn back in one commit (one wait for
        the disk, not two). A commit that fails keeps neither: the reply is held in memory
        as ``_append`` holds it, and the turn is given back on its own at the turn's end,
        as before. A lease lost meanwhile (ConcurrentUpdate) keeps the reply as a side
        branch, as ``_append`` does."""
        if self._lease is None or self._unsaved:
            self._append(msg)
            return
        conv, length, lease = self._conv, len(self._branch), self._lease
        lost: ConcurrentUpdate | None = None
        raised: BaseException | None = None
        try:
            with one_transaction(self.store):
                try:
                    self._append(msg)
                except ConcurrentUpdate as err:  # the side branch is kept with the commit
                    lost = err
                except BaseException as err:  # as without the transaction (a deletion)
                    raised = err
                    raise
                else:
                    self._release_turn()
        except StoreError as err:
            if raised is not None:
                raise
            # the transaction failed (to open, or to commit): nothing of it was kept
            self._conv, self._lease = conv, lease
            del self._branch[length:]
            self._unsaved.clear()  # empty before the block
            self._hold(msg, err)
        if lost is not None:
            raise lost

    def _keep_partial(
        self, turn: TurnState, call: Call, err: BaseException, partial: ModelResponse | None
    ) -> None:
        """Store what arrived of a cut reply as a partial message (and bill its usage)."""
        reason = "interrupted" if isinstance(err, STOPPED) else str(err)
        checkpointed = self._checkpointed_at is not None
        parent = self._branch[-1].parent_id if checkpointed else self._head()
        msg, usage = partial_reply(call, reason, partial, parent_id=parent, model=self.model.name)
        if usage is not None:
            entry = self.ledger.record(self.model.name, usage, message_id=call.message_id)
            turn.add_cost(usage, entry.cost_usd)
        if msg is None and checkpointed:
            msg = Message("assistant", [{"type": "text", "text": "(no text arrived)"}],
                          id=call.message_id, parent_id=parent, model=self.model.name,
                          usage=usage, status="partial", metadata={INTERRUPTED: reason})  # fmt: skip
        if msg is None:
            if usage is not None:
                self._keep_billed_without_text(call.message_id, usage, reason)
            return
        if self._side_usage:  # summaries made for this request are billed with what is kept
            msg = msg.with_(metadata={**msg.metadata, SIDE_USAGE: self._side_usage})
        try:
            self._store_partial(msg, replace=checkpointed)
            self._side_usage = []
        except Exception:  # never let bookkeeping hide the interruption itself
            log.exception("could not store the partial reply")
        turn.messages.append(msg)
        self.last_reply = turn.reply()

    def _keep_billed_without_text(self, message_id: str, usage: Usage, reason: str) -> None:
        """A request cut before any text, whose usage arrived: stored beside the branch as an
        empty partial reply (never sent, not the head), so its cost outlives this process."""
        metadata: dict[str, Any] = {INTERRUPTED: reason}
        if self._side_usage:
            metadata[SIDE_USAGE] = self._side_usage
        msg = Message("assistant", [], id=message_id, parent_id=self._head(),
                      model=self.model.name, usage=usage, status="partial", metadata=metadata)  # fmt: skip
        try:
            self._conv = self.store.append(
                self._require_conv().id, msg, move_head=False, lease=self._owner
            )
            self._side_usage = []
        except Exception:  # never let bookkeeping hide the interruption itself
            log.exception("could not store the usage of the cut request")

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

    # --- after a reply -----------------------------------------------------------------------

    def _next(self, turn: TurnState) -> Next:
        """What the turn does after its newest reply (counting rounds and pauses)."""
        assert turn.last is not None
        step = next_step(turn.last, turn.pauses)
        if step is Next.DONE and turn.last.stop_reason in ("pause_turn", "compaction"):
            log.warning("the turn paused %d times; stopping here", turn.pauses)
        if step is Next.SEND_BACK:
            turn.pauses += 1
        if step is not Next.DONE:
            turn.rounds += 1
        if step is Next.RUN_TOOLS:
            self._renew_turn(ttl=BLOCKING_LEASE_SECONDS, force=True)
        return step

    def _append_results(self, turn: TurnState, results: list[Block]) -> None:
        """Store the tool results of the newest reply as the next user message."""
        turn.messages.append(self._append(Message("user", results)))

    def _end_turn(self, turn: TurnState) -> Reply:
        """The Reply of a finished turn."""
        self.last_reply = turn.reply()
        return self.last_reply

    # --- storing ----------------------------------------------------------------------------

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


def _memory_store() -> Store:
    """The store of a chat given none: in memory, for this process only."""
    from ..store.memory import MemoryStore

    return MemoryStore()


def _engine(
    context: ContextEngine | Sequence[ContextPolicy] | None,
    budget: Budget,
    summary_model: str | None,
) -> ContextEngine:
    """The chat's context engine: the one given, or one over the policies given (the
    "window" strategy by default); ``summary_model`` sets who writes its summaries."""
    if isinstance(context, ContextEngine):
        engine = context
    else:
        engine = ContextEngine(list(context) if context is not None else None, budget=budget)
    if summary_model is not None:
        engine.summary_model = summary_model
    return engine


def _query(branch: Sequence[Message]) -> str:
    """The newest user text: what recall and documents look for."""
    for m in reversed(branch):
        if m.is_user_text:
            return m.text
    return ""


def _text(blocks: Sequence[Block]) -> str:
    return "".join(b.get("text", "") for b in blocks if b.get("type") == "text")


def resolve_model(model: object, client: Any, *, asynchronous: bool) -> Any:
    """A model name made a Model through the SDK (``client`` if given); a Model as is."""
    if not isinstance(model, str):
        if not hasattr(model, "name"):
            raise UserError(f"model must be a model name or a Model, got {type(model).__name__}")
        return model
    if not model.strip():
        raise UserError("the model name is empty")
    from ..models.anthropic import AnthropicModel, AsyncAnthropicModel

    cls = AsyncAnthropicModel if asynchronous else AnthropicModel
    return cls(model, client=client)
