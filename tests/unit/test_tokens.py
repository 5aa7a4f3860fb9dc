"""Token accounting: estimates, per-message cache, learning exact counts from usage."""

from __future__ import annotations

import pytest

from claudechat.messages import Message, assistant, user
from claudechat.models.base import Request
from claudechat.models.capabilities import model_info
from claudechat.tokens import (
    TokenAccountant,
    content_class,
    ctok_available,
    estimate_text,
    heuristic_tokens,
)

PROSE = (
    "The committee met on Tuesday to review the budget for the coming year. After a long "
    "discussion about travel costs, they agreed to postpone the decision until March."
)
CODE = (
    "def fold(values: list[int]) -> int:\n    total = 0\n    for v in values:\n"
    "        total += v * 2\n    return total\n"
)
JSON = '{"id": 1234, "name": "widget", "tags": ["a", "b"], "price": 12.5, "ok": true}'


def by_words(text: str, family: str) -> int:
    """A transparent estimator for exact arithmetic in tests: one token per word."""
    return len(text.split())


def test_content_class_detects_kinds() -> None:
    assert content_class(PROSE) == "prose"
    assert content_class(CODE) == "code"
    assert content_class(JSON) == "json"
    assert content_class("我们明天上午十点在会议室讨论这个问题。") == "cjk"


def test_heuristic_tracks_characters_per_token_by_kind_and_family() -> None:
    # FACTS.md: English ~5 chars/token (older) vs ~3.3 (4.7+); JSON ~3.2 vs ~2.1.
    prose3 = len(PROSE) / heuristic_tokens(PROSE, "claude3")
    prose47 = len(PROSE) / heuristic_tokens(PROSE, "claude47")
    json3 = len(JSON) / heuristic_tokens(JSON, "claude3")
    assert 4.0 < prose3 < 6.5
    assert 2.6 < prose47 < 4.5
    assert prose47 < prose3
    assert json3 < prose3
    cjk = "我们明天上午十点在会议室讨论这个问题"
    assert 0.7 < len(cjk) / heuristic_tokens(cjk, "claude3") < 1.4


def test_estimate_text_uses_ctok_when_installed() -> None:
    if not ctok_available():
        pytest.skip("ctok not installed")
    import ctok  # type: ignore[import-untyped,unused-ignore]

    frame = ctok.token_count("x") - 1
    assert estimate_text(PROSE, "claude3") == ctok.token_count(PROSE) - frame
    assert estimate_text("", "claude3") == 0
    assert estimate_text(PROSE, "claude3", use_ctok=False) == heuristic_tokens(PROSE)


def test_message_counts_are_cached_and_partial_replies_count_their_text_only() -> None:
    acct = TokenAccountant(estimator=by_words)
    m = user("one two three")
    assert acct.message_tokens(m) == 4 + 1 + 3  # message + block overhead + words
    assert acct.message_key(m) == acct.message_key(user("one two three"))
    cut = Message(
        "assistant", [{"type": "tool_use", "id": "t", "name": "x", "input": {}}], status="partial"
    )
    assert acct.message_tokens(cut) == 0


def test_learning_attributes_the_new_tokens_and_sums_stay_exact() -> None:
    acct = TokenAccountant(estimator=by_words)
    acct.use(model_info("claude-sonnet-4-6"))
    system: list[dict[str, object]] = [{"type": "text", "text": "be brief"}]
    u1, a1, u2 = user("hello there"), assistant("word " * 40), user("what time " * 20)
    overhead = acct.overhead_key(system, [])
    # The engine always estimates a request before it learns from its usage.
    estimated = [acct.overhead_tokens(system, []), *(acct.message_tokens(m) for m in (u1, a1, u2))]
    assert estimated == [7 + 3 + 1 + 2, 4 + 1 + 2, 4 + 1 + 40, 4 + 1 + 40]
    acct.learn([overhead, acct.message_key(u1)], 40)
    first = acct.overhead_tokens(system, []) + acct.message_tokens(u1)
    assert first == 40
    acct.learn([overhead, acct.message_key(u1), acct.message_key(a1), acct.message_key(u2)], 140)
    assert acct.message_tokens(a1) + acct.message_tokens(u2) == 100
    assert acct.is_exact(acct.message_key(a1)) and acct.is_exact(acct.message_key(u2))
    # The learned ratio corrects estimates of text never sent.
    assert acct.scale["claude3"] > 1.0


def test_exact_total_asks_the_endpoint_once_per_request() -> None:
    acct = TokenAccountant(estimator=by_words)
    calls: list[Request] = []

    def count(request: Request) -> int:
        calls.append(request)
        return 123

    req = Request("claude-sonnet-4-6", 100, [{"role": "user", "content": "hi"}])
    assert acct.exact_total(req, count) == 123
    assert acct.exact_total(req, count) == 123
    assert len(calls) == 1 and acct.count_calls == 1


def test_families_are_counted_apart() -> None:
    acct = TokenAccountant(use_ctok=False)
    m = user(PROSE)
    acct.use(model_info("claude-sonnet-4-6"))
    older = acct.message_tokens(m)
    acct.use(model_info("claude-opus-4-7"))
    newer = acct.message_tokens(m)
    assert newer > older * 1.15


def test_images_are_counted_by_size() -> None:
    import base64
    import struct

    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + struct.pack(">II", 300, 250) + b"\0" * 20
    block = {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(png).decode(),
        },
    }
    acct = TokenAccountant(estimator=by_words)
    assert acct.blocks_tokens([block]) == 1 + 100  # 300*250/750
