"""The checks a turn makes before anything is stored or sent.

Each raises a ``UserError`` that names the problem; the chat calls them first, so a bad
prompt, prefill, system prompt or size never reaches the store or the API.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..context.base import Candidate, ContextPolicy, candidate_tokens
from ..errors import UserError
from ..estimates import text_bound
from ..messages import Block, Message, content_problem
from ..models.capabilities import ModelInfo
from ..tokens import REQUEST_OVERHEAD, SYSTEM_OVERHEAD, TOOL_OVERHEAD, TOOLS_PREAMBLE

if TYPE_CHECKING:
    from ..context.engine import ContextEngine

__all__ = [
    "check_fits",
    "check_output_cap",
    "check_prefill",
    "check_prompt",
    "check_system",
    "prefill_hint",
]

_PREFILL_HINT = "Begin your reply with exactly this text, then continue it naturally: {prefix!r}"


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
