"""The thread decisions on hand-built requests: what goes out, when a thread is replaced,
what a replay sends, and the mark kept in the conversation's metadata."""

from __future__ import annotations

from typing import Any

import pytest

from claudechat.chat.threads import (
    MESSAGE_THREADS_BETA,
    ThreadKeeper,
    ThreadMark,
    Threads,
    supports_threads,
)
from claudechat.config import parse_value
from claudechat.errors import ModelError
from claudechat.metadata import THREAD
from claudechat.models.base import ModelResponse, Request
from claudechat.usage import Usage


class Keeper:
    """A ThreadKeeper over a dict as the conversation's metadata, on a hand-set clock."""

    def __init__(self) -> None:
        self.now = 100.0
        self.metadata: dict[str, Any] = {}
        self.keeper = ThreadKeeper(Threads(clock=lambda: self.now), load=self.load, save=self.save)

    def load(self) -> ThreadMark | None:
        return ThreadMark.from_metadata(self.metadata.get(THREAD))

    def save(self, mark: ThreadMark) -> None:
        self.metadata[THREAD] = mark.to_metadata()

    def turn(self, request: Request, reply_id: str) -> str:
        """Plan ``request``, answer it with a reply, and return the thread kind it used."""
        sent = self.keeper.plan(request)
        self.keeper.record(sent, response(reply_id))
        return sent.kind


def response(reply_id: str, text: str = "ok") -> ModelResponse:
    return ModelResponse(reply_id, "m", [{"type": "text", "text": text}], "end_turn", Usage())


def request(*texts: str, system: str = "S", mark_last: bool = True) -> Request:
    messages: list[dict[str, Any]] = []
    for n, text in enumerate(texts):
        if n:
            messages.append({"role": "assistant", "content": [{"type": "text", "text": "ok"}]})
        block: dict[str, Any] = {"type": "text", "text": text}
        if mark_last and n == len(texts) - 1:
            block["cache_control"] = {"type": "ephemeral"}
        messages.append({"role": "user", "content": [block]})
    return Request("claude-sonnet-4-6", 100, messages, system=[{"type": "text", "text": system}])


def test_the_second_turn_sends_only_its_message_and_no_system() -> None:
    k = Keeper()
    assert k.turn(request("a"), "r1") == "create"
    sent = k.keeper.plan(request("a", "b"))
    assert sent.kind == "continue"
    assert sent.request.messages == request("a", "b").messages[-1:]
    assert sent.request.system == [] and sent.request.tools == []
    assert sent.request.extra["thread"] == {"type": "continue", "previous_message_id": "r1"}
    assert MESSAGE_THREADS_BETA in sent.request.betas
    assert sent.full == request("a", "b")


def test_moved_breakpoints_do_not_break_the_thread() -> None:
    k = Keeper()
    k.turn(request("a"), "r1")
    unmarked = request("a", "b", mark_last=False)
    unmarked.messages[0]["content"][0]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
    assert k.keeper.plan(unmarked).kind == "continue"


@pytest.mark.parametrize(
    "change",
    ["trim", "system", "expiry", "edit"],
)
def test_a_changed_prefix_or_an_old_thread_starts_a_new_one(change: str) -> None:
    k = Keeper()
    k.turn(request("a"), "r1")
    k.turn(request("a", "b"), "r2")
    nxt = request("a", "b", "c")
    if change == "trim":
        nxt.messages = nxt.messages[2:]
    if change == "system":
        nxt.system = [{"type": "text", "text": "S2"}]
    if change == "expiry":
        k.now += 291
    if change == "edit":
        nxt.messages[2]["content"] = [{"type": "text", "text": "other"}]
    sent = k.keeper.plan(nxt)
    assert sent.kind == "create"
    assert sent.request.messages == nxt.messages
    assert sent.request.extra["thread"] == {"type": "create"}


@pytest.mark.parametrize(
    "code",
    [
        "thread_not_found",
        "thread_already_continued",
        "thread_continue_in_flight",
        "thread_fingerprint_mismatch",
    ],
)
def test_a_refused_continue_is_replayed_whole(code: str) -> None:
    k = Keeper()
    k.turn(request("a"), "r1")
    sent = k.keeper.plan(request("a", "b"))
    again = k.keeper.replay(sent, ModelError("refused", status=400, error_code=code))
    assert again is not None and again.kind == "create"
    assert again.request.messages == request("a", "b").messages
    assert again.request.system == request("a", "b").system
    assert k.keeper.replay(again, ModelError("refused", error_code=code)) is None  # once


def test_other_errors_are_not_replayed() -> None:
    k = Keeper()
    k.turn(request("a"), "r1")
    sent = k.keeper.plan(request("a", "b"))
    assert k.keeper.replay(sent, ModelError("overloaded", status=529)) is None


def test_an_unsupported_request_goes_without_a_thread_from_then_on() -> None:
    k = Keeper()
    sent = k.keeper.plan(request("a"))
    again = k.keeper.replay(sent, ModelError("no", error_code="thread_unsupported_request"))
    assert again is not None and again.kind == "off" and "thread" not in again.request.extra
    assert k.keeper.plan(request("a", "b")).kind == "off"
    assert k.keeper.plan(request("a", "b", system="other")).kind == "create"


def test_a_refusal_keeps_no_mark() -> None:
    k = Keeper()
    sent = k.keeper.plan(request("a"))
    k.keeper.record(sent, ModelResponse("r1", "m", [], "refusal", Usage()))
    assert THREAD not in k.metadata


def test_the_mark_round_trips_and_unreadable_ones_are_none() -> None:
    mark = ThreadMark("r1", "f", "p", 3, 12.5)
    assert ThreadMark.from_metadata(mark.to_metadata()) == mark
    assert ThreadMark.from_metadata({"reply_id": "r1"}) is None
    assert ThreadMark.from_metadata("r1") is None


def test_old_models_are_not_threaded() -> None:
    k = Keeper()
    old = request("a")
    old.model = "claude-3-5-haiku-20241022"
    assert k.keeper.plan(old).kind == "off"
    assert not supports_threads("claude-opus-4-1") and supports_threads("claude-opus-4-5")


def test_the_config_key_takes_on_and_off() -> None:
    assert parse_value("threads", "on") is True
    assert parse_value("threads", "off") is False
