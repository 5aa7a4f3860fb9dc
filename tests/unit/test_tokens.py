"""Token accounting: estimates, per-message cache, learning exact counts from usage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claudechat.estimates import (
    content_class,
    ctok_available,
    estimate_text,
    heuristic_tokens,
    text_bound,
)
from claudechat.messages import Message, assistant, user
from claudechat.models.base import Request
from claudechat.models.capabilities import model_info
from claudechat.tokens import TokenAccountant

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


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.text(min_size=1, max_size=80), st.text("aZ9 \n{}ÄȺȾĲǅ中😀\u0301", min_size=1)),
    st.sampled_from(["claude3", "claude47"]),
)
def test_the_cheap_bound_is_never_below_the_offline_estimate(text: str, family: str) -> None:
    # message_bound rests on this: a few tokens per UTF-8 byte at most, ctok or heuristic.
    assert estimate_text("Ⱥ", "claude3") <= text_bound("Ⱥ")
    bound = text_bound(text)
    assert heuristic_tokens(text, family) <= bound
    assert estimate_text(text, family) <= bound


@pytest.mark.parametrize("use_ctok", [False, True])
def test_message_bound_defers_the_estimate_and_never_undercounts(use_ctok: bool) -> None:
    acct = TokenAccountant(use_ctok=use_ctok)
    acct.use(model_info("claude-sonnet-4-6"))
    acct.scale["claude3"] = 1.7  # a learned scale applies to the bound as to the estimate
    m = user("Line one\n\n12345 ÄÖÜ 数据 " + PROSE)
    bound = acct.message_bound(m)
    assert not acct.estimate_of(acct.message_key(m))  # no estimate made for the bound
    assert bound >= acct.message_tokens(m) > 0
    assert acct.estimate_of(acct.message_key(m)) > 0
    assert acct.message_bound(m) == acct.message_tokens(m)  # once estimated, the estimate


def test_a_deferred_estimate_is_made_when_a_shared_total_needs_weights() -> None:
    acct = TokenAccountant(use_ctok=False)
    system: list[dict[str, object]] = [{"type": "text", "text": "be brief"}]
    small, big = user("hi"), user(PROSE * 4)
    parts = [acct.overhead_key(system, [])]
    for m in (small, big):
        acct.message_bound(m)
        parts.append(acct.message_key(m))
    acct.overhead_tokens(system, [])
    acct.learn(parts, 400)
    # Shared by the offline estimates, not by the loose bounds or equally.
    assert acct.message_tokens(big) > 10 * acct.message_tokens(small)
    total = acct.overhead_tokens(system, []) + sum(acct.message_tokens(m) for m in (small, big))
    assert total == 400


def test_a_reply_count_comes_from_its_output_tokens_and_the_prompt_takes_the_rest() -> None:
    acct = TokenAccountant(estimator=by_words)
    system: list[dict[str, object]] = [{"type": "text", "text": "be brief"}]
    u1, a1, u2 = user("hello there"), assistant("word " * 40), user("what time " * 20)
    overhead = acct.overhead_key(system, [])
    acct.overhead_tokens(system, [])
    acct.message_tokens(u1)
    acct.learn([overhead, acct.message_key(u1)], 40)
    acct.teach_reply(a1, 52)
    assert acct.message_tokens(a1) == 4 + 1 + 52  # message + block overhead + output
    acct.message_tokens(u2)
    acct.learn([overhead, acct.message_key(u1), acct.message_key(a1), acct.message_key(u2)], 140)
    assert acct.message_tokens(a1) == 57 and acct.is_exact(acct.message_key(a1))
    assert acct.message_tokens(u2) == 140 - 40 - 57
    # A count learned from usage is not overridden by a later hint.
    acct.teach_reply(a1, 5)
    assert acct.message_tokens(a1) == 57


def test_replies_with_more_than_text_get_no_count_from_output_tokens() -> None:
    acct = TokenAccountant(estimator=by_words)
    call = {"type": "tool_use", "id": "t1", "name": "grep", "input": {"q": "x"}}
    thought = {"type": "thinking", "thinking": "hmm " * 30, "signature": "s"}
    for content in (
        [{"type": "text", "text": "ok"}, call],
        [thought, {"type": "text", "text": "ok"}],
    ):
        m = assistant(content)
        estimate = acct.message_tokens(m)
        acct.teach_reply(m, 500)
        assert acct.message_tokens(m) == estimate
    cut = Message("assistant", [{"type": "text", "text": "half"}], status="partial")
    estimate = acct.message_tokens(cut)
    acct.teach_reply(cut, 500)
    assert acct.message_tokens(cut) == estimate


def test_a_reply_with_thinking_is_estimated_ahead_and_not_again_when_sent() -> None:
    estimated: list[str] = []

    def counting(text: str, family: str) -> int:
        estimated.append(text)
        return by_words(text, family)

    acct = TokenAccountant(estimator=counting)
    thought = {"type": "thinking", "thinking": "hmm " * 30, "signature": "s"}
    reply = assistant([thought, {"type": "text", "text": "the answer"}])
    acct.estimate_ahead(reply)
    assert estimated  # made now, after the reply
    made = len(estimated)
    assert acct.message_bound(reply) == acct.message_tokens(reply)
    assert len(estimated) == made  # not again when the next request carries the reply
    acct.estimate_ahead(assistant([{"type": "text", "text": "plain words"}]))
    assert len(estimated) == made  # a text reply is bounded by its length: no estimate


def test_a_texts_estimate_is_made_once_for_its_tokenizer() -> None:
    estimated: list[tuple[str, str]] = []

    def counting(text: str, family: str) -> int:
        estimated.append((text, family))
        return by_words(text, family)

    acct = TokenAccountant(estimator=counting)
    block = "<recalled_turns>an old turn, recalled again and again</recalled_turns>"
    first = acct.text_tokens(block)
    assert acct.text_tokens(block) == first and len(estimated) == 1
    acct.scale["claude3"] = 2.0
    assert acct.text_tokens(block) == 2 * first and len(estimated) == 1  # scaled, not redone
    acct.use(model_info("claude-opus-4-7"))
    acct.text_tokens(block)
    assert [family for _, family in estimated] == ["claude3", "claude47"]  # per tokenizer


def test_the_overhead_key_follows_the_lists_asked_about() -> None:
    acct = TokenAccountant(estimator=by_words)
    system: list[dict[str, object]] = [{"type": "text", "text": "be brief"}]
    key = acct.overhead_key(system, [])
    assert acct.overhead_key(system, []) == key
    changed = [{"type": "text", "text": "be very brief"}]
    assert acct.overhead_key(changed, []) != key
    tools = [{"name": "grep", "description": "search", "input_schema": {"type": "object"}}]
    assert acct.overhead_key(changed, tools) != acct.overhead_key(changed, [])
    assert acct.overhead_key([dict(b) for b in system], []) == key
    acct.use(model_info("claude-opus-4-7"))
    assert acct.overhead_key(system, []) != key  # counted per tokenizer family


def test_the_overhead_key_is_remembered_only_for_the_same_lists() -> None:
    acct = TokenAccountant(estimator=by_words)
    system: list[dict[str, object]] = [{"type": "text", "text": "be brief"}]
    tools: list[dict[str, object]] = []
    key = acct.overhead_key(system, tools)
    assert acct.overhead_key(system, tools) == key
    # The engine builds new lists for every request: a changed prompt is a new key.
    assert acct.overhead_key([{"type": "text", "text": "be long"}], tools) != key
    assert acct.overhead_key(list(system), list(tools)) == key
    acct.use(model_info("claude-opus-4-7"))
    assert acct.overhead_key(system, tools) != key


def test_the_overhead_key_notices_a_block_changed_in_place() -> None:
    acct = TokenAccountant(estimator=by_words)
    block: dict[str, object] = {"type": "text", "text": "be brief"}
    key = acct.overhead_key([block], [])
    assert acct.overhead_key([block], []) == key  # new list, same value: remembered
    block["text"] = "be long"  # the same dict, changed: the next request's lists see it
    assert acct.overhead_key([block], []) != key


def test_a_replaced_partial_never_reuses_the_key_or_count_of_the_one_it_replaces() -> None:
    acct = TokenAccountant(estimator=by_words)
    overhead = acct.overhead_key([], [])
    first = Message("assistant", [{"type": "text", "text": "one two"}], status="partial")
    acct.learn([overhead, acct.message_key(first)], 1000)  # the partial's count is exact
    assert acct.message_bound(first) == acct.message_tokens(first)
    known = acct.message_tokens(first)
    # The same id with new content, and with the same content but now complete.
    longer = first.with_(content=[{"type": "text", "text": "one two three four five six"}])
    done = first.with_(status="complete")
    for m in (longer, done):
        assert acct.message_key(m) == acct.message_key(Message(m.role, list(m.content),
                                                                status=m.status))  # fmt: skip
        assert acct.message_key(m) != acct.message_key(first)
    assert acct.message_tokens(longer) == 4 + 1 + 6 != known
    assert acct.message_bound(longer) >= acct.message_tokens(longer)
    assert acct.message_bound(done) >= acct.message_tokens(done) == 4 + 1 + 2
    # Old content lists are held by the cache, so a new list cannot take over their id.
    for _ in range(200):
        m = first.with_(content=[{"type": "text", "text": "x y z"}])
        assert acct.message_tokens(m) == 4 + 1 + 3


def test_a_bulk_total_is_shared_by_cheap_weights_not_an_offline_estimate_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first reply after resuming a long chat brings one total for many messages:
    ctok (about 0.1 ms a message) is not run on each to share it."""
    from claudechat import tokens

    offline: list[str] = []

    def counting(text: str, family: str = "claude3", **_: object) -> int:
        offline.append(text)
        return heuristic_tokens(text, family)

    monkeypatch.setattr(tokens, "ctok_available", lambda: True)
    monkeypatch.setattr(tokens, "estimate_text", counting)
    acct = TokenAccountant()
    msgs = [user(f"question number {i} " * (1 + 3 * i)) for i in range(12)]
    parts = [acct.overhead_key([], [])]
    for m in msgs:
        acct.message_bound(m)
        parts.append(acct.message_key(m))
    acct.overhead_tokens([], [])
    offline.clear()
    acct.learn(parts, 3000)
    assert offline == []
    counts = [acct.message_tokens(m) for m in msgs]
    assert acct.overhead_tokens([], []) + sum(counts) == 3000
    assert counts == sorted(counts) and counts[-1] > 10 * counts[0]  # shares follow the size
    assert acct.scale.get(acct.family, 1.0) == 1.0  # heuristic weights do not rescale ctok
    # A few unknown parts (the usual reply) still get the offline estimate as weight.
    few = [user(PROSE), user(CODE)]
    for m in few:
        acct.message_bound(m)
    acct.learn([parts[0], *(acct.message_key(m) for m in few)], 3000 + 200)
    assert offline  # estimated offline: two parts are not a bulk
