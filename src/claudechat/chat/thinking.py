"""What a chat sends as ``thinking``: adaptive by default where the model takes it.

A chat's ``thinking`` option is "auto" (the default: ``{"type": "adaptive"}`` on a model
whose capability entry says it supports adaptive thinking, nothing elsewhere), None or
"off" (nothing), "adaptive", a budget in tokens (``{"type": "enabled", "budget_tokens":
N}``), or the API's own dict, sent as is. "auto" also stays off when the chat sets what
the API refuses with thinking (a temperature, ``top_k``) or passes ``thinking`` itself in
``extra_fields``. A budget on a model the SDK lists as deprecating it
(``anthropic/_data/models_to_warn_with_thinking_enabled.py``) gives one
``ThinkingDeprecationWarning`` per chat instead of the SDK's warning on every request.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from ..errors import UserError
from ..models.capabilities import ModelInfo

__all__ = ["ThinkingChoice", "ThinkingDeprecationWarning", "ThinkingSetting", "check_thinking"]

ThinkingSetting = Mapping[str, Any] | str | int | None
MIN_BUDGET = 1024  # the API's least budget_tokens


class ThinkingDeprecationWarning(UserWarning):
    """Thinking with a token budget on a model where the API deprecates it for adaptive."""


def check_thinking(setting: ThinkingSetting) -> dict[str, Any] | str | None:
    """The setting made "auto", None or a thinking dict; UserError for anything else."""
    if setting is None or setting == "off":
        return None
    if setting == "auto":
        return "auto"
    if setting == "adaptive":
        return {"type": "adaptive"}
    if isinstance(setting, int) and not isinstance(setting, bool):
        if setting < MIN_BUDGET:
            raise UserError(f"a thinking budget is at least {MIN_BUDGET} tokens, not {setting}")
        return {"type": "enabled", "budget_tokens": setting}
    if isinstance(setting, Mapping) and isinstance(setting.get("type"), str):
        return dict(setting)
    raise UserError(
        f"thinking must be 'auto', 'off', 'adaptive', a budget of at least {MIN_BUDGET} "
        f"tokens or a thinking dict, not {setting!r}"
    )


def check_model_takes(thinking: dict[str, Any] | str | None, info: ModelInfo) -> None:
    """UserError for thinking a known model refuses (the API would answer 400)."""
    if not isinstance(thinking, dict) or not info.known:
        return
    kind = thinking.get("type")
    if kind == "adaptive" and not info.adaptive_thinking:
        raise UserError(
            f"{info.name} does not support adaptive thinking: give a budget (thinking=4096, "
            "--thinking 4096) or turn thinking off"
        )
    if kind == "enabled" and not info.budget_thinking:
        raise UserError(
            f"{info.name} takes only adaptive thinking, not a budget: use thinking='adaptive' "
            "(--thinking adaptive)"
        )


def _sdk_deprecates_budget(model: str) -> bool:
    """Whether the SDK warns on a budget for ``model`` (its own list, read at run time)."""
    from ..models.anthropic import thinking_budget_deprecated

    return thinking_budget_deprecated(model)


class ThinkingChoice:
    """A chat's thinking setting, and the field each of its requests sends."""

    def __init__(self, setting: ThinkingSetting) -> None:
        self.setting = check_thinking(setting)
        self._warned = False

    def field(
        self, info: ModelInfo, *, temperature: float | None, extra: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The ``thinking`` field for the next request to ``info``'s model (None: none)."""
        setting = self.setting
        if setting == "auto":
            clash = temperature is not None or "top_k" in extra or "thinking" in extra
            return {"type": "adaptive"} if info.adaptive_thinking and not clash else None
        if not isinstance(setting, dict):
            return None
        budget = setting.get("type") == "enabled"
        if budget and not self._warned and _sdk_deprecates_budget(info.name):
            self._warned = True
            warnings.warn(
                f"thinking with a token budget is deprecated on {info.name}: use "
                "thinking='adaptive' (--thinking adaptive)",
                ThinkingDeprecationWarning,
                stacklevel=4,
            )
        return setting
