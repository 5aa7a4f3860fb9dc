"""``PromptCaching``: ``cache_control`` breakpoints placed automatically.

Up to four breakpoints, in prefix order: the end of tools + base system, the end of the
rolling summary, the previous request's last user message (where its cache entry was
written, so this request reads it back even after a long tool round) and the newest user
message. Per-turn injected blocks sit after the last breakpoint. 1h entries precede 5m.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ConfigError
from ..models.base import Request

__all__ = ["MAX_BREAKPOINTS", "Layout", "PromptCaching"]

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
        points: list[tuple[str, int, int]] = []  # (section, message index, block index)
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
        if len(points) > MAX_BREAKPOINTS:
            points = points[:1] + points[-(MAX_BREAKPOINTS - 1) :]
        system = list(request.system)
        tools = list(request.tools)
        messages = list(messages)
        for section, mi, bi in points:
            ttl = self.ttl if section == "messages" else self.system_ttl
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
