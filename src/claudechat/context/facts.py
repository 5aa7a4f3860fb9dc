"""Facts: the verbatim identifiers of a turn, extracted without a model call.

Summaries keep decisions and lose the exact things: numbers with their units, dates,
names, file paths, commands, URLs, code symbols and ids. ``extract_facts`` finds those in
a message's text with regular expressions, each with the id of the message it came from
and a short snippet of the sentence around it (what ranks it against a later question).
Extraction is deterministic, so the facts of any stored turn can be made again from the
transcript: after a resume, a fork or an import the ledger is the same.

Plain prose yields nothing: a word is a fact only when its shape says so (digits with a
unit, a slash in a path, a capital inside a sentence, backticks, an underscore ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..messages import Message

__all__ = [
    "FACT_KINDS",
    "Fact",
    "extract_facts",
    "message_facts",
    "missing",
    "normalize",
    "present_in",
]

FactKind = Literal["url", "email", "path", "command", "symbol", "id", "date", "quantity", "name"]
FACT_KINDS: tuple[FactKind, ...] = (
    "url", "email", "path", "command", "symbol", "id", "date", "quantity", "name",
)  # fmt: skip

_SNIPPET = 160  # characters of context kept around a fact

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_UNITS = (
    "ms|µs|us|ns|sec|secs|seconds?|s|min|mins|minutes?|h|hrs?|hours?|days?|weeks?|months?|"
    "years?|yrs?|KB|MB|GB|TB|PB|KiB|MiB|GiB|TiB|kb|mb|gb|tb|B|bytes?|bits?|kbps|Mbps|Gbps|"
    "Hz|kHz|MHz|GHz|km|m|cm|mm|mi|miles?|ft|feet|inch(?:es)?|kg|g|mg|lbs?|pounds?|oz|"
    "°C|°F|C|F|%|percent|USD|EUR|GBP|dollars?|euros?|cents?|tokens?|requests?|rps|qps|"
    "x|×|px|pt|em|rem|cores?|threads?|nodes?|replicas?|users?|rows?|items?|times|"
    "kW|W|kWh|V|mAh|L|ml|litres?|liters?"
)
_CMD_WORDS = (
    "git|pip|pip3|python|python3|uv|poetry|npm|npx|yarn|pnpm|node|make|cargo|go|docker|"
    "kubectl|helm|terraform|curl|wget|ssh|scp|rsync|cd|ls|cat|grep|rg|sed|awk|find|chmod|"
    "chown|sudo|apt|apt-get|brew|systemctl|journalctl|psql|sqlite3|pytest|ruff|mypy|tar|"
    "export|claudechat|aws|gcloud|az|java|mvn|gradle|bash|sh|zsh|ps|kill|top|du|df|mkdir|"
    "rm|cp|mv|echo|openssl|nc|dig|ping|tmux|vim|nano|code"
)
_EXTENSIONS = (
    "py|pyi|js|mjs|ts|tsx|jsx|json|yaml|yml|toml|ini|cfg|conf|md|rst|txt|csv|tsv|sql|sh|"
    "bash|zsh|c|h|cc|cpp|hpp|rs|go|java|kt|rb|php|swift|cs|html|css|scss|xml|lock|log|env|"
    "pdf|png|jpg|jpeg|gif|svg|zip|gz|tgz|tar|db|sqlite|parquet|ipynb|dockerfile|proto"
)

# Kinds in priority order: an earlier kind claims its span, a later one cannot overlap it.
_PATTERNS: tuple[tuple[FactKind, re.Pattern[str]], ...] = (
    ("url", re.compile(r"\b(?:https?|ftp|ssh|git|s3|postgres(?:ql)?|redis)://[^\s<>\"'`)\]]+")),
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("command", re.compile(rf"`((?:{_CMD_WORDS})\s[^`\n]+)`")),
    ("command", re.compile(rf"(?m)^\s*\$\s+((?:{_CMD_WORDS})\b[^\n]*)$")),
    ("symbol", re.compile(r"`([^`\n\s][^`\n]{0,78})`")),
    (
        "path",
        re.compile(
            r"(?<![\w/.])(?:~|\.{1,2})?/(?:[\w.@+-]+/)*[\w.@+-]+/?(?=[\s,;:)\]'\"]|$|\.(?:\s|$))"
        ),
    ),
    ("path", re.compile(rf"\b(?:[\w.-]+/)+[\w.-]+\.(?:{_EXTENSIONS})\b")),
    ("path", re.compile(rf"\b[\w-]+(?:\.[\w-]+)*\.(?:{_EXTENSIONS})\b(?!\.\w)")),
    (
        "date",
        re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?\b"),
    ),
    ("date", re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})\.?(?:,?\s+\d{{4}})?\b")),
    ("date", re.compile(rf"\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b")),
    ("date", re.compile(rf"\b(?:{_MONTHS})\s+\d{{4}}\b")),
    ("date", re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b")),
    ("date", re.compile(r"\b\d{1,2}:\d{2}\s?(?:[ap]\.?m\.?|AM|PM)(?![\w])")),
    ("id", re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)),
    ("id", re.compile(r"(?<![\w#])#\d{2,}\b")),
    ("id", re.compile(r"\b[A-Z][A-Z0-9]{1,9}-\d+\b")),
    ("id", re.compile(r"\bv?\d+\.\d+\.\d+(?:[-+.][\w.]+)?\b")),
    ("id", re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")),
    (
        "id",
        re.compile(
            r"\b(?=[A-Za-z0-9_]*[A-Za-z])(?=[A-Za-z0-9_]*\d)[A-Za-z][A-Za-z0-9_]*\d[A-Za-z0-9_]*\b"
        ),
    ),
    (
        "quantity",
        re.compile(
            rf"(?:[$€£¥]\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:k|K|m|M|bn|million|billion))?)"
            rf"|(?:\b\d[\d,]*(?:\.\d+)?\s?(?:{_UNITS})(?![\w]))"
        ),
    ),
    (
        "quantity",
        re.compile(
            r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w]|\.\d)|(?<![\w.:])\d+\.\d+(?![\w:]|\.\d)|(?<![\w.:/#-])\d{3,}(?![\w:/-]|\.\d)"
        ),
    ),
    ("symbol", re.compile(r"\b[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+\(\)|\b[A-Za-z_]\w*\(\)")),
    ("symbol", re.compile(r"\b[A-Za-z_]\w+(?:\.[A-Za-z_]\w*){1,5}\b")),
    ("symbol", re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b|\b_[a-z]\w+\b")),
    ("symbol", re.compile(r"\b[a-z]+(?:[A-Z][a-z0-9]*)+\b|\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b")),
    ("symbol", re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")),
)

# A capitalised word inside a sentence (a run of them is one name); sentence starts and
# these common words are not names.
_NAME = re.compile(r"\b[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?(?:\s+(?:[A-Z][a-z]+|[A-Z]\.))*\b")
_NOT_NAMES = frozenset(
    [
        "I",
        "I'm",
        "I've",
        "I'll",
        "I'd",
        "The",
        "A",
        "An",
        "And",
        "But",
        "Or",
        "So",
        "If",
        "Then",
        "When",
        "While",
        "What",
        "Which",
        "Who",
        "Whom",
        "Whose",
        "Why",
        "How",
        "Where",
        "This",
        "That",
        "These",
        "Those",
        "There",
        "Here",
        "It",
        "Its",
        "It's",
        "We",
        "You",
        "You're",
        "They",
        "He",
        "She",
        "My",
        "Your",
        "Our",
        "Their",
        "His",
        "Her",
        "Yes",
        "No",
        "Not",
        "Ok",
        "Okay",
        "Thanks",
        "Thank",
        "Please",
        "Sure",
        "Also",
        "Just",
        "Oh",
        "Hi",
        "Hello",
        "Hey",
        "Well",
        "Great",
        "Good",
        "Nice",
        "Wow",
        "Maybe",
        "Let",
        "Let's",
        "Now",
        "Today",
        "Tomorrow",
        "Yesterday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Mr",
        "Mrs",
        "Ms",
        "Dr",
        "User",
        "Assistant",
        "Emulator",
    ]
)
_SENTENCE_END = re.compile(r"(?:^|[.!?:;\n]\s*|[\"'(\[]\s*)$")


@dataclass(frozen=True, slots=True)
class Fact:
    """One verbatim identifier, the message it came from, and the sentence around it."""

    kind: FactKind
    value: str
    message_id: str
    snippet: str = ""

    @property
    def key(self) -> str:
        """The fact's value normalised: two facts with one key are the same fact."""
        return normalize(self.value)

    def to_dict(self) -> dict[str, str]:
        """The fact as plain data (for summary metadata and reports)."""
        return {"kind": self.kind, "value": self.value, "message_id": self.message_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fact:
        """A fact from ``to_dict``'s data (unknown kinds read as "id")."""
        kind = data.get("kind")
        return cls(
            kind=kind if kind in FACT_KINDS else "id",
            value=str(data.get("value", "")),
            message_id=str(data.get("message_id", "")),
        )


def normalize(text: str) -> str:
    """Lower case, whitespace collapsed, quotes and trailing punctuation dropped: the form
    in which a fact is looked for in a summary."""
    text = text.replace("`", "").replace("’", "'").replace("\u00a0", " ").lower()
    return re.sub(r"\s+", " ", text).strip(" .,;:!?\"'")


def present_in(fact: Fact, text: str, *, normalized: str | None = None) -> bool:
    """Whether ``text`` still holds the fact's value (compared normalised)."""
    haystack = normalized if normalized is not None else normalize(text)
    return fact.key in haystack


def _snippet(text: str, start: int, end: int) -> str:
    """The sentence (at most ``_SNIPPET`` characters) around ``text[start:end]``."""
    left = max(text.rfind(". ", 0, start), text.rfind("\n", 0, start), -1) + 1
    left = max(left, start - _SNIPPET // 2)
    right_stop = [i for i in (text.find(". ", end), text.find("\n", end)) if i >= 0]
    right = min([*right_stop, len(text), end + _SNIPPET // 2])
    return re.sub(r"\s+", " ", text[left:right]).strip()


def _is_name(text: str, start: int, value: str) -> bool:
    """A capitalised run counts as a name when it is not at a sentence start and not made
    of common words only."""
    words = [w for w in re.split(r"\s+", value) if w]
    if all(w in _NOT_NAMES for w in words):
        return False
    return _SENTENCE_END.search(text[:start]) is None


def _free(taken: list[tuple[int, int]], start: int, end: int) -> bool:
    return all(end <= a or start >= b for a, b in taken)


def extract_facts(text: str, message_id: str = "") -> list[Fact]:
    """The facts in ``text``, in order of appearance, each value once."""
    found: list[tuple[int, Fact]] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            group = 1 if match.re.groups else 0
            start, end = match.span(group)
            value = match.group(group).strip()
            if kind not in ("command", "symbol"):
                value = value.rstrip(".,;:")
            if not value or not _free(taken, match.start(), match.end()):
                continue
            taken.append((match.start(), match.end()))
            found.append((start, Fact(kind, value, message_id, _snippet(text, start, end))))
    for match in _NAME.finditer(text):
        start, end = match.span()
        value = match.group()
        first, _, rest = value.partition(" ")
        if first in _NOT_NAMES and rest:  # "Then Caroline said": the name is what follows
            start += len(first) + 1
            value = rest.strip()
        if not _free(taken, start, end) or not _is_name(text, start, value):
            continue
        taken.append((start, end))
        found.append((start, Fact("name", value, message_id, _snippet(text, start, end))))
    found.sort(key=lambda f: f[0])
    seen: set[str] = set()
    out = []
    for _, fact in found:
        if fact.key and fact.key not in seen:
            seen.add(fact.key)
            out.append(fact)
    return out


def _message_text(message: Message) -> str:
    parts = []
    for b in message.content:
        kind = b.get("type")
        if kind == "text":
            parts.append(str(b.get("text", "")))
        elif kind == "tool_result":
            content = b.get("content", "")
            if not isinstance(content, str):
                content = " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
            parts.append(content)
        elif kind == "tool_use":
            parts.append(" ".join(str(v) for v in (b.get("input") or {}).values()))
    return "\n".join(parts)


def message_facts(messages: Iterable[Message]) -> list[Fact]:
    """The facts of each message in turn (thinking left out), each value once: the first
    message that names it is the one it is credited to."""
    seen: set[str] = set()
    out: list[Fact] = []
    for m in messages:
        for fact in extract_facts(_message_text(m), m.id):
            if fact.key not in seen:
                seen.add(fact.key)
                out.append(fact)
    return out


def missing(facts: Sequence[Fact], text: str) -> list[Fact]:
    """The facts whose value ``text`` does not hold (compared normalised)."""
    haystack = normalize(text)
    return [f for f in facts if not present_in(f, text, normalized=haystack)]
