"""Offline token estimates of text: ctok when installed, else a fitted heuristic.

``estimate_text`` is what the accountant (tokens.py) falls back to for text the server
has not counted yet; ``text_bound`` is a cheap upper bound of it, so the estimate can
wait until a decision depends on it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .models.capabilities import ModelInfo

__all__ = [
    "content_class",
    "ctok_available",
    "ctok_version",
    "estimate_text",
    "heuristic_tokens",
    "text_bound",
]

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_PIECES = re.compile(
    rf"(?P<cjk>[{_CJK}]+)|(?P<upper>[A-Z]{{2,}}(?![a-z]))|(?P<word>[A-Za-z][a-z]*)"
    r"|(?P<num>\d+)|(?P<nl>\n+)|(?P<sp>[ \t]{2,})|(?P<other>[^\x00-\x7f]+)"
    r"|(?P<punct>[^\sA-Za-z\d])"
)
_N_FEATURES = 16
# Tokens per feature (see _features), per tokenizer family, fitted against ctok on English
# prose, Python and JSON by bench/tokens_calibrate.py (non-ASCII and intercept set by hand).
_COEF: dict[str, tuple[float, ...]] = {
    "claude3": (
        1.232,
        1.280,
        1.309,
        0.998,
        2.264,
        0.373,
        0.0,
        0.625,
        1.281,
        1.867,
        0.538,
        0.0,
        0.267,
        1.033,
        1.0,
        0.0,
    ),
    "claude47": (
        1.371,
        1.492,
        1.935,
        2.408,
        3.683,
        0.916,
        0.593,
        1.065,
        1.285,
        1.596,
        0.584,
        0.0,
        0.410,
        1.046,
        1.2,
        0.0,
    ),
}
_CLASS_PATTERNS = {
    "json": re.compile(r'^\s*[\[{]\s*"?'),
    "code": re.compile(
        r"^\s*(def |class |import |from |return |if |for |#|//|function |const )", re.M
    ),
}


def content_class(text: str) -> str:
    """The kind of text: "cjk", "json", "code" or "prose" (for reports and calibration)."""
    sample = text[:2000]
    if not sample:
        return "prose"
    cjk = sum(1 for ch in sample if "\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
    if cjk > len(sample) * 0.2:
        return "cjk"
    if _CLASS_PATTERNS["json"].match(sample):
        return "json"
    if len(_CLASS_PATTERNS["code"].findall(sample)) >= 2:
        return "code"
    return "prose"


def _features(text: str) -> list[float]:
    """Counts the heuristic weighs: words by length and case, digits, layout, symbols."""
    f = [0.0] * _N_FEATURES
    for m in _PIECES.finditer(text):
        kind = m.lastgroup
        size = m.end() - m.start()
        if kind == "word":
            f[min(size, 13) // 3] += 1  # 0..4: length buckets 1-2, 3-5, 6-8, 9-11, 12+
            f[5] += max(0, size - 12)
            f[6] += text[m.start()].isupper()
        elif kind == "upper":
            f[7] += size
        elif kind == "num":
            f[8] += size
        elif kind == "nl":
            f[9] += size
        elif kind == "sp":
            f[10] += size // 4
            f[11] += size % 4
        elif kind == "punct":
            f[12] += 1
        elif kind == "cjk":
            f[13] += size
        elif kind == "other":
            f[14] += size
    f[15] = 1.0
    return f


def heuristic_tokens(text: str, family: str = "claude3") -> int:
    """Tokens of ``text`` by a feature count fitted per tokenizer family (no dependencies)."""
    if not text:
        return 0
    coef = _COEF.get(family, _COEF["claude3"])
    return max(1, round(sum(c * x for c, x in zip(coef, _features(text), strict=True))))


@lru_cache(maxsize=1)
def _ctok() -> Any:
    try:
        import ctok  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:  # the optional "tokenizer" extra is not installed
        return None
    return ctok


def ctok_available() -> bool:
    """True when the optional ``ctok`` tokenizer reconstruction is installed."""
    return _ctok() is not None


def ctok_version(model: ModelInfo | str) -> str:
    """The ``ctok`` version string for a model (v3 family, 4.7, or 4.8+)."""
    family = model if isinstance(model, str) else model.tokenizer
    name = "" if isinstance(model, str) else model.name
    if family == "claude3":
        return "3.0"
    return "4.7" if "4-7" in name else "4.8"


@lru_cache(maxsize=8)
def _ctok_frame(version: str) -> int:
    lib = _ctok()
    return int(lib.token_count("x", version)) - 1 if lib is not None else 0


def estimate_text(
    text: str, family: str = "claude3", *, version: str | None = None, use_ctok: bool = True
) -> int:
    """Offline token estimate of a piece of text: ctok when installed, else the heuristic."""
    if not text:
        return 0
    lib = _ctok() if use_ctok else None
    if lib is None:
        return heuristic_tokens(text, family)
    ver = version or ctok_version(family)
    return max(1, int(lib.token_count(text, ver)) - _ctok_frame(ver))


def text_bound(text: str) -> int:
    """At least the offline estimate of ``text``, without making it. The heuristic gives
    at most two tokens per UTF-8 byte, ctok at most three (for letters whose lower case
    is longer, such as "Ⱥ"); four leaves a margin (checked in the tests)."""
    if not text:
        return 0
    return 4 * len(text.encode()) + 1
