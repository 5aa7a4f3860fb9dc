"""Side calls: the model calls the context engine needs, asked for instead of made.

``ContextEngine.step`` runs the policies with an ``Asker``. A summary or an exact count is
looked up in the answers given so far; the first one missing ends the attempt
(``Unanswered``) and goes back to the caller as a ``SideCall`` to answer, so a sync and an
async chat drive the same engine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from ..models.base import Request
from .base import SideCall

__all__ = ["Asker", "Unanswered", "call_key"]


class Unanswered(Exception):
    """A side call the caller has not answered yet: ends this attempt at ``prepare``."""

    def __init__(self, call: SideCall) -> None:
        super().__init__(call.kind)
        self.call = call


class Asker:
    """The side calls of one attempt at ``prepare``: answered ones come from ``answers``,
    the first unanswered one ends the attempt (``Unanswered``)."""

    def __init__(self, answers: Mapping[str, str | int]) -> None:
        self.answers = answers
        self.summaries = 0  # summary calls answered in this attempt

    def _answer(self, call: SideCall) -> str | int:
        if call.key not in self.answers:
            raise Unanswered(call)
        return self.answers[call.key]

    def complete(self, system: str, prompt: str, *, model: str, max_tokens: int) -> str:
        request = Request(
            model=model,
            max_tokens=max_tokens,
            messages=[{"role": "user", "content": [{"type": "text", "text": prompt}]}],
            system=[{"type": "text", "text": system}] if system else [],
        )
        text = str(self._answer(SideCall("summary", request, call_key(request))))
        self.summaries += 1
        return text

    def count(self, request: Request) -> int:
        return int(self._answer(SideCall("count", request, call_key(request))))


def call_key(request: Request) -> str:
    """A name for a side call: the hash of what it sends."""
    body = json.dumps(request.to_api(for_count=False), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()
