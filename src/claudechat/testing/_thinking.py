"""The emulator's thinking rules, as the API applies them per model.

Adaptive thinking (``{"type": "adaptive"}``) is taken by the 4.6 models and every model
from 4.7 on; a budget (``{"type": "enabled", "budget_tokens": N}``) by every model up to
4.6 and refused from 4.7 on, each with the API's own 400 message.
"""

from __future__ import annotations

import re
from typing import Any

from ._errors import invalid
from ._models import ModelFacts

__all__ = ["validate_thinking"]

_KINDS = ("adaptive", "between_tools", "disabled", "enabled")
_BOTH = re.compile(r"^claude-(opus|sonnet)-4-6")
BUDGET_REFUSED = (
    '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" '
    'and "output_config.effort" to control thinking behavior.'
)
ADAPTIVE_REFUSED = "adaptive thinking is not supported on this model"


def takes_adaptive(facts: ModelFacts) -> bool:
    """Whether the model takes thinking={"type": "adaptive"}."""
    return facts.new_tokenizer or bool(_BOTH.match(facts.name))


def validate_thinking(thinking: Any, facts: ModelFacts) -> None:
    """A 400 (EmuAPIError) for a thinking config the model refuses; None when it is fine."""
    if thinking is None:
        return
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in _KINDS:
        raise invalid(
            f"thinking: Input tag {kind!r} found using 'type' does not match any of the "
            f"expected tags: {', '.join(repr(k) for k in _KINDS)}"
        )
    if kind == "adaptive":
        if "budget_tokens" in thinking:
            raise invalid("thinking.adaptive.budget_tokens: Extra inputs are not permitted")
        if not takes_adaptive(facts):
            raise invalid(ADAPTIVE_REFUSED)
    if kind == "enabled" and facts.new_tokenizer:
        raise invalid(BUDGET_REFUSED)
