"""``PromptCaching``: ``cache_control`` breakpoints placed automatically.

Up to four breakpoints, in prefix order: the end of tools + base system, the end of the
rolling summary, the previous request's last user message (where its cache entry was
written, so this request reads it back even after a long tool round) and the newest user
message. Per-turn injected blocks sit after the last breakpoint. 1h entries precede 5m.

Breakpoints the caller set (``cache_control`` in system blocks, tools or prompt blocks)
count towards the API's limit of four: ours give way first (the newest user message's is
kept longest), then the caller's oldest message breakpoints are left out of the request.
A prompt that would need more than four with the caller's system and tools is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ConfigError, UserError
from ..models.base import Request

__all__ = ["MAX_BREAKPOINTS", "Layout", "PromptCaching", "check_breakpoints"]

MAX_BREAKPOINTS = 4
Ttl = Literal["5m", "1h"]


@dataclass(frozen=True, slots=True)
class Layout:
    """Where things are in a rendered request, for placing breakpoints."""

    system_base: int  # system blocks before the summary block
    summary: bool  # a summary block follows them
    injected: int  # blocks appended to the newest user message (after the breakpoint)
    injected_into: int | None  # index of that user message


def _control(ttl: str) -> dict[str, Any]:
    return {"type": "ephemeral", "ttl": "1h"} if ttl == "1h" else {"type": "ephemeral"}


def _uncacheable(block: dict[str, Any]) -> bool:
    return block.get("type") in ("thinking", "redacted_thinking") or (
        block.get("type") == "text" and not str(block.get("text", "")).strip()
    )


Point = tuple[str, int, int]  # (section, message index or -1, block index)


def _marked(blocks: Sequence[Any]) -> int:
    return sum(1 for b in blocks if isinstance(b, dict) and b.get("cache_control"))


def check_breakpoints(
    prompt: object,
    system: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]],
) -> None:
    """UserError when the caller's breakpoints in system, tools and a new prompt (text or
    blocks) pass four (the API's limit), before the prompt is stored."""
    fixed = _marked(system) + _marked(tools)
    own = _marked(prompt) if isinstance(prompt, list | tuple) else 0
    if fixed + own > MAX_BREAKPOINTS:
        raise UserError(
            f"the prompt sets cache_control on {own} blocks and the system prompt and tools "
            f"on {fixed}: the API takes at most {MAX_BREAKPOINTS} cache breakpoints"
        )


def _caller_points(request: Request) -> list[Point]:
    """The blocks the caller marked with ``cache_control``, in prefix order."""
    points: list[Point] = [("tools", -1, j) for j, t in enumerate(request.tools)
                           if t.get("cache_control")]  # fmt: skip
    points += [("system", -1, j) for j, b in enumerate(request.system) if b.get("cache_control")]
    for i, m in enumerate(request.messages):
        content = m["content"]
        if isinstance(content, list):
            points += [("messages", i, j) for j, b in enumerate(content)
                       if isinstance(b, dict) and b.get("cache_control")]  # fmt: skip
    return points


_RANK = {"tools": 0, "system": 1, "messages": 2}


def _order(point: Point) -> tuple[int, int, int]:
    return _RANK[point[0]], point[1], point[2]


def _fixed_controls(request: Request) -> int:
    """Breakpoints the caller set where they cannot be moved: the top-level one, and those
    nested inside blocks (a tool result's content)."""
    nested = sum(
        1
        for m in request.messages
        if isinstance(m["content"], list)
        for b in m["content"]
        if isinstance(b, dict) and isinstance(b.get("content"), list)
        for inner in b["content"]
        if isinstance(inner, dict) and inner.get("cache_control")
    )
    return nested + (1 if request.cache_control else 0)


def _ttl_of(request: Request, point: Point) -> str:
    section, mi, bi = point
    if section == "tools":
        block = request.tools[bi]
    elif section == "system":
        block = request.system[bi]
    else:
        block = request.messages[mi]["content"][bi]
    control = block.get("cache_control")
    return "1h" if isinstance(control, dict) and control.get("ttl") == "1h" else "5m"


def _ttl_among(point: Point, default: str, theirs: dict[Point, str]) -> str:
    """Our TTL at ``point``, so that no 1h entry follows a 5m one: 1h before a caller's 1h,
    5m after a caller's 5m."""
    here = _order(point)
    if any(ttl == "1h" and _order(p) > here for p, ttl in theirs.items()):
        return "1h"
    if any(ttl == "5m" and _order(p) < here for p, ttl in theirs.items()):
        return "5m"
    return default


class PromptCaching:
    """Mark cache breakpoints on each request.

    ``ttl`` for the message breakpoints, ``system_ttl`` (default: the same) for tools,
    system and summary; "1h" messages need "1h" system entries (1h must precede 5m).
    """

    def __init__(self, *, ttl: Ttl = "5m", system_ttl: Ttl | None = None) -> None:
        system_ttl = system_ttl or ttl
        if ttl not in ("5m", "1h") or system_ttl not in ("5m", "1h"):
            raise ConfigError('cache TTL must be "5m" or "1h"')
        if ttl == "1h" and system_ttl == "5m":
            raise ConfigError("1h cache entries must precede 5m ones: use system_ttl='1h'")
        self.ttl: str = ttl
        self.system_ttl: str = system_ttl

    def apply(self, request: Request, layout: Layout) -> Request:
        """Set ``cache_control`` on copies of the chosen blocks (never on stored ones)."""
        points: list[Point] = []
        if layout.system_base:
            points.append(("system", -1, layout.system_base - 1))
        elif request.tools:
            points.append(("tools", -1, len(request.tools) - 1))
        if layout.summary:
            points.append(("system", -1, layout.system_base))
        users: list[int] = []  # the last two user messages, oldest first
        messages = request.messages
        i = len(messages)
        while len(users) < 2 and i > 0:
            i -= 1
            if messages[i]["role"] == "user":
                users.insert(0, i)
        for i in users:
            content = request.messages[i]["content"]
            last = len(content) - 1 - (layout.injected if i == layout.injected_into else 0)
            while last >= 0 and _uncacheable(content[last]):
                last -= 1
            if last >= 0:
                points.append(("messages", i, last))
        theirs = _caller_points(request)
        dropped = max(0, len(theirs) + _fixed_controls(request) - MAX_BREAKPOINTS)
        in_messages = [p for p in theirs if p[0] == "messages"]
        dropped_points = set(in_messages[:dropped])  # the caller's oldest, for this request
        theirs = [p for p in theirs if p not in dropped_points]
        points = [p for p in points if p not in theirs]
        room = max(0, MAX_BREAKPOINTS - len(theirs) - _fixed_controls(request))
        if len(points) > room:  # keep the newest user message's, then the system's, ...
            ranked = sorted(points, key=lambda p: (p != points[-1], p != points[0]))
            kept = set(ranked[:room])
            points = [p for p in points if p in kept]
        system = list(request.system)
        tools = list(request.tools)
        messages = list(messages)
        for _, mi, bi in dropped_points:
            content = list(messages[mi]["content"])
            content[bi] = {k: v for k, v in content[bi].items() if k != "cache_control"}
            messages[mi] = {**messages[mi], "content": content}
        ttls = {p: _ttl_of(request, p) for p in theirs}
        for section, mi, bi in points:
            default = self.ttl if section == "messages" else self.system_ttl
            ttl = _ttl_among((section, mi, bi), default, ttls)
            if section == "system":
                system[bi] = {**system[bi], "cache_control": _control(ttl)}
            elif section == "tools":
                tools[bi] = {**tools[bi], "cache_control": _control(ttl)}
            else:
                content = list(messages[mi]["content"])
                content[bi] = {**content[bi], "cache_control": _control(ttl)}
                messages[mi] = {**messages[mi], "content": content}
        request.system, request.tools, request.messages = system, tools, messages
        return request
