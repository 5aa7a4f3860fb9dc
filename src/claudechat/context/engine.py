"""``ContextEngine``: the history in, the Request to send out.

It runs the configured policies, checks the result against the budget (exactly, with the
``count_tokens`` endpoint, only when an estimate is too close to call), renders the API
fields, places cache breakpoints, and learns exact token counts from each response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ClaudeChatError, ContextOverflow, UserError
from ..messages import Block, Message, to_api_messages
from ..models.base import ModelResponse, Request
from ..models.capabilities import ModelInfo
from ..tokens import TokenAccountant, ctok_available
from .base import (
    Candidate,
    ContextPolicy,
    ContextRequest,
    ContextState,
    Keep,
    SideCall,
    candidate_tokens,
    fixed_tokens,
    run_pipeline,
    summary_block,
)
from .caching import Layout, PromptCaching
from .compaction import ServerCompaction
from .diagnosis import diagnosis_fields
from .ledger import FactLedger
from .report import WindowFill
from .side_calls import Asker, Unanswered
from .summary import RollingSummary, make_summarizer
from .tool_results import ClearToolResults
from .window import TokenWindow, turn_starts

log = logging.getLogger("claudechat")

__all__ = ["DEFAULT_BUDGET", "Budget", "ContextEngine", "Prepared", "Strategy", "strategy_policies"]

Strategy = Literal["window", "summary", "compact"]
Budget = int | Literal["max"] | None
# Input tokens a request holds unless the caller says otherwise. On a 1M-token window a
# full request costs $0.30 (cache reads) to $2.93 (uncached) on Sonnet 4.6 every turn;
# at 200,000 it costs $0.06 to $0.60, the whole window of the 200K models. "max" lifts it.
DEFAULT_BUDGET = 200_000
_REQUEST_FIELDS = ("thinking", "tool_choice", "stop_sequences", "temperature", "metadata", "extra")
_DEFAULT_CACHING = PromptCaching()


def strategy_policies(
    strategy: str = "window",
    *,
    clear_tool_results: bool = False,
    pin_first: bool = False,
    low_water: float | None = None,
    high_water: float = 1.0,
    facts: bool = False,
    facts_tokens: int = 300,
) -> list[ContextPolicy]:
    """The policy list for a named strategy: "window", "summary" or "compact".

    ``facts``: add a `FactLedger` (the exact facts of dropped turns that the request no
    longer holds, the summary's lost ones included, up to ``facts_tokens`` a request).
    """
    low = low_water if low_water is not None else (0.5 if strategy == "summary" else 0.6)
    window = TokenWindow(pin_first=pin_first, high_water=high_water, low_water=low)
    head: list[ContextPolicy] = [ClearToolResults()] if clear_tool_results else []
    tail: list[ContextPolicy] = [FactLedger(max_tokens=facts_tokens)] if facts else []
    if strategy == "window":
        return [*head, window, *tail]
    if strategy == "summary":
        return [*head, RollingSummary(window=window), *tail]
    if strategy == "compact":
        return [*head, ServerCompaction(), window, *tail]
    raise UserError(f"unknown context strategy {strategy!r}: use window, summary or compact")


@dataclass(slots=True)
class Prepared:
    """What ``prepare`` made: the request, the candidate it came from, and its counts.

    ``upper_tokens`` bounds the estimate from above and is all the budget checks need
    while it is far from the budget; ``estimated_tokens`` is the offline estimate, made
    when first read (new messages are estimated only then).
    """

    request: Request
    candidate: Candidate
    upper_tokens: int
    budget: int
    model: ModelInfo
    parts: list[str] = field(default_factory=list)
    exact_tokens: int | None = None  # from count_tokens or, after observe, from usage
    history_messages: int = 0  # messages in the full history given to prepare
    estimate: Callable[[], int] | None = None  # makes estimated_tokens (None: the bound is it)
    upper_all: int = 0  # upper_tokens with the messages before a compaction block too
    keep: Keep = field(default_factory=Keep)  # what the policies made, for the chat to store
    _estimated: int | None = None

    @property
    def estimated_tokens(self) -> int:
        """The offline estimate of the request's input tokens."""
        if self._estimated is None:
            self._estimated = self.estimate() if self.estimate is not None else self.upper_tokens
        return self._estimated


class ContextEngine:
    """Turns the active branch into a Request that fits the budget at the lowest cost."""

    def __init__(
        self,
        policies: Sequence[ContextPolicy] | None = None,
        *,
        budget: Budget = None,
        caching: PromptCaching | None = _DEFAULT_CACHING,
        counter: TokenAccountant | None = None,
        summary_model: str = "claude-haiku-4-5",
        margin: int | None = None,
        offload: bool = False,
    ) -> None:
        self.policies: list[ContextPolicy] = (
            list(policies) if policies is not None else strategy_policies("window")
        )
        self.budget: int | None = _resolve_budget(budget)  # None: the model's whole window
        self.caching = PromptCaching() if caching is _DEFAULT_CACHING else caching
        self.counter = counter or TokenAccountant()
        self.summary_model = summary_model
        self.margin = margin
        self.last: Prepared | None = None
        self._learned_prefix: tuple[int, str] | None = None  # (index, id): counts all learned
        self.near = 0.97 if ctok_available() else 0.9  # ask count_tokens above this share
        # True: AsyncChat runs the steps in a worker thread, off its event loop (every index
        # the policies use must then work from any thread, as the service's do)
        self.offload = offload

    # budget -------------------------------------------------------------------------------

    def budget_for(self, model: ModelInfo, max_tokens: int) -> int:
        """Input tokens a request may hold: the budget (``DEFAULT_BUDGET`` unless set; "max":
        no cap), at most window − max_tokens − margin."""
        margin = self.margin if self.margin is not None else max(1024, model.context_window // 50)
        room = model.context_window - max_tokens - margin
        return min(room, self.budget) if self.budget is not None else room

    # prepare ------------------------------------------------------------------------------

    def prepare(
        self,
        request: ContextRequest,
        *,
        complete: Callable[[Request], str] | None = None,
        count: Callable[[Request], int] | None = None,
    ) -> Prepared:
        """Run the policies over ``request.history`` and build the request to send,
        answering the engine's side calls with ``complete`` (a summary request -> its text)
        and ``count`` (a request -> its exact input tokens). Without them no summary is made
        and nothing is counted exactly. The chats answer side calls themselves (``step``).
        """
        answers: dict[str, str | int] = {}
        while True:
            step = self.step(request, answers, summaries=complete is not None,
                             counts=count is not None)  # fmt: skip
            if isinstance(step, Prepared):
                return step
            if step.kind == "summary":
                assert complete is not None
                answers[step.key] = complete(step.request)
            else:
                assert count is not None
                answers[step.key] = count(step.request)

    def step(
        self,
        request: ContextRequest,
        answers: Mapping[str, str | int],
        *,
        summaries: bool = True,
        counts: bool = True,
    ) -> Prepared | SideCall:
        """One attempt at ``prepare`` with the side calls answered so far: the Prepared
        request, or the next side call to answer (then call again with its answer added).

        Side calls are model calls the engine needs (a summary, an exact count); it makes
        none itself, so a sync and an async chat drive the same engine. Each attempt runs
        the policies again from the start; answered calls are found in ``answers``.
        ``summaries`` / ``counts``: False when the caller cannot answer that kind.
        """
        undo: list[Callable[[], None]] = []
        try:
            return self._prepare(request, Asker(answers), summaries, counts, undo)
        except Unanswered as missing:
            while undo:  # the policies remember nothing of an attempt cut short
                undo.pop()()
            return missing.call

    def _prepare(
        self,
        request: ContextRequest,
        ask: Asker,
        summaries: bool,
        counts: bool,
        undo: list[Callable[[], None]],
    ) -> Prepared:
        self.counter.use(request.model)
        budget = self._budget(request)
        fit = _Fit(request.max_tokens, _checked_fields(request), request.previous_message_id)
        state = self._state(request, budget, ask if summaries else None, undo)
        candidate = Candidate(
            system=list(request.system),
            tools=list(request.tools),
            history=list(request.history),
            injected=list(request.injected),
        )
        prepared = self._fitted(candidate, state, fit)
        may_count = counts and not request.dry_run
        if (
            may_count
            and not ask.summaries
            and self._learn_before_dropping(prepared, candidate, state, fit, ask.count)
        ):
            prepared = self._fitted(candidate, state, fit)
        if may_count:
            prepared = self._count_when_near(prepared, candidate, state, fit, ask.count)
        prepared.history_messages = len(request.history)
        prepared.keep = state.keep
        if not request.dry_run:
            self.last = prepared
        return prepared

    def _budget(self, request: ContextRequest) -> int:
        """Input tokens this request may hold (a limit the server named lowers it)."""
        budget = self.budget_for(request.model, request.max_tokens)
        if request.input_limit is not None and request.input_limit < budget:
            budget = request.input_limit
        if budget <= 0:
            raise UserError(
                f"no room for input: max_tokens {request.max_tokens:,} fills the window"
            )
        return budget

    def _state(
        self,
        request: ContextRequest,
        budget: int,
        ask: Asker | None,
        undo: list[Callable[[], None]],
    ) -> ContextState:
        """What the policies may consult for this request; summaries only with ``ask``."""
        return ContextState(
            budget=budget,
            counter=self.counter,
            model=request.model,
            conversation_id=request.conversation_id,
            history=request.history,
            summarize=make_summarizer(ask.complete, model=self.summary_model) if ask else None,
            summary_model=self.summary_model,
            stored_summaries=request.summaries,
            window_start=request.window_start,
            query=request.query,
            force_compact=request.force_compact,
            overflow_retry=request.overflow_retry,
            dry_run=request.dry_run,
            undo=undo,
            bound=self.counter.request_bounds(),
        )

    def _count_when_near(
        self,
        prepared: Prepared,
        candidate: Candidate,
        state: ContextState,
        fit: _Fit,
        count: Callable[[Request], int],
    ) -> Prepared:
        """When the estimate is too close to the budget to trust, the exact count decides:
        a request over the budget is made again for a budget cut by the excess."""
        budget = state.budget
        limit = budget * self.near
        if prepared.upper_tokens <= limit or prepared.estimated_tokens <= limit:
            return prepared
        exact = self.counter.exact_total(prepared.request, count)
        self.counter.learn(prepared.parts, exact)
        prepared.exact_tokens = exact
        if exact <= budget:
            return prepared
        state.bound = self.counter.request_bounds()  # the counts just changed
        state.budget = budget - (exact - budget) - max(256, budget // 100)
        state.overflow_retry = True
        prepared = self._fitted(candidate, state, fit)
        prepared.budget = budget
        return prepared

    def _learn_before_dropping(
        self,
        prepared: Prepared,
        candidate: Candidate,
        state: ContextState,
        fit: _Fit,
        count: Callable[[Request], int],
    ) -> bool:
        """Turns are about to leave the request on offline estimates (a resumed chat has
        learned nothing yet): learn the exact count of the whole history first, once, so no
        turn is dropped that fits. True when the policies should run again."""
        history = candidate.history
        if len(prepared.candidate.history) >= len(history):
            return False  # nothing dropped
        counter = self.counter
        if self._unsure_tokens(history) <= state.budget // 10:
            return False  # decided on exact counts but for the newest messages: close enough
        full = self._render(candidate, state, fit)
        if full.upper_tokens > state.model.context_window:
            return False  # too long for the count endpoint too; the estimate will do
        try:
            exact = counter.exact_total(full.request, count)
        except ClaudeChatError as err:
            log.info("count_tokens failed (%s); trimming on the estimate", err)
            return False
        counter.learn(full.parts, exact)
        state.bound = counter.request_bounds()  # the counts just changed
        return True

    def _unsure_tokens(self, history: list[Message]) -> int:
        """Estimated tokens of the messages whose count was never learned. The learned
        prefix is remembered by its last message (a branch's path to it is unique), so a
        running chat looks only at its newest messages."""
        counter = self.counter
        start, known = 0, self._learned_prefix
        if known is not None and known[0] < len(history) and history[known[0]].id == known[1]:
            start = known[0] + 1
        unsure, prefix_ends = 0, start - 1
        for i in range(start, len(history)):
            if counter.is_exact(counter.message_key(history[i])):
                if prefix_ends == i - 1:
                    prefix_ends = i
            else:
                unsure += counter.message_tokens(history[i])
        if prefix_ends >= 0:
            self._learned_prefix = (prefix_ends, history[prefix_ends].id)
        return unsure

    def _fitted(
        self,
        candidate: Candidate,
        state: ContextState,
        fit: _Fit,
    ) -> Prepared:
        """The policies' request, rendered; cut down by ``_ensure_fits`` when even its upper
        bound (which rendering sums anyway) passes the budget."""
        out = run_pipeline(self.policies, candidate, state)
        prepared = self._render(out, state, fit)
        if prepared.upper_all > state.budget:
            fitted = self._ensure_fits(out, state)
            if fitted is not out:
                prepared = self._render(fitted, state, fit)
        return prepared

    def _ensure_fits(self, candidate: Candidate, state: ContextState) -> Candidate:
        """Last guard: drop the oldest turns, then cut injected blocks, until it fits."""
        counter = state.counter
        if self._total(candidate, upper=state.bound) <= state.budget:
            return candidate
        total = self._total(candidate)
        if total <= state.budget:
            return candidate
        history = candidate.history
        starts = turn_starts(history)
        bounds = [*starts, len(history)]
        for t in range(len(starts) - 1):
            total -= sum(counter.message_tokens(m) for m in history[bounds[t] : bounds[t + 1]])
            if total <= state.budget:
                kept = history[bounds[t + 1] :]
                notes = {**candidate.notes, "guard_dropped": bounds[t + 1]}
                return candidate.with_(history=kept, notes=notes)
        last = history[starts[-1] :] if starts else history
        candidate = candidate.with_(history=last)
        if candidate.injected:
            fixed = self._total(candidate.with_(injected=[]))
            room = state.budget - fixed
            text = "\n".join(str(b.get("text", "")) for b in candidate.injected)
            tokens = counter.blocks_tokens(candidate.injected)
            if room > 64 and text:
                keep = int(len(text) * (room - 32) / max(tokens, 1) * 0.9)
                cut = {"type": "text", "text": text[:keep] + "\n[… cut to fit …]"}
                trimmed = candidate.with_(injected=[cut])
                if self._total(trimmed) <= state.budget:
                    return trimmed
        raise ContextOverflow(
            f"the request needs {self._total(candidate):,} tokens but the budget is "
            f"{state.budget:,}",
            tokens=self._total(candidate),
            limit=state.budget,
        )

    def _total(self, candidate: Candidate, *, upper: Callable[[Message], int] | None = None) -> int:
        """The candidate's estimated tokens, or with ``upper`` its upper bound."""
        if upper is None:
            return candidate_tokens(candidate, self.counter)
        return fixed_tokens(candidate, self.counter) + sum(upper(m) for m in candidate.history)

    def _render(
        self,
        candidate: Candidate,
        state: ContextState,
        fit: _Fit,
    ) -> Prepared:
        """The candidate as a Request, with the keys of its parts (for learning) and its
        upper bound; the offline estimate is made only if it is asked for."""
        counter = self.counter
        system = list(candidate.system)
        parts = [counter.overhead_key(candidate.system, candidate.tools)]
        fixed = counter.overhead_tokens(candidate.system, candidate.tools)
        if candidate.summary:
            block = summary_block(candidate.summary)
            system.append(block)
            fixed += counter.blocks_tokens([block])
            parts.append(counter.blocks_key([block]))
        history = candidate.history
        cut = _before_compaction(history)
        sent = history[cut:]
        bound = state.bound or counter.message_bound
        bounds = [bound(m) for m in sent]
        upper = sum(bounds)
        # A message with nothing to send (a partial reply with no text) counts 0: no part.
        parts.extend(counter.message_key(m) for m, b in zip(sent, bounds, strict=True) if b)
        # What the API ignores still counts for the fit check (``_ensure_fits``'s total).
        ignored = sum(bound(m) for m in history[:cut])
        messages = to_api_messages(history)
        injected_into = None
        if candidate.injected:
            injected_into = _inject(messages, candidate.injected)
            fixed += counter.blocks_tokens(candidate.injected)
            parts.append(counter.blocks_key(candidate.injected))
        request = self._request(candidate, state, fit, messages, system, injected_into)

        def estimate() -> int:
            return fixed + sum(counter.message_tokens(m) for m in sent)

        return Prepared(
            request,
            candidate,
            fixed + upper,
            state.budget,
            state.model,
            parts,
            estimate=estimate,
            upper_all=fixed + upper + ignored,
        )

    def _request(
        self,
        candidate: Candidate,
        state: ContextState,
        fit: _Fit,
        messages: list[dict[str, Any]],
        system: list[Block],
        injected_into: int | None,
    ) -> Request:
        """The Request of the rendered fields, with cache breakpoints placed."""
        edits = candidate.edits
        diagnostics, diagnosis_betas = diagnosis_fields(state.model, fit.previous_id)
        request = Request(
            model=state.model.name,
            max_tokens=fit.max_tokens,
            messages=messages,
            system=system,
            tools=list(candidate.tools),
            context_management={"edits": list(edits)} if edits else None,
            betas=list(dict.fromkeys([*candidate.betas, *diagnosis_betas])),
            diagnostics=diagnostics,
            **fit.fields,
        )
        if self.caching is None:
            return request
        layout = Layout(
            system_base=len(candidate.system),
            summary=bool(candidate.summary),
            injected=len(candidate.injected),
            injected_into=injected_into,
        )
        return self.caching.apply(request, layout)

    # learning -----------------------------------------------------------------------------

    def observe(
        self, prepared: Prepared, response: ModelResponse, *, reply: Message | None = None
    ) -> None:
        """Learn exact counts from a response's usage (skipped when the server edited it).

        ``reply``: the stored message holding exactly the response's content, whose count
        the response's output tokens give.
        """
        usage = response.usage
        if reply is not None:
            self.counter.use(prepared.model)
            self.counter.teach_reply(reply, usage.output_tokens)
        total = usage.input_tokens + usage.cache_write_tokens + usage.cache_read_tokens
        applied = (response.context_management or {}).get("applied_edits")
        compacted = any(b.get("type") == "compaction" for b in response.content)
        if total <= 0 or applied or compacted:
            return
        self.counter.use(prepared.model)
        self.counter.learn(prepared.parts, total)
        prepared.exact_tokens = total

    # reports ------------------------------------------------------------------------------

    def fill(self, prepared: Prepared | None = None) -> WindowFill:
        """How full the window is in the last (or given) request: tokens against budget."""
        p = prepared or self.last
        if p is None:
            return WindowFill(tokens=0, budget=self.budget or 0, exact=False)
        c = p.candidate
        counter = self.counter
        summary = counter.blocks_tokens([summary_block(c.summary)]) if c.summary else 0
        return WindowFill(
            tokens=p.exact_tokens if p.exact_tokens is not None else p.estimated_tokens,
            budget=p.budget,
            exact=p.exact_tokens is not None,
            context_window=p.model.context_window,
            max_tokens=p.request.max_tokens,
            system_tokens=counter.overhead_tokens(c.system, c.tools),
            summary_tokens=summary,
            injected_tokens=counter.blocks_tokens(c.injected),
            messages_tokens=sum(counter.message_tokens(m) for m in c.history),
            turns_sent=len(turn_starts(c.history)),
            messages_sent=len(c.history),
            messages_total=p.history_messages,
            notes=dict(c.notes),
        )


def _resolve_budget(budget: Budget) -> int | None:
    """The budget as a number of tokens (None: the whole window), or a UserError."""
    if budget is None:
        return DEFAULT_BUDGET
    if budget == "max":
        return None
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise UserError(f'budget must be a positive number of tokens or "max", got {budget!r}')
    return budget


def _checked_fields(request: ContextRequest) -> dict[str, Any]:
    """The extra request fields (thinking, temperature, ...), or a UserError naming any
    field a request cannot take."""
    fields = dict(request.fields)
    unknown = fields.keys() - _REQUEST_FIELDS
    if unknown:
        raise UserError(f"unknown request fields: {', '.join(sorted(unknown))}")
    return fields


def _inject(messages: list[dict[str, Any]], injected: Sequence[Block]) -> int:
    """Append the injected blocks to the last user message; returns its index."""
    into = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
    if into is None:
        raise UserError("injected context needs a user message to go with")
    target = messages[into]
    messages[into] = {**target, "content": [*target["content"], *injected]}
    return into


def _before_compaction(history: Sequence[Message]) -> int:
    """Messages at the start that the API ignores (before the last compaction block)."""
    for i in range(len(history) - 1, -1, -1):
        m = history[i]
        if m.role == "assistant":
            for b in m.content:
                if b.get("type") == "compaction":
                    return i
    return 0


@dataclass(frozen=True, slots=True)
class _Fit:
    """The request fields that rendering adds to what the policies chose."""

    max_tokens: int
    fields: dict[str, Any]
    previous_id: str | None  # the last response's API id, for cache diagnostics
