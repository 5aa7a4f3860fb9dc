"""Model names as people type them: short aliases and "did you mean" for near misses.

``sonnet``, ``opus``, ``haiku`` (and ``fable``, ``mythos``) stand for the newest model of
that line in the capability table that has not retired; a configuration may define its
own (``aliases.NAME`` in the config file), which win over these. A name that is not in
the table but is close to one that is (``claude-sonet-4-6``) is refused with the name it
most likely meant; a name close to nothing is let through (new models appear often) and
gets the unknown-model warning when it is used.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime

from ..errors import UnknownModel
from .capabilities import known_models, model_info

__all__ = [
    "FAMILIES",
    "builtin_aliases",
    "check_model_name",
    "family_of",
    "resolve_alias",
    "suggest",
]

FAMILIES = ("opus", "sonnet", "haiku", "fable", "mythos")
_NAME = re.compile(r"^claude-(opus|sonnet|haiku|fable|mythos)-(\d+(?:-\d+)*)$")


def family_of(name: str) -> str | None:
    """The model line of ``name`` ("opus", "sonnet", …), None when it has no numbered version."""
    match = _NAME.match(name)
    return match.group(1) if match else None


def _version(name: str) -> tuple[int, ...]:
    match = _NAME.match(name)
    return tuple(int(p) for p in match.group(2).split("-")) if match else ()


def builtin_aliases(*, today: date | None = None) -> dict[str, str]:
    """Each line's alias and the newest model of the line that has not retired by ``today``."""
    today = today or datetime.now(UTC).date()
    newest: dict[str, str] = {}
    for name in known_models():
        family, info = family_of(name), model_info(name)
        if family is None or (info.retires is not None and today >= info.retires):
            continue
        if family not in newest or _version(name) > _version(newest[family]):
            newest[family] = name
    return newest


def resolve_alias(name: str, aliases: Mapping[str, str] | None = None) -> str:
    """The model ``name`` stands for: a configured alias, a built-in one, or itself."""
    key = name.strip()
    if aliases and key in aliases:
        return aliases[key]
    return builtin_aliases().get(key.lower(), key)


def suggest(name: str, aliases: Mapping[str, str] | None = None) -> str | None:
    """The known model or alias ``name`` most likely meant, None when nothing is close."""
    candidates = [*known_models(), *builtin_aliases(), *(aliases or {})]
    close = difflib.get_close_matches(name.strip().lower(), candidates, n=1, cutoff=0.8)
    return close[0] if close else None


def check_model_name(name: str, aliases: Mapping[str, str] | None = None) -> str:
    """``name`` with its alias resolved; UnknownModel ("did you mean …?") when it is not
    in the table but close to a name that is."""
    resolved = resolve_alias(name, aliases)
    if model_info(resolved, warn=False).known:
        return resolved
    guess = suggest(name, aliases)
    if guess is None:
        return resolved
    raise UnknownModel(f"unknown model {name!r}; did you mean {guess!r}?", model=name,
                       suggestion=guess)  # fmt: skip
