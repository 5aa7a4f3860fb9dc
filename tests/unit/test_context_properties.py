"""Whatever the history, every policy yields a valid request that fits, or a clear error."""

from __future__ import annotations

import base64
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claudechat.context import (
    ClearToolResults,
    ContextEngine,
    ContextRequest,
    Documents,
    RollingSummary,
    ServerCompaction,
    TokenWindow,
)
from claudechat.context.base import candidate_tokens
from claudechat.errors import ContextOverflow
from claudechat.messages import Block, Message, validate
from claudechat.models.base import Request
from claudechat.models.capabilities import model_info
from claudechat.tokens import TokenAccountant

INFO = model_info("claude-sonnet-4-6")
SYSTEM: list[Block] = [{"type": "text", "text": "You help with code."}]
TOOLS = [{"name": "run", "description": "run a command", "input_schema": {"type": "object"}}]
PNG = base64.b64encode(
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 200, 150) + b"\0" * 16
).decode()

words = st.lists(
    st.sampled_from(["alpha", "beta", "x = 1", '{"k": 2}', "数据", "path/to.py"]),
    min_size=1,
    max_size=12,
).map(" ".join)
long_text = st.integers(min_value=200, max_value=3000).map(lambda n: "word " * n)
texts = st.one_of(words, words, words, long_text)


def _signed(text: str) -> Block:
    return {"type": "thinking", "thinking": text, "signature": "sig-" + str(len(text))}


@st.composite
def turn(draw: st.DrawFn, index: int) -> list[Message]:
    """A user message, tool rounds (with thinking), a final reply, maybe partial."""
    opening: list[Block] = [{"type": "text", "text": f"u{index} " + draw(texts)}]
    if draw(st.booleans()) and draw(st.booleans()):
        opening.append(
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
        )
    msgs = [Message("user", opening)]
    for r in range(draw(st.integers(min_value=0, max_value=2))):
        calls = draw(st.integers(min_value=1, max_value=2))
        ids = [f"t{index}_{r}_{k}" for k in range(calls)]
        blocks: list[Block] = [_signed(draw(words))] if draw(st.booleans()) else []
        blocks += [
            {"type": "tool_use", "id": i, "name": "run", "input": {"cmd": "ls"}} for i in ids
        ]
        msgs.append(Message("assistant", blocks))
        msgs.append(
            Message(
                "user",
                [{"type": "tool_result", "tool_use_id": i, "content": draw(texts)} for i in ids],
            )
        )
    status = draw(st.sampled_from(["complete", "complete", "complete", "partial", "error"]))
    reply: list[Block] = [_signed(draw(words))] if draw(st.booleans()) else []
    reply.append({"type": "text", "text": f"a{index} " + draw(texts)})
    msgs.append(Message("assistant", reply, status=status))
    return msgs


@st.composite
def histories(draw: st.DrawFn) -> list[Message]:
    n = draw(st.integers(min_value=0, max_value=12))
    out: list[Message] = []
    for i in range(n):
        out += draw(turn(i))
    out.append(Message("user", [{"type": "text", "text": "new " + draw(texts)}]))
    return out


def _complete(request: Request) -> str:
    prompt = request.messages[0]["content"][0]["text"]
    return "summary: " + prompt[-300:]


POLICIES: dict[str, Any] = {
    "window": lambda: [TokenWindow(low_water=1.0)],
    "cache-aware": lambda: [TokenWindow(high_water=0.9, low_water=0.4)],
    "pinned": lambda: [TokenWindow(pin_first=True)],
    "truncate": lambda: [TokenWindow(allow_truncate=True)],
    "summary": lambda: [RollingSummary(max_summary_tokens=300)],
    "compact": lambda: [ServerCompaction(), TokenWindow()],
    "tools": lambda: [ClearToolResults(keep_turns=1, step=2, min_chars=50), TokenWindow()],
    "documents": lambda: [Documents([{"title": "d", "text": "doc " * 300}]), TokenWindow()],
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=histories(),
    name=st.sampled_from(sorted(POLICIES)),
    budget=st.integers(min_value=400, max_value=12_000),
    retry=st.booleans(),
    compact=st.booleans(),
)
def test_every_policy_sends_a_valid_request_within_budget(
    history: list[Message], name: str, budget: int, retry: bool, compact: bool
) -> None:
    counter = TokenAccountant(use_ctok=False)
    engine = ContextEngine(POLICIES[name](), budget=budget, counter=counter)
    try:
        request = ContextRequest(
            model=INFO,
            max_tokens=2000,
            system=SYSTEM,
            tools=TOOLS,
            history=history,
            overflow_retry=retry,
            force_compact=compact,
            query="q",
        )
        prepared = engine.prepare(request, complete=_complete)
    except ContextOverflow as err:
        # Only when the newest turn cannot fit on its own, and the error says how big.
        assert err.tokens is not None and err.limit == budget and err.tokens > budget
        return
    request = prepared.request
    validate(request.messages)
    assert prepared.estimated_tokens <= budget
    assert candidate_tokens(prepared.candidate, counter) <= budget
    breakpoints = (
        sum("cache_control" in b for b in request.system)
        + sum("cache_control" in b for m in request.messages for b in m["content"])
        + sum("cache_control" in t for t in request.tools)
    )
    assert breakpoints <= 4
    # The newest user words are always sent.
    assert request.messages[-1]["role"] == "user"
    sent = [b for m in request.messages for b in m["content"] if b.get("type") == "text"]
    assert any(b["text"].startswith("new ") for b in sent)


class _EstimatesOnly(TokenAccountant):
    """An accountant whose upper bound is the estimate itself (every estimate made)."""

    def message_bound(self, message: Message) -> int:
        return self.message_tokens(message)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=histories(),
    name=st.sampled_from(["window", "cache-aware", "pinned", "truncate"]),
    budget=st.integers(min_value=400, max_value=40_000),
    known=st.integers(min_value=0, max_value=60),
)
def test_upper_bounds_choose_the_same_window_as_the_estimates(
    history: list[Message], name: str, budget: int, known: int
) -> None:
    # Some messages already estimated (as after earlier requests), the rest only bounded.
    chosen = []
    for cls in (TokenAccountant, _EstimatesOnly):
        acct = cls(use_ctok=False)
        acct.use(INFO)
        for m in history[:known]:
            acct.message_tokens(m)
        engine = ContextEngine(POLICIES[name](), budget=budget, counter=acct)
        try:
            prepared = engine.prepare(
                ContextRequest(
                    model=INFO, max_tokens=2000, system=SYSTEM, tools=TOOLS, history=history
                )
            )
        except ContextOverflow as err:
            chosen.append(("overflow", err.tokens, err.limit))
            continue
        kept = [(m.id, m.content) for m in prepared.candidate.history]
        chosen.append((kept, prepared.candidate.notes, prepared.estimated_tokens))
    assert chosen[0] == chosen[1]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=histories(),
    budget=st.integers(min_value=400, max_value=12_000),
    pick=st.integers(min_value=0, max_value=100),
    low=st.sampled_from([0.4, 0.6, 1.0]),
)
def test_a_kept_window_start_never_sends_fewer_turns_than_a_fresh_window(
    history: list[Message], budget: int, pick: int, low: float
) -> None:
    """Any remembered start (another strategy's, an old one): at least the turns a window
    with none would send, and all of them when they fit."""
    starts = [m.id for m in history if m.is_user_text]
    hint = starts[pick % len(starts)]

    def sent(hint: str | None) -> list[str] | None:
        engine = ContextEngine([TokenWindow(low_water=low)], budget=budget,
                               counter=TokenAccountant(use_ctok=False))  # fmt: skip
        try:
            prepared = engine.prepare(
                ContextRequest(model=INFO, max_tokens=200, system=SYSTEM, tools=TOOLS,
                               history=history, conversation_id="c", window_start=hint)
            )  # fmt: skip
        except ContextOverflow:
            return None
        assert prepared.estimated_tokens <= budget
        return [m.id for m in prepared.candidate.history if m.is_user_text]

    fresh, hinted = sent(None), sent(hint)
    if fresh is None:
        assert hinted is None
        return
    assert hinted is not None
    assert set(fresh) <= set(hinted)
    if len(fresh) == len(starts):
        assert hinted == fresh
