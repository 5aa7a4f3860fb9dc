"""The emulator's own small table of model facts: windows, output caps, cache minimums."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_DEFAULT_WINDOW = 200_000
_BIG_WINDOW = 1_000_000

# First match wins; patterns are matched against the start of the model name.
_CACHE_MINIMUMS: tuple[tuple[str, int], ...] = (
    ("claude-opus-5-5", 512),
    ("claude-sonnet-5-5", 512),
    ("claude-haiku-5-5", 512),
    ("claude-fable-5", 512),
    ("claude-mythos-5", 512),
    ("claude-opus-5", 512),
    ("claude-opus-4-8", 1024),
    ("claude-sonnet-5", 1024),
    ("claude-sonnet-4-6", 1024),
    ("claude-sonnet-4-5", 1024),
    ("claude-opus-4-7", 2048),
    ("claude-opus-4-6", 4096),
    ("claude-opus-4-5", 4096),
    ("claude-haiku-4-5", 4096),
)

_NEW_TOKENIZER = re.compile(r"^claude-(opus-4-[78]|(opus|sonnet|haiku)-5|fable|mythos)")
_BIG_WINDOW_MODELS = re.compile(
    r"^claude-((opus|sonnet|haiku|fable|mythos)-5|opus-4-([6-9])|sonnet-4-([6-9])|mythos)"
)
_PREFILL_MODELS = re.compile(r"^claude-(3|opus-4-5|sonnet-4-5|haiku-4-5)")


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What the emulator needs to know about one model name."""

    name: str
    context_window: int
    max_output_tokens: int
    cache_minimum: int
    new_tokenizer: bool
    allows_prefill: bool


@lru_cache(maxsize=256)  # the facts are frozen; a request asks for them once per text
def model_facts(name: str) -> ModelFacts:
    """Look up (or default) the facts for `name`; unknown models get a 200K window."""
    big = bool(_BIG_WINDOW_MODELS.match(name))
    minimum = next((m for prefix, m in _CACHE_MINIMUMS if name.startswith(prefix)), 1024)
    return ModelFacts(
        name=name,
        context_window=_BIG_WINDOW if big else _DEFAULT_WINDOW,
        max_output_tokens=128_000 if big else 64_000,
        cache_minimum=minimum,
        new_tokenizer=bool(_NEW_TOKENIZER.match(name)),
        allows_prefill=bool(_PREFILL_MODELS.match(name)),
    )
