"""What each Claude model can do, what it costs and when it retires, from FACTS.md.

New models appear often: an unknown name gets safe defaults (200K window, no prefill, no
price) and a warning, never a crash and never a cost of zero. Models retire: the table
records each retirement date (from the SDK's ``anthropic/_data/deprecated_models.py``) and
the model to move to; ``check_lifecycle`` warns before that date and refuses from it on.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import lru_cache

from ..errors import RetiredModel
from ..usage import Prices, Pricing

__all__ = [
    "DeprecatedModelWarning",
    "ModelInfo",
    "Prices",
    "UnknownModelWarning",
    "check_lifecycle",
    "known_models",
    "model_info",
    "model_prices",
]


class UnknownModelWarning(UserWarning):
    """A model name claudechat has no capability entry for; defaults are used."""


class DeprecatedModelWarning(UserWarning):
    """A model that still answers but has a retirement date; the message names its successor."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Capabilities of one model: window, output cap, prefill, cache minimum, tokenizer, prices."""

    name: str
    context_window: int
    max_output: int
    prefill: bool
    cache_min_tokens: int
    tokenizer: str  # "claude3" (Claude 3 to 4.6) or "claude47" (4.7 and later)
    prices: Prices | None
    long_prices: Prices | None = None  # prices when the prompt exceeds long_threshold
    long_threshold: int | None = None
    known: bool = True
    retires: date | None = None  # the API stops serving the model on this day
    replacement: str | None = None  # the model to move to
    adaptive_thinking: bool = False  # takes thinking={"type": "adaptive"} (the chat's default)
    budget_thinking: bool = True  # takes thinking={"type": "enabled", "budget_tokens": N}
    system_messages: bool = False  # takes {"role": "system"} messages mid-conversation
    cache_diagnosis: bool = False  # answers the cache-diagnosis beta (why the cache missed)

    @property
    def pricing(self) -> Pricing | None:
        """Its prices with their long-prompt tier (None when unknown)."""
        if self.prices is None:
            return None
        return Pricing(self.prices, self.long_prices, self.long_threshold)


def _p(i: float, w5: float, w1: float, r: float, o: float) -> Prices:
    return Prices(i, w5, w1, r, o)


_M = 1_000_000
_K = 1_000


def _claude3(
    name: str,
    cache_min_tokens: int,
    prices: Prices,
    retires: date | None = None,
    replacement: str | None = None,
) -> ModelInfo:
    """A model of the 200K-window generation: 64K output, prefill allowed, Claude 3 tokenizer."""
    return ModelInfo(name, 200 * _K, 64 * _K, True, cache_min_tokens, "claude3", prices,
                     retires=retires, replacement=replacement)  # fmt: skip


_OPUS = _p(5, 6.25, 10, 0.50, 25)
_SONNET46 = _p(3, 3.75, 6, 0.30, 15)
_PREMIUM = _p(10, 12.50, 20, 1, 50)

# Thinking, from the platform docs: 4.6 models take both kinds (a budget is deprecated);
# 4.7 and later take adaptive thinking only (a budget is a 400); older ones a budget only.
_ADAPTIVE_AND_BUDGET = frozenset({"claude-opus-4-6", "claude-sonnet-4-6"})


def _thinking(m: ModelInfo) -> ModelInfo:
    """The entry with its thinking capabilities."""
    if m.name in _ADAPTIVE_AND_BUDGET:
        return replace(m, adaptive_thinking=True)
    if m.tokenizer == "claude47":
        return replace(m, adaptive_thinking=True, budget_thinking=False)
    return m


_TABLE: dict[str, ModelInfo] = {
    m.name: _thinking(m)
    for m in [
        ModelInfo("claude-opus-5-5", _M, 128 * _K, False, 512, "claude47", _p(4, 5, 8, 0.20, 20)),
        ModelInfo("claude-opus-5", _M, 128 * _K, False, 512, "claude47", _OPUS),
        ModelInfo("claude-opus-4-8", _M, 128 * _K, False, 1024, "claude47", _OPUS),
        ModelInfo("claude-opus-4-7", _M, 128 * _K, False, 2048, "claude47", _OPUS),
        ModelInfo("claude-opus-4-6", _M, 128 * _K, False, 4096, "claude3", _OPUS),
        _claude3("claude-opus-4-5", 4096, _OPUS, date(2027, 1, 22), "claude-opus-4-6"),
        ModelInfo(
            "claude-sonnet-5-5", _M, 128 * _K, False, 512, "claude47", _p(2, 2.5, 4, 0.10, 10)
        ),
        ModelInfo(
            "claude-sonnet-5", _M, 128 * _K, False, 1024, "claude47", _p(2, 2.5, 4, 0.20, 10)
        ),
        ModelInfo("claude-sonnet-4-6", _M, 128 * _K, False, 1024, "claude3", _SONNET46),
        _claude3("claude-sonnet-4-5", 1024, _SONNET46, date(2026, 11, 30), "claude-sonnet-4-6"),
        ModelInfo(
            "claude-haiku-5-5",
            _M,
            128 * _K,
            False,
            512,
            "claude47",
            _p(0.10, 0.125, 0.20, 0.01, 0.50),
            long_prices=_p(0.50, 0.625, 1, 0.05, 2.50),
            long_threshold=100 * _K,
        ),
        _claude3("claude-haiku-4-5", 4096, _p(1, 1.25, 2, 0.10, 5)),
        ModelInfo("claude-fable-5", _M, 128 * _K, False, 512, "claude47", _PREMIUM),
        ModelInfo("claude-fable-5-1", _M, 128 * _K, False, 512, "claude47", _PREMIUM),
        ModelInfo("claude-mythos-5", _M, 128 * _K, False, 512, "claude47", _PREMIUM),
        ModelInfo("claude-mythos-5-1", _M, 128 * _K, False, 512, "claude47", _PREMIUM),
        ModelInfo(
            "claude-mythos-preview",
            _M,
            128 * _K,
            False,
            512,
            "claude47",
            None,
            retires=date(2026, 6, 30),
            replacement="claude-mythos-5",
        ),
    ]
}

# Mid-conversation system messages: Opus 4.8 and later (not Sonnet 5), per the platform docs.
_SYSTEM_MESSAGES = frozenset(
    ("claude-opus-4-8", "claude-opus-5", "claude-opus-5-5", "claude-sonnet-5-5",
     "claude-haiku-5-5", "claude-fable-5", "claude-fable-5-1", "claude-mythos-5",
     "claude-mythos-5-1")
)  # fmt: skip
_TABLE = {
    name: replace(m, system_messages=name in _SYSTEM_MESSAGES, cache_diagnosis=True)
    for name, m in _TABLE.items()
}

# Dated snapshots ("claude-sonnet-4-5-20250929") and "-latest" aliases map to the base name.
_SUFFIX = re.compile(r"(-\d{8}|-latest|@\d{8}|-v\d+(:\d+)?)$")


def known_models() -> list[str]:
    """The model names with a capability entry."""
    return sorted(_TABLE)


def _base_name(name: str) -> str:
    base = name.strip().lower()
    # Bedrock/Vertex ids such as "anthropic.claude-sonnet-4-6-v1:0" or "us.anthropic.…".
    if "anthropic." in base:
        base = base.split("anthropic.", 1)[1]
    while True:
        stripped = _SUFFIX.sub("", base)
        if stripped == base:
            return base
        base = stripped


@lru_cache(maxsize=256)
def _lookup(name: str) -> ModelInfo | None:
    return _TABLE.get(_base_name(name))


def model_info(name: str, *, warn: bool = True) -> ModelInfo:
    """Capabilities of ``name``; unknown names get safe defaults and an UnknownModelWarning."""
    info = _lookup(name)
    if info is not None:
        return info
    if warn:
        warnings.warn(
            f"unknown model {name!r}: assuming a 200,000-token window, no prefill and no price "
            "(costs are shown as unknown)",
            UnknownModelWarning,
            stacklevel=2,
        )
    newer = not name.startswith(("claude-3", "claude-2", "claude-instant"))
    return ModelInfo(
        name=name,
        context_window=200 * _K,
        max_output=8_192 if not newer else 32_000,
        prefill=not newer,
        cache_min_tokens=1024,
        tokenizer="claude47" if newer else "claude3",
        prices=None,
        known=False,
    )


def model_prices(name: str) -> Pricing | None:
    """The published pricing of ``name`` (None for an unknown model): what a `Ledger`
    and `Usage.cost_usd` are given to price requests."""
    return model_info(name, warn=False).pricing


def check_lifecycle(info: ModelInfo, *, today: date | None = None) -> None:
    """Warn (DeprecatedModelWarning) about a model with a retirement date; from that date on,
    raise RetiredModel, before any request the API would answer with a 404."""
    if info.retires is None:
        return
    today = today or datetime.now(UTC).date()
    instead = f"; use {info.replacement} instead" if info.replacement else ""
    if today >= info.retires:
        raise RetiredModel(
            f"model {info.name!r} was retired on {info.retires.isoformat()}{instead}",
            model=info.name,
            retired_on=info.retires,
            replacement=info.replacement,
        )
    warnings.warn(
        f"model {info.name!r} is deprecated and retires on {info.retires.isoformat()}{instead}",
        DeprecatedModelWarning,
        stacklevel=3,
    )
