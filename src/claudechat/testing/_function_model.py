"""Models for testing an app built on claudechat, with no SDK and no network.

``FunctionModel`` hands the exact request a chat would send to a test function and answers
with what it returns; ``ScriptedModel`` answers from a list. Both count tokens with the
emulator's deterministic rule, so usage, cost and budgets behave as they do for real.
``AsyncFunctionModel`` / ``AsyncScriptedModel`` are the twins for ``AsyncChat``.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any

from ..errors import UserError
from ..models.base import Done, ModelResponse, Request, StreamEvent, TextDelta
from ..usage import Usage
from ._tokens import count_tokens_text
from .emulator import Emulator

__all__ = ["AsyncFunctionModel", "AsyncScriptedModel", "FunctionModel", "ScriptedModel"]

Answer = str | Sequence[dict[str, Any]] | ModelResponse
"""What a test function returns: reply text, content blocks, or a whole response."""

_counter = Emulator()  # only its deterministic token rule is used
_ids = itertools.count(1)


class FunctionModel:
    """A ``Model`` whose replies come from ``function(request)``: the test sees exactly what
    would have been sent. A ``tool_use`` block in the answer stops with ``tool_use``."""

    def __init__(
        self, function: Callable[[Request], Answer], *, name: str = "claude-sonnet-4-6"
    ) -> None:
        self.function = function
        self.name = name
        self.requests: list[Request] = []

    def create(self, request: Request) -> ModelResponse:
        """Answer the request with the function's reply."""
        self.requests.append(request)
        return _response(request, self.function(request))

    def stream(self, request: Request) -> Iterator[StreamEvent]:
        """The same reply, its text word by word, then ``Done``."""
        response = self.create(request)
        for block in response.content:
            if block.get("type") == "text":
                for piece in _pieces(block["text"]):
                    yield TextDelta(piece)
        yield Done(response)

    def count_tokens(self, request: Request) -> int:
        """The request's input tokens by the emulator's rule."""
        return _input_tokens(request)


class ScriptedModel(FunctionModel):
    """A ``Model`` answering from ``replies`` in order; UserError when they run out."""

    def __init__(self, replies: Iterable[Answer], *, name: str = "claude-sonnet-4-6") -> None:
        self.replies: deque[Answer] = deque(replies)
        super().__init__(self._next, name=name)

    def _next(self, request: Request) -> Answer:
        if not self.replies:
            raise UserError(f"ScriptedModel has no reply left for request {len(self.requests)}")
        return self.replies.popleft()


class AsyncFunctionModel:
    """The ``AsyncModel`` twin of FunctionModel (the function itself is a plain one)."""

    def __init__(
        self, function: Callable[[Request], Answer], *, name: str = "claude-sonnet-4-6"
    ) -> None:
        self._sync = FunctionModel(function, name=name)
        self.name = name

    @property
    def requests(self) -> list[Request]:
        """The requests received, oldest first."""
        return self._sync.requests

    async def create(self, request: Request) -> ModelResponse:
        """Answer the request with the function's reply."""
        return self._sync.create(request)

    async def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        """The same reply, its text word by word, then ``Done``."""
        for event in self._sync.stream(request):
            yield event

    async def count_tokens(self, request: Request) -> int:
        """The request's input tokens by the emulator's rule."""
        return _input_tokens(request)


class AsyncScriptedModel(AsyncFunctionModel):
    """The ``AsyncModel`` twin of ScriptedModel."""

    def __init__(self, replies: Iterable[Answer], *, name: str = "claude-sonnet-4-6") -> None:
        script = ScriptedModel(replies, name=name)
        super().__init__(script.function, name=name)
        self._sync = script


def _input_tokens(request: Request) -> int:
    return _counter.count_request_tokens(request.to_api(for_count=True))


def _response(request: Request, answer: Answer) -> ModelResponse:
    if isinstance(answer, ModelResponse):
        return answer
    content = [{"type": "text", "text": answer}] if isinstance(answer, str) else list(answer)
    output = sum(
        count_tokens_text(b.get("text", ""), request.model) for b in content if "text" in b
    )
    uses_tool = any(b.get("type") == "tool_use" for b in content)
    return ModelResponse(
        id=f"msg_test_{next(_ids)}",
        model=request.model,
        content=content,
        stop_reason="tool_use" if uses_tool else "end_turn",
        usage=Usage(input_tokens=_input_tokens(request), output_tokens=output, requests=1),
    )


def _pieces(text: str) -> Iterator[str]:
    start = 0
    for i, char in enumerate(text):
        if char == " ":
            yield text[start : i + 1]
            start = i + 1
    if start < len(text):
        yield text[start:]
