"""The memory tool on the emulator: the API's rule for its definition, and scripted
memory calls, so a chat's memory tool runs through the real SDK offline.

``memory_call("create", path="/memories/a.md", file_text="…")`` is the tool_use block a
script returns; ``MemoryScript`` is a reply function that makes the given calls one per
request (each after the previous result came back) and then says what came back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import invalid
from ._prefix import content_blocks

__all__ = ["MEMORY_TOOL_TYPE", "MemoryScript", "memory_call", "validate_memory_tool"]

MEMORY_TOOL_TYPE = "memory_20250818"


def validate_memory_tool(tools: Any) -> None:
    """A 400 for a memory tool definition the API refuses (it must be named "memory")."""
    for i, tool in enumerate(tools or []):
        memory = isinstance(tool, dict) and tool.get("type") == MEMORY_TOOL_TYPE
        if memory and tool.get("name") != "memory":
            raise invalid(f"tools.{i}.{MEMORY_TOOL_TYPE}.name: Input should be 'memory'")


def memory_call(command: str, **params: Any) -> dict[str, Any]:
    """A tool_use block calling the memory tool (the emulator gives it an id)."""
    return {"type": "tool_use", "name": "memory", "input": {"command": command, **params}}


def _results(request: Any) -> list[dict[str, Any]]:
    """The tool_result blocks of the request's last message."""
    last = request.messages[-1]
    if last["role"] != "user":
        return []
    return [b for b in content_blocks(last["content"]) if b["type"] == "tool_result"]


def _text(result: Mapping[str, Any]) -> str:
    content = result.get("content")
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content or [] if isinstance(b, dict))


class MemoryScript:
    """A reply function: each memory command of ``calls`` in turn, one per request, then
    a text with every result (``ERROR:`` before an error result). ``results`` keeps them."""

    def __init__(self, calls: Sequence[Mapping[str, Any]]) -> None:
        self.calls = [dict(c) for c in calls]
        self.results: list[tuple[bool, str]] = []
        self._next = 0

    def __call__(self, request: Any) -> list[dict[str, Any]] | str:
        """The next memory call, or the closing text."""
        for result in _results(request):
            self.results.append((bool(result.get("is_error")), _text(result)))
        if self._next < len(self.calls):
            call = self.calls[self._next]
            self._next += 1
            return [memory_call(**call)]
        lines = [("ERROR: " if bad else "") + text for bad, text in self.results]
        return "Memory results:\n" + "\n---\n".join(lines)
