"""Token accounting: exact counts learned from responses, offline estimates for the rest.

Every response's usage gives the exact input total of what was sent; ``TokenAccountant``
attributes the part it did not know yet to the new pieces (system + tools overhead, each
message, the summary, injected blocks) and remembers them by content hash. Text never
sent is estimated offline (estimates.py: ``ctok`` when it is installed, the optional
``tokenizer`` extra, else a heuristic calibrated per tokenizer family); a learned scale
corrects either towards what the server counts. The ``count_tokens`` endpoint is asked only when
an estimate is too close to the budget to trust (and its answers are cached).
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import hashlib
import json
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .estimates import (
    content_class,
    ctok_available,
    ctok_version,
    estimate_text,
    heuristic_tokens,
    text_bound,
)
from .media import image_size, pdf_pages
from .messages import Block, Message, sendable_content
from .models.base import Request
from .models.capabilities import ModelInfo

__all__ = [
    "IMAGE_TOKENS",
    "PDF_PAGE_TOKENS",
    "TokenAccountant",
    "content_class",
    "ctok_available",
    "document_tokens",
    "estimate_text",
    "heuristic_tokens",
    "image_tokens",
    "strip_cache_control",
]

# Fixed costs of the request structure (learned exactly after the first response).
MESSAGE_OVERHEAD = 4
BLOCK_OVERHEAD = 1
SYSTEM_OVERHEAD = 3
TOOL_OVERHEAD = 8
TOOLS_PREAMBLE = 346  # the API's tool-use system prompt (tool_choice auto, Claude 4)
REQUEST_OVERHEAD = 7
IMAGE_TOKENS = 1_600  # the most an image costs (about 1.15 megapixels)
IMAGE_MAX_EDGE = 1_568  # the API scales a longer edge down to this before counting
PDF_PAGE_TOKENS = 3_000  # per PDF page: 1,500-3,000 text tokens documented, plus its image
_HEADER_CHARS = 65_536  # base64 characters read for an image's size (a JPEG's SOF may be late)

# Above this many parts with no estimate, a learned total is shared by cheap weights.
BULK_PARTS = 8
TEXT_ESTIMATES_KEPT = 512  # text_tokens' estimates kept by each accountant


# --- blocks -------------------------------------------------------------------------------


_CANON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _canon(value: Any) -> str:
    return _CANON.encode(value)


def image_tokens(block: Block) -> int:
    """Tokens of an image block by the documented estimate: width × height / 750, after the
    API's resize of a long edge over ``IMAGE_MAX_EDGE`` px, at most ``IMAGE_TOKENS`` (the
    figure for an image whose size cannot be read: a file source, an unknown header)."""
    source = block.get("source")
    if not isinstance(source, dict) or source.get("type") != "base64":
        return IMAGE_TOKENS
    size = _image_size(str(source.get("data", ""))[:_HEADER_CHARS])
    if size is None:
        return IMAGE_TOKENS
    w, h = size
    scale = min(1.0, IMAGE_MAX_EDGE / max(w, h, 1))
    return max(1, min(IMAGE_TOKENS, math.ceil(w * scale * h * scale / 750)))


@functools.lru_cache(maxsize=256)
def _image_size(head: str) -> tuple[int, int] | None:
    try:
        data = base64.b64decode(head[: len(head) // 4 * 4], validate=False)
    except (binascii.Error, ValueError):
        return None
    return image_size(data)


def document_tokens(block: Block) -> int:
    """Tokens of a base64 PDF document block by the documented estimate:
    ``PDF_PAGE_TOKENS`` per page (``IMAGE_TOKENS`` when the data cannot be read)."""
    source = block.get("source")
    if not isinstance(source, dict) or source.get("type") != "base64":
        return IMAGE_TOKENS
    pages = _pdf_pages(str(source.get("data", "")))
    return IMAGE_TOKENS if pages is None else pages * PDF_PAGE_TOKENS


@functools.lru_cache(maxsize=64)
def _pdf_pages(data: str) -> int | None:
    try:
        return pdf_pages(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        return None


def _plain_text(value: Any) -> str | None:
    """The text of a content list holding one plain text block (type and text only, as
    most messages do), else None. Keys made from it cannot meet keys made from JSON."""
    if type(value) is list and len(value) == 1:
        block = value[0]
        if type(block) is dict and len(block) == 2 and block.get("type") == "text":
            text = block.get("text")
            if type(text) is str:
                return text
    return None


def strip_cache_control(value: Any) -> Any:
    """A deep copy of ``value`` without ``cache_control`` keys (they never cost tokens)."""
    if isinstance(value, dict):
        return {k: strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [strip_cache_control(v) for v in value]
    return value


# --- the accountant -----------------------------------------------------------------------


class TokenAccountant:
    """Token counts for requests: exact where learned from usage, estimated elsewhere.

    Implements ``TokenCounter``. Bind it to a model with ``use(model)`` (the engine does);
    counts are kept per tokenizer family.
    """

    def __init__(
        self, *, use_ctok: bool = True, estimator: Callable[[str, str], int] | None = None
    ) -> None:
        self.use_ctok = use_ctok
        self._estimator = estimator
        self.family = "claude3"
        self.version = "3.0"
        self._exact: dict[str, int] = {}
        self._estimates: dict[str, int] = {}
        self._texts: OrderedDict[tuple[str, str, bytes], int] = OrderedDict()  # text_tokens
        # message id -> (the content list, status, family, key): the list is held, so a
        # replaced partial (same id, new list or status) can never match a stale entry.
        self._by_id: dict[str, tuple[list[Block], str, str, str]] = {}
        self._counted: dict[str, int] = {}
        # Counts of replies taught by their response's output tokens (until learned exactly).
        self._hints: dict[str, int] = {}
        # Offline estimates not made yet: only a cheap upper bound was needed so far.
        self._pending: dict[str, list[Block]] = {}  # key -> the blocks to estimate
        self._overhead_memo: tuple[object, object, str, list[Any]] | None = None
        self.scale: dict[str, float] = {}
        self.count_calls = 0
        self.learned = 0

    # binding ------------------------------------------------------------------------------

    def use(self, model: ModelInfo) -> None:
        """Count for ``model``'s tokenizer family from now on."""
        if model.tokenizer != self.family:
            self._overhead_memo = None  # keys include the family
        self.family = model.tokenizer
        self.version = ctok_version(model)

    # estimates ----------------------------------------------------------------------------

    def _raw_text(self, text: str) -> int:
        if self._estimator is not None:
            return self._estimator(text, self.family)
        return estimate_text(text, self.family, version=self.version, use_ctok=self.use_ctok)

    def text_tokens(self, text: str) -> int:
        """Estimated tokens of text never sent (scaled by what the server taught us). The
        estimates of the last ``TEXT_ESTIMATES_KEPT`` texts are kept: recall sizes its block
        from the same old turns, turn after turn, and an estimate costs some 40 µs a word."""
        digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
        key = (self.family, self.version, digest)
        raw = self._texts.pop(key, None)
        if raw is None:
            raw = self._raw_text(text)
        self._texts[key] = raw  # the newest last
        if len(self._texts) > TEXT_ESTIMATES_KEPT:
            self._texts.popitem(last=False)
        return math.ceil(raw * self.scale.get(self.family, 1.0))

    def _block_raw(self, block: Block) -> int:
        kind = block.get("type")
        text = self._raw_text
        if kind == "text":
            return BLOCK_OVERHEAD + text(str(block.get("text", "")))
        if kind == "thinking":
            return BLOCK_OVERHEAD + text(str(block.get("thinking", "")))
        if kind == "redacted_thinking":
            return BLOCK_OVERHEAD + 16
        if kind == "compaction":
            return BLOCK_OVERHEAD + text(str(block.get("content") or ""))
        if kind == "tool_use":
            return (
                BLOCK_OVERHEAD
                + 2
                + text(str(block.get("name", "")))
                + text(_canon(block.get("input", {})))
            )
        if kind == "tool_result":
            content = block.get("content", "")
            if isinstance(content, str):
                inner = BLOCK_OVERHEAD + text(content) if content else 0
            else:
                inner = sum(self._block_raw(b) for b in content if isinstance(b, dict))
            return BLOCK_OVERHEAD + 2 + inner
        if kind == "image":
            return BLOCK_OVERHEAD + image_tokens(block)
        if kind == "document":
            source = block.get("source") or {}
            extra = sum(text(str(block.get(k))) for k in ("title", "context") if block.get(k))
            if source.get("type") == "text":
                return BLOCK_OVERHEAD + 10 + extra + text(str(source.get("data", "")))
            return BLOCK_OVERHEAD + 10 + extra + document_tokens(block)
        return BLOCK_OVERHEAD + text(_canon(strip_cache_control(block)))

    def _raw_blocks(self, blocks: Iterable[Block]) -> int:
        return sum(self._block_raw(b) for b in blocks)

    def blocks_tokens(self, blocks: Sequence[Block]) -> int:
        """Tokens of content blocks (system, injected), exact when learned."""
        if not blocks:
            return 0
        return self._lookup(self.blocks_key(blocks), lambda: self._raw_blocks(blocks))

    def blocks_key(self, blocks: Sequence[Block]) -> str:
        """The content hash under which a list of blocks' count is kept."""
        return self._key("blocks", list(blocks))

    # keys and the cache -------------------------------------------------------------------

    def _key(self, kind: str, value: Any) -> str:
        text = _plain_text(value)
        if text is not None:  # keyed by the text itself (a JSON payload starts "[")
            payload = f"{self.family}\x00{kind}\x00T{text}"
        else:
            payload = f"{self.family}\x00{kind}\x00{_canon(strip_cache_control(value))}"
        return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()

    def _lookup(self, key: str, raw: Callable[[], int]) -> int:
        exact = self._exact.get(key)
        if exact is not None:
            return exact
        estimate = self._estimates.get(key)
        if estimate is None:
            estimate = self._estimates[key] = raw()
        return math.ceil(estimate * self.scale.get(self.family, 1.0))

    def message_key(self, message: Message) -> str:
        """The content hash under which ``message``'s count is kept."""
        hit = self._by_id.get(message.id)
        if (
            hit is not None
            and hit[0] is message.content
            and hit[1] == message.status
            and hit[2] == self.family
        ):
            return hit[3]
        key = self._key(message.role + ":" + message.status, sendable_content(message))
        self._by_id[message.id] = (message.content, message.status, self.family, key)
        return key

    def message_tokens(self, message: Message) -> int:
        """Tokens ``message`` adds to a request: exact once learned (or taught by its
        response), else the offline estimate; 0 for a partial reply with no text."""
        known, key, blocks = self._known_count(message)
        if known is not None:
            return known
        self._pending.pop(key, None)
        return self._lookup(key, lambda: MESSAGE_OVERHEAD + self._raw_blocks(blocks))

    def message_bound(self, message: Message) -> int:
        """An upper bound of ``message_tokens``: the count itself once known, else (for
        text) a bound from the UTF-8 length. The window's first pass decides on bounds, so
        a new message is estimated only when a decision depends on its count."""
        known, key, blocks = self._known_count(message)
        if known is not None:
            return known
        if self._estimator is not None or key in self._estimates:
            return self.message_tokens(message)
        raw = MESSAGE_OVERHEAD
        for b in blocks:
            if b.get("type") != "text":
                return self.message_tokens(message)
            raw += BLOCK_OVERHEAD + text_bound(str(b.get("text", "")))
        self._pending.setdefault(key, blocks)  # estimated later if a total must be shared
        return math.ceil(raw * self.scale.get(self.family, 1.0))

    def _known_count(self, message: Message) -> tuple[int | None, str, list[Block]]:
        """The count of ``message`` if known (0 when none of it is sent; else learned from
        the server or taught by a response), its key and the blocks that are sent."""
        blocks = sendable_content(message)
        if not blocks:
            return 0, "", blocks
        key = self.message_key(message)
        known = self._exact.get(key)
        return (self._hints.get(key) if known is None else known), key, blocks

    def request_bounds(self) -> Callable[[Message], int]:
        """The bound of each message of one request, taken once (the window, the fit check
        and rendering all ask): its count when learned from the server, else
        ``message_bound``. Make a new one per request: learning changes the bounds."""
        seen: dict[int, int] = {}
        alive: list[Message] = []  # the messages seen, so that their ids are not reused

        def bound(message: Message) -> int:
            tokens = seen.get(id(message))
            if tokens is None:
                tokens = self._learned_count(message)
                if tokens is None:
                    tokens = self.message_bound(message)
                seen[id(message)] = tokens
                alive.append(message)
            return tokens

        return bound

    def _learned_count(self, message: Message) -> int | None:
        """The count of a complete message learned from the server, if it was."""
        if message.status != "complete":
            return None
        return self._exact.get(self.message_key(message))

    def estimate_ahead(self, message: Message) -> None:
        """Make now the offline estimate that ``message_bound`` would make when a request
        first carries ``message``: that of a reply with thinking or tool calls (a text one
        is bounded by its length or taught by its response). The estimate is pure Python,
        some 40 µs a word, and the next request waits for it before it is sent; a service
        makes it once the reply has ended, while the user reads it."""
        known, key, blocks = self._known_count(message)
        if known is not None or key in self._estimates:
            return
        if any(b.get("type") != "text" for b in blocks):
            self.message_tokens(message)

    def teach_reply(self, message: Message, output_tokens: int) -> None:
        """Take a text reply's count from the output tokens its response reported: the
        server's own count of that text, so no offline estimate of it is needed."""
        content = message.content
        if message.status != "complete" or output_tokens <= 0 or not content:
            return
        for b in content:
            if b.get("type") != "text":
                return  # thinking and tool calls are counted differently as input
        key = self.message_key(message)
        if key not in self._exact:
            self._hints[key] = MESSAGE_OVERHEAD + BLOCK_OVERHEAD * len(content) + output_tokens

    def overhead_key(self, system: Sequence[Block], tools: Sequence[dict[str, Any]]) -> str:
        """The hash of a request's fixed part: frame, tools and base system.

        Remembered for the list objects last asked about (one request asks several
        times) and for their value, a copy of which is kept (each request comes with new
        lists of the same blocks).
        """
        memo = self._overhead_memo
        if memo is not None:
            if memo[0] is system and memo[1] is tools:
                return memo[2]
            if memo[3] == [system, tools]:
                self._overhead_memo = (system, tools, memo[2], memo[3])
                return memo[2]
        key = self._key("overhead", {"system": list(system), "tools": list(tools)})
        self._overhead_memo = (system, tools, key, copy.deepcopy([list(system), list(tools)]))
        return key

    def overhead_tokens(self, system: Sequence[Block], tools: Sequence[dict[str, Any]]) -> int:
        """Tokens of the request frame, the tool definitions and the system blocks."""

        def raw() -> int:
            total = REQUEST_OVERHEAD
            if system:
                total += SYSTEM_OVERHEAD + self._raw_blocks(system)
            if tools:
                total += TOOLS_PREAMBLE + sum(
                    TOOL_OVERHEAD + self._raw_text(_canon(strip_cache_control(t))) for t in tools
                )
            return total

        return self._lookup(self.overhead_key(system, tools), raw)

    def is_exact(self, key: str) -> bool:
        """True when the count under ``key`` was learned from the server."""
        return key in self._exact

    def estimate_of(self, key: str) -> int:
        """The unscaled offline estimate stored under ``key`` (0 if never estimated)."""
        return self._estimates.get(key, 0)

    # learning -----------------------------------------------------------------------------

    def learn(self, parts: Sequence[str], total: int) -> None:
        """Attribute an exact request total to its parts (keys, with repeats).

        Parts already known keep their counts; replies whose count their response taught
        get that count; the rest is shared among the unknown ones in proportion to their
        estimates, and the ratio refines the estimate scale.
        """
        if total <= 0 or not parts:
            return
        known, unknown = self._split_known(parts)
        residual = total - known
        if not unknown:
            # Everything was known: the difference is structure (merged messages); put it
            # on the overhead, which every request has.
            exact = self._exact
            if residual and parts[0] in exact and exact[parts[0]] + residual > 0:
                exact[parts[0]] += residual
            return
        if residual <= 0:
            return
        unknown, residual = self._take_hints(unknown, residual)
        if len(unknown) == 1:
            # One unknown part takes the rest whatever its estimate: make none just for this.
            ((key, n),) = unknown.items()
            estimate = self._estimates.get(key)
            if estimate is not None and estimate * n >= 50 and key not in self._hints:
                self._rescale(residual / (estimate * n))
            self._settle(key, max(1, residual // n))
            return
        self._share(unknown, residual)

    def _split_known(self, parts: Sequence[str]) -> tuple[int, dict[str, int]]:
        """The tokens of the parts known exactly, and the unknown parts with their repeats."""
        exact = self._exact
        known = 0
        unknown: dict[str, int] = {}  # unknown part -> times it appears
        for k in parts:
            count = exact.get(k)
            if count is None:
                unknown[k] = unknown.get(k, 0) + 1
            else:
                known += count
        return known, unknown

    def _take_hints(self, unknown: dict[str, int], residual: int) -> tuple[dict[str, int], int]:
        """Make exact the counts responses taught, when the residual holds them and some
        part is left to take the rest; returns the parts still unknown and their tokens."""
        hints = self._hints
        rest = {k: n for k, n in unknown.items() if k not in hints}
        if not rest or len(rest) == len(unknown):
            return unknown, residual
        taught = sum(hints[k] * n for k, n in unknown.items() if k in hints)
        if taught + sum(rest.values()) > residual:
            return unknown, residual
        for k in unknown:
            if k in hints:
                self._exact[k] = hints.pop(k)
                self.learned += 1
        return rest, residual - taught

    def _share(self, unknown: dict[str, int], residual: int) -> None:
        """Share ``residual`` among many unknown parts in proportion to their weights."""
        # Many parts with no estimate yet (the first reply after resuming a chat): weigh
        # them by the fitted heuristic rather than make an offline estimate of each; its
        # weights say nothing of the estimator's scale, so the scale is left as it is.
        cheap = (
            self._estimator is None
            and self.use_ctok
            and ctok_available()
            and sum(1 for k in unknown if k not in self._estimates) > BULK_PARTS
        )
        weights = {k: max(1, self._weight(k, cheap=cheap)) * n for k, n in unknown.items()}
        weight_sum = sum(weights.values())
        if weight_sum >= 50 and not cheap and not any(k in self._hints for k in unknown):
            self._rescale(residual / weight_sum)
        left = residual
        items = sorted(unknown.items(), key=lambda kv: weights[kv[0]])
        for i, (key, n) in enumerate(items):
            if i == len(items) - 1:
                share = max(1, left // n)
            else:
                share = max(1, round(residual * weights[key] / weight_sum / n))
            self._settle(key, share)
            left -= share * n

    def _weight(self, key: str, *, cheap: bool = False) -> int:
        """The estimate a part's share of a learned total is weighed by (with ``cheap``,
        the heuristic's, made for the weight only, when no estimate exists yet)."""
        hint = self._hints.get(key)
        if hint is not None:
            return hint
        estimate = self._estimates.get(key)
        if estimate is None:
            blocks = self._pending.pop(key, None)
            if blocks is None:
                return 1
            if cheap:
                return MESSAGE_OVERHEAD + sum(
                    BLOCK_OVERHEAD + heuristic_tokens(str(b.get("text", "")), self.family)
                    for b in blocks
                )
            estimate = self._estimates[key] = MESSAGE_OVERHEAD + self._raw_blocks(blocks)
        return estimate

    def _rescale(self, ratio: float) -> None:
        old = self.scale.get(self.family, 1.0)
        self.scale[self.family] = min(3.0, max(0.33, old * 0.6 + ratio * 0.4))

    def _settle(self, key: str, count: int) -> None:
        self._exact[key] = count
        self._hints.pop(key, None)
        self._pending.pop(key, None)
        self.learned += 1

    def exact_total(self, request: Request, count: Callable[[Request], int]) -> int:
        """The exact input tokens of ``request`` from the count endpoint, cached by hash."""
        key = self._key("request", strip_cache_control(request.to_api(for_count=True)))
        cached = self._counted.get(key)
        if cached is None:
            cached = self._counted[key] = int(count(request))
            self.count_calls += 1
        return cached
