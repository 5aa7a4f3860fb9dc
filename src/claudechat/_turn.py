"""The parts of a turn that do no I/O, shared by Chat and AsyncChat.

``TurnState`` holds what one user turn has produced so far; ``Reply`` is what the caller
gets back. Keeping these pure lets the sync and async loops differ only where they wait.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .context.base import Candidate, ContextPolicy, candidate_tokens
from .errors import UserError
from .estimates import text_bound
from .messages import Block, Message, content_problem, new_id, text_of
from .models.base import ModelResponse
from .models.capabilities import ModelInfo
from .tokens import REQUEST_OVERHEAD, SYSTEM_OVERHEAD, TOOL_OVERHEAD, TOOLS_PREAMBLE
from .usage import Usage

if TYPE_CHECKING:
    from .context.engine import ContextEngine

__all__ = [
    "Reply",
    "TurnState",
    "check_fits",
    "check_output_cap",
    "check_prefill",
    "check_prompt",
    "check_system",
    "response_message",
]

_PREFILL_HINT = "Begin your reply with exactly this text, then continue it naturally: {prefix!r}"


@dataclass(slots=True)
class Reply:
    """The outcome of one user turn.

    ``text`` is the final answer's text (tool rounds excluded); ``messages`` every message
    the turn added after the prompt (replies and tool results); ``usage`` / ``cost_usd``
    the turn's requests (cost None when unknown).
    """

    message: Message
    messages: list[Message]
    usage: Usage
    cost_usd: float | None
    prefill: str | None = None

    @property
    def text(self) -> str:
        """The reply text, beginning with the prefill when one was asked."""
        return self.message.text

    @property
    def stop_reason(self) -> str | None:
        """Why the model stopped (end_turn, max_tokens, tool_use, ...)."""
        return self.message.stop_reason

    @property
    def truncated(self) -> bool:
        """True when the reply hit max_tokens (or the context window) and was cut."""
        return self.stop_reason in ("max_tokens", "model_context_window_exceeded")

    @property
    def partial(self) -> bool:
        """True when the stream was interrupted and only part of the reply arrived."""
        return self.message.status != "complete"

    @property
    def id(self) -> str:
        """The assistant message id."""
        return self.message.id

    def __str__(self) -> str:
        return self.text


def check_prompt(content: Any) -> list[Block]:
    """The user content as blocks, or a UserError naming what is wrong with it.

    Checked before anything is stored or sent: empty text, blocks without a type, text
    that is not valid Unicode, values JSON cannot carry, and base64 data that is not base64.
    """
    blocks = _prompt_blocks(content)
    problem = content_problem(blocks, "prompt")
    if problem:
        raise UserError(f"{problem}; nothing was stored or sent")
    return blocks


def _prompt_blocks(content: Any) -> list[Block]:
    if isinstance(content, str):
        if not content.strip():
            raise UserError("the prompt is empty")
        return [{"type": "text", "text": content}]
    if isinstance(content, list | tuple) and content:
        blocks = []
        for i, b in enumerate(content):
            if not isinstance(b, Mapping) or "type" not in b:
                raise UserError(f"prompt block {i} is not a content block dict with a 'type'")
            if b["type"] == "text" and not str(b.get("text", "")).strip():
                raise UserError(f"prompt block {i} is an empty text block")
            blocks.append(dict(b))
        if not any(b["type"] not in ("tool_result",) for b in blocks):
            raise UserError("the prompt holds only tool results")
        return blocks
    if isinstance(content, list | tuple):
        raise UserError("the prompt is empty")
    raise UserError(
        f"the prompt must be a string or a list of content blocks, not {type(content).__name__}"
    )


def check_prefill(prefill: Any) -> None:
    """Refuse a prefill the API would reject or no store could keep (None: no prefill)."""
    if prefill is None:
        return
    if not isinstance(prefill, str) or not prefill:
        raise UserError("prefill must be a non-empty string")
    if prefill != prefill.rstrip():
        raise UserError("prefill cannot end with whitespace (the API rejects it)")
    problem = content_problem(prefill, "prefill")
    if problem:
        raise UserError(problem)


def check_system(system: Any) -> list[Block]:
    """The system prompt as blocks (none when empty), or a UserError naming what is wrong."""
    if system is None or system == "":
        return []
    if isinstance(system, str):
        blocks: list[Block] = [{"type": "text", "text": system}]
    elif isinstance(system, list | tuple) and all(isinstance(b, Mapping) for b in system):
        blocks = [dict(b) for b in system]
    else:
        raise UserError(
            f"the system prompt must be a string or a list of blocks, not {type(system).__name__}"
        )
    problem = content_problem(blocks, "system")
    if problem:
        raise UserError(problem)
    return blocks


def check_output_cap(max_tokens: int, info: ModelInfo) -> None:
    """Refuse a max_tokens over the model's known output cap (the API would reject it)."""
    if info.known and max_tokens > info.max_output:
        raise UserError(
            f"max_tokens {max_tokens:,} is over {info.name}'s output limit of "
            f"{info.max_output:,} tokens"
        )


def check_fits(
    message: Message,
    *,
    engine: ContextEngine,
    info: ModelInfo,
    max_tokens: int,
    system: list[Block],
    tools: list[dict[str, Any]],
    injected: list[Block],
    input_limit: int | None,
) -> None:
    """Refuse, before storing it, a prompt that cannot fit the budget whatever is dropped.

    A cheap upper bound settles the usual case without the offline tokenizer."""
    if any(_truncates(p) for p in engine.policies):
        return  # the window cuts an oversized turn to fit
    budget = engine.budget_for(info, max_tokens)
    if input_limit is not None:
        budget = min(budget, input_limit)
    counter = engine.counter
    counter.use(info)
    frame = REQUEST_OVERHEAD + SYSTEM_OVERHEAD + TOOLS_PREAMBLE + TOOL_OVERHEAD * len(tools)
    fixed = json.dumps([system, tools, injected], ensure_ascii=False)
    if frame + text_bound(fixed) + counter.message_bound(message) <= budget:
        return
    alone = Candidate(system=system, tools=tools, history=[message], injected=injected)
    needed = candidate_tokens(alone, counter)
    if needed > budget:
        raise UserError(
            f"the prompt needs about {needed:,} tokens with the system prompt and tools, "
            f"over the {max(budget, 0):,}-token budget; shorten it or raise the budget "
            "(nothing was stored or sent)"
        )


def _truncates(policy: ContextPolicy) -> bool:
    """True when a policy (or the window inside it) cuts a turn too big for the budget."""
    window = getattr(policy, "window", policy)
    return bool(getattr(window, "allow_truncate", False))


def prefill_hint(prefix: str) -> Block:
    """The instruction that emulates a prefill on models that refuse one."""
    return {"type": "text", "text": _PREFILL_HINT.format(prefix=prefix)}


def _clean_content(
    content: list[Block], stop_reason: str | None
) -> tuple[list[Block], list[Block]]:
    """Content safe to store and resend, and the blocks that had to be dropped."""
    kept: list[Block] = []
    dropped: list[Block] = []
    for b in content:
        kind = b.get("type")
        if kind == "text" and not b.get("text"):
            continue
        if kind == "tool_use" and stop_reason in ("max_tokens", "model_context_window_exceeded"):
            dropped.append(b)  # cut mid-call: it can neither run nor be answered
            continue
        kept.append(b)
    return kept, dropped


def response_message(
    response: ModelResponse,
    *,
    parent_id: str | None,
    model: str,
    status: str = "complete",
    prefill: str | None = None,
    prefill_sent: bool = False,
    message_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Message:
    """The assistant Message to store for a (possibly partial) response.

    A prefill sent to the API is continued by the response, so it is always prepended;
    an emulated one is prepended only when the model did not repeat it (as the stream
    shows it: a repeat cut short counts as a repeat).
    """
    content, dropped = _clean_content(response.content, response.stop_reason)  # new lists
    if status != "complete":
        content = [b for b in content if b.get("type") == "text" and b.get("text")]
    if prefill:
        first_text = next((b for b in content if b.get("type") == "text"), None)
        if first_text is None:
            content.insert(0, {"type": "text", "text": prefill})
        elif prefill_sent or not first_text["text"].startswith(prefill):
            idx = content.index(first_text)
            text = first_text["text"]
            repeat_cut = not prefill_sent and prefill.startswith(text)  # e.g. cut by max_tokens
            content[idx] = {**first_text, "text": prefill if repeat_cut else prefill + text}
    meta = dict(metadata or {})
    if dropped:
        meta["dropped_blocks"] = dropped
    if response.cache_miss_reason:
        meta["cache_miss_reason"] = response.cache_miss_reason
    if response.id:
        meta["api_id"] = response.id
    if response.context_management:
        meta["context_management"] = response.context_management
    return Message(
        role="assistant",
        content=content,
        id=message_id or new_id(),
        parent_id=parent_id,
        model=response.model or model,
        usage=response.usage if response.usage.requests else None,
        stop_reason=response.stop_reason,
        status=status,  # type: ignore[arg-type]
        metadata=meta,
    )


@dataclass(slots=True)
class TurnState:
    """What the current user turn has produced: messages, usage, rounds."""

    prefill: str | None = None
    documents: Any = None
    messages: list[Message] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost: float | None = 0.0
    rounds: int = 0
    pauses: int = 0  # pause_turn / compaction continuations
    last: Message | None = None  # the newest assistant message of the turn

    def add_cost(self, usage: Usage, cost: float | None) -> None:
        """Count one request's usage and cost (cost stays None once any is unknown)."""
        self.usage = self.usage + usage
        self.cost = None if cost is None or self.cost is None else self.cost + cost

    def reply(self) -> Reply:
        """The Reply for the turn so far (its last assistant message)."""
        final = next(m for m in reversed(self.messages) if m.role == "assistant")
        return Reply(final, list(self.messages), self.usage, self.cost, self.prefill)


def preview(message: Message, width: int = 60) -> str:
    """A one-line preview of a message's text."""
    text = " ".join(text_of(message.content).split())
    return text if len(text) <= width else text[: width - 1] + "…"
