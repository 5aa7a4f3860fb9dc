"""Server-side context management through Chat, the real SDK and the emulator.

Compaction (``compact_20260112``), the ``clear_tool_uses_20250919`` pass-through, local
tool-result stubs, and ``pause_turn`` continuation: what is sent, what is stored, what is
billed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chats import ChatMaker, assert_valid_request, message_requests, words

from claudechat import (
    AsyncChat,
    Chat,
    ClearToolResults,
    ContextEngine,
    ServerCompaction,
    TokenWindow,
    strategy_policies,
)
from claudechat.accounting import cost_report
from claudechat.context.tool_results import STUB
from claudechat.messages import Message
from claudechat.models import model_prices
from claudechat.store.memory import MemoryStore
from claudechat.store.sqlite import SQLiteStore
from claudechat.testing import Emulator, EmuReply, EmuRequest, EmuResponse

MODEL = "claude-sonnet-4-6"
# USD per million tokens for claude-sonnet-4-6: input, 5m write, 1h write, cache read, output.
PRICES = {"input": 3.0, "write_5m": 3.75, "write_1h": 6.0, "read": 0.30, "output": 15.0}
COMPACT_BETA = "compact-2026-01-12"
CLEAR_BETA = "context-management-2025-06-27"


class RecordingEmulator(Emulator):
    """The emulator, keeping the JSON of every non-streamed /v1/messages response."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.responses: list[dict[str, Any]] = []

    def _messages(self, *args: Any, **kw: Any) -> EmuResponse:
        response = super()._messages(*args, **kw)
        if isinstance(response.body, bytes):
            self.responses.append(response.json())
        return response


def by_hand(usage: dict[str, Any]) -> float:
    """The price of one raw API usage object, server iterations included (FACTS.md)."""
    creation = usage.get("cache_creation") or {}
    w5 = creation.get("ephemeral_5m_input_tokens", usage["cache_creation_input_tokens"])
    w1 = creation.get("ephemeral_1h_input_tokens", 0)
    extra = [i for i in usage.get("iterations") or [] if i["type"] != "message"]
    micro = (
        usage["input_tokens"] * PRICES["input"]
        + w5 * PRICES["write_5m"]
        + w1 * PRICES["write_1h"]
        + usage["cache_read_input_tokens"] * PRICES["read"]
        + usage["output_tokens"] * PRICES["output"]
        + sum(i["input_tokens"] for i in extra) * PRICES["input"]
        + sum(i["output_tokens"] for i in extra) * PRICES["output"]
    )
    return micro / 1_000_000


def compaction_blocks(message: dict[str, Any] | Message) -> list[dict[str, Any]]:
    content = message.content if isinstance(message, Message) else message["content"]
    return [b for b in content if b.get("type") == "compaction"]


def big_turn(i: int) -> str:
    return f"Turn {i}: please keep these notes. " + words(5000, seed=i)


def send(chat: Chat, text: str, *, stream: bool) -> Any:
    if stream:
        "".join(chat.stream(text))
        return chat.last_reply
    return chat.send(text)


# --- server compaction ---------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_compaction_block_is_stored_and_resent_unchanged_and_billed(
    make_chat: ChatMaker, stream: bool
) -> None:
    emu = RecordingEmulator()
    store = MemoryStore()
    chat = make_chat(
        emu, MODEL, store=store, context=[ServerCompaction(trigger=50_000)], thinking="off"
    )  # a reply of the compaction block and text alone
    replies = [send(chat, big_turn(i), stream=stream) for i in range(6)]
    sent = message_requests(emu)
    assert len(sent) == 6
    edit = {"type": "compact_20260112", "trigger": {"type": "input_tokens", "value": 50_000}}
    for request in sent:
        assert COMPACT_BETA in request.headers["anthropic-beta"].split(",")
        assert request.body["context_management"] == {"edits": [edit]}
        assert_valid_request(request)
    compacted = [i for i, r in enumerate(replies) if compaction_blocks(r.message)]
    assert len(compacted) == 1, "one compaction once the trigger is passed"
    n = compacted[0]
    assert n >= 4  # 5,000 varied words are ~12K tokens: the trigger needs several turns
    reply = replies[n]
    stored = store.get_message(reply.id)
    assert stored.content[0]["type"] == "compaction"
    assert stored.content[0]["content"].startswith("Summary of ")
    assert [b["type"] for b in stored.content] == ["compaction", "text"]
    if not stream:
        raw = emu.responses[n]
        assert stored.content == raw["content"]  # as the API sent it: nothing added or lost
    # The next request resends the block unchanged and drops the turns the API ignores.
    nxt = sent[n + 1].body["messages"]
    assert nxt[0]["content"][0]["text"] == big_turn(n)
    assistant = nxt[1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0] == stored.content[0]
    assert len(nxt) == 3
    # Iteration tokens: billed in the ledger, stored with the message, in the cost report.
    usage = stored.usage
    assert usage is not None and usage.iteration_input_tokens > 50_000
    assert usage.iteration_output_tokens > 0
    entry = next(e for e in chat.ledger.entries if e.message_id == reply.id)
    assert entry.usage == usage
    assert entry.cost_usd == pytest.approx(usage.cost_usd(MODEL, model_prices))
    if not stream:
        raw_usage = emu.responses[n]["usage"]
        assert usage.iteration_input_tokens == raw_usage["iterations"][0]["input_tokens"]
        assert entry.cost_usd == pytest.approx(by_hand(raw_usage), rel=1e-12)
        total = sum(by_hand(r["usage"]) for r in emu.responses)
        assert chat.cost_usd == pytest.approx(total, rel=1e-12)
    assert chat.conversation is not None
    report = cost_report(store.branch(chat.conversation.id))
    lines = {line.kind: line for line in report.lines}
    assert lines["server iterations in"].tokens == usage.iteration_input_tokens
    assert lines["server iterations out"].tokens == usage.iteration_output_tokens
    iteration_cost = usage.iteration_input_tokens * PRICES["input"] / 1e6
    assert lines["server iterations in"].cost_usd == pytest.approx(iteration_cost)
    assert report.cost_usd == pytest.approx(chat.cost_usd)


def test_compaction_strategy_with_a_window_resumes_from_sqlite(
    make_chat: ChatMaker, tmp_path: Path
) -> None:
    emu = Emulator()
    path = tmp_path / "c.db"
    chat = make_chat(
        emu,
        MODEL,
        store=SQLiteStore(path),
        context=ContextEngine(strategy_policies("compact"), budget=100_000),
    )
    replies = []
    while not replies or not compaction_blocks(replies[-1].message):
        assert len(replies) < 10, "the 75K trigger is passed within 10 turns of ~12K"
        replies.append(chat.send(big_turn(len(replies))))
    n = len(replies) - 1
    replies.append(chat.send("Thanks. A short one now."))
    assert not compaction_blocks(replies[-1].message)
    sent = message_requests(emu)
    trigger = sent[0].body["context_management"]["edits"][0]["trigger"]["value"]
    assert trigger == 75_000  # 75% of the budget
    for request in sent:
        assert_valid_request(request)
    block = compaction_blocks(replies[n].message)[0]
    # After compaction the window holds what the API reads, far below the budget, exactly.
    fill = chat.window_fill()
    assert fill.exact
    assert fill.tokens == replies[-1].usage.total_input_tokens < 40_000
    assert chat.conversation is not None
    conv_id = chat.conversation.id

    # A new process: the same database, a fresh chat and engine.
    emu2 = Emulator()
    resumed = make_chat.resume(
        conv_id,
        emu=emu2,
        store=SQLiteStore(path),
        context=ContextEngine(strategy_policies("compact"), budget=100_000),
    )
    assert resumed.history == chat.history
    reply = resumed.send("What did turn 3 say?")
    assert not compaction_blocks(reply.message)
    request = message_requests(emu2)[0]
    assert_valid_request(request)
    messages = request.body["messages"]
    assert messages[0]["content"][0]["text"] == big_turn(n)
    assert compaction_blocks(messages[1]) == [block]
    assert messages[-1]["content"][0]["text"] == "What did turn 3 say?"
    assert request.body["context_management"]["edits"][0]["trigger"]["value"] == 75_000
    # Everything before the compaction block is ignored by the API: a small request.
    assert reply.usage.total_input_tokens < 40_000
    assert len(resumed.history) == len(chat.history) + 2


def test_pause_after_compaction_continues_the_turn(make_chat: ChatMaker) -> None:
    emu = Emulator()
    chat = make_chat(
        emu,
        MODEL,
        context=[ServerCompaction(trigger=50_000, pause_after_compaction=True)],
        thinking="off",  # a paused reply of the compaction block alone
    )
    replies = [chat.send(big_turn(i)) for i in range(6)]
    paused = [r for r in replies if any(compaction_blocks(m) for m in r.messages)]
    assert len(paused) == 1
    reply = paused[0]
    # The turn goes on after the pause: the answer follows the compaction block.
    assert [m.stop_reason for m in reply.messages] == ["compaction", "end_turn"]
    assert reply.text.startswith("Emulator reply")
    block = compaction_blocks(reply.messages[0])[0]
    assert reply.messages[0].content == [block]
    sent = message_requests(emu)
    resumed = [r for r in sent if r.body["messages"][-1]["role"] == "assistant"]
    assert len(resumed) == 1, "only the continuation ends with the assistant"
    assert resumed[0].body["messages"][-1]["content"] == [block]
    for request in sent:
        assert_valid_request(request, prefill_allowed=request is resumed[0])
    # The next turn sends the compaction and the answer as one assistant message.
    chat.send("And now?")
    last = message_requests(emu)[-1].body["messages"]
    assert_valid_request(message_requests(emu)[-1])
    assert last[1]["content"][0] == block and last[1]["content"][1]["type"] == "text"


# --- pause_turn -----------------------------------------------------------------------------

PAUSED = [
    {"type": "text", "text": "Let me search the deployment docs."},
    {
        "type": "server_tool_use",
        "id": "srvtoolu_01",
        "name": "web_search",
        "input": {"query": "deploy command"},
    },
]


@pytest.mark.parametrize("stream", [False, True])
def test_pause_turn_sends_the_paused_reply_back_to_be_continued(
    make_chat: ChatMaker, stream: bool
) -> None:
    emu = Emulator(
        script=[EmuReply(content=PAUSED, stop_reason="pause_turn"), "It is `make ship-prod`."]
    )
    store = MemoryStore()
    chat = make_chat(emu, MODEL, store=store)
    reply = send(chat, "How do I deploy?", stream=stream)
    assert reply.text == "It is `make ship-prod`."
    assert [m.stop_reason for m in reply.messages] == ["pause_turn", "end_turn"]
    first, again = message_requests(emu)
    # The continuation is the same request with the paused reply, as it came, at the end.
    assert again.body["messages"][:-1] == first.body["messages"]
    assert again.body["messages"][-1]["role"] == "assistant"
    assert [
        {k: v for k, v in b.items() if k != "cache_control"}
        for b in again.body["messages"][-1]["content"]
    ] == PAUSED
    assert reply.messages[0].content == PAUSED
    # Both parts are stored; the next request merges them into one assistant message.
    assert chat.conversation is not None
    roles = [m.role for m in store.branch(chat.conversation.id)]
    assert roles == ["user", "assistant", "assistant"]
    chat.send("Thanks!")
    last = message_requests(emu)[-1]
    assert_valid_request(last)
    merged = last.body["messages"][1]
    assert [b["type"] for b in merged["content"]] == ["text", "server_tool_use", "text"]


def test_async_chat_continues_a_paused_turn_too(make_async_chat: Callable[..., AsyncChat]) -> None:
    emu = Emulator(script=[EmuReply(content=PAUSED, stop_reason="pause_turn"), "Done."])
    chat = make_async_chat(emu)
    reply = asyncio.run(chat.send("How do I deploy?"))
    assert reply.text == "Done."
    assert [m.stop_reason for m in reply.messages] == ["pause_turn", "end_turn"]
    assert message_requests(emu)[-1].body["messages"][-1]["role"] == "assistant"


def test_a_trailing_assistant_message_that_was_not_paused_is_still_refused(
    sdk_client: Callable[..., Any],
) -> None:
    emu = Emulator(script=[EmuReply(content=PAUSED, stop_reason="pause_turn")])
    sdk = sdk_client(emu)
    sdk.messages.create(
        model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "How do I deploy?"}]
    )
    with pytest.raises(Exception, match="does not support assistant message prefill"):
        sdk.messages.create(
            model=MODEL,
            max_tokens=50,
            messages=[
                {"role": "user", "content": "How do I deploy?"},
                {"role": "assistant", "content": [{"type": "text", "text": "Let me"}]},
            ],
        )


def test_pause_turn_on_a_model_that_takes_prefill_is_continued_too(
    make_chat: ChatMaker,
) -> None:
    emu = Emulator(script=[EmuReply(content=PAUSED, stop_reason="pause_turn"), "Done."])
    chat = make_chat(emu, "claude-haiku-4-5")
    reply = chat.send("How do I deploy?")
    assert reply.text == "Done."
    assert message_requests(emu)[-1].body["messages"][-1]["role"] == "assistant"


# --- old tool results -------------------------------------------------------------------------


def read_file(path: str) -> str:
    """Read a file from the project."""
    return f"contents of {path}:\n" + words(700, seed=len(path) * 7 + sum(map(ord, path)))


def tool_round(request: EmuRequest) -> Any:
    """A tool call for each new question, then an answer once its result is in."""
    last = request.messages[-1]["content"]
    if isinstance(last, list) and any(b.get("type") == "tool_result" for b in last):
        return f"Read it (request {request.number})."
    return [{"type": "tool_use", "name": "read_file", "input": {"path": f"f{request.number}.py"}}]


def tool_results(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message["content"]
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def test_clear_tool_uses_is_passed_through_and_does_not_corrupt_learned_counts(
    make_chat: ChatMaker,
) -> None:
    emu = RecordingEmulator(reply=tool_round)
    chat = make_chat(
        emu,
        MODEL,
        tools=[read_file],
        context=ContextEngine(
            [ClearToolResults(server=True, server_trigger=8_000, server_keep=2), TokenWindow()],
            budget=200_000,
        ),
    )
    fills = []
    for i in range(8):
        reply = chat.send(f"Question {i}: what is in the next file?")
        assert reply.text.startswith("Read it")
        fills.append(chat.window_fill())
    edit = {
        "type": "clear_tool_uses_20250919",
        "keep": {"type": "tool_uses", "value": 2},
        "trigger": {"type": "input_tokens", "value": 8_000},
    }
    sent = message_requests(emu)
    assert len(sent) == 16  # a tool round and an answer per question
    for request in sent:
        assert CLEAR_BETA in request.headers["anthropic-beta"].split(",")
        assert request.body["context_management"] == {"edits": [edit]}
        assert_valid_request(request)
    applied = [r["context_management"]["applied_edits"] for r in emu.responses]
    assert applied[0] == []
    first_applied = next(i for i, a in enumerate(applied) if a)
    assert applied[-1][0]["type"] == "clear_tool_uses_20250919"
    assert applied[-1][0]["cleared_tool_uses"] >= 2
    # Applied edits are stored with the reply that reported them.
    assert chat.conversation is not None
    stored = [m for m in chat.store.branch(chat.conversation.id) if m.role == "assistant"]
    assert stored[-1].metadata["context_management"]["applied_edits"] == applied[-1]
    # Learned counts: exact before the server edited the requests, never learned from an
    # edited request's (smaller) usage.
    exact = [f.exact for f in fills]
    assert exact[0] and not exact[-1]
    full = emu.count_request_tokens(sent[-1].body)  # the request as sent, before clearing
    reported = emu.responses[-1]["usage"]
    billed = reported["input_tokens"] + reported["cache_read_input_tokens"]
    billed += reported["cache_creation_input_tokens"]
    assert billed < full
    estimate = chat.context.last.estimated_tokens  # type: ignore[union-attr]
    assert estimate == pytest.approx(full, rel=0.05)
    assert fills[-1].tokens == estimate
    # The last request the server left whole taught exact counts: its fill was exact.
    whole = emu.responses[first_applied - 1]["usage"]
    assert emu.count_request_tokens(sent[first_applied - 1].body) == (
        whole["input_tokens"]
        + whole["cache_read_input_tokens"]
        + whole["cache_creation_input_tokens"]
    )
    assert any(exact[: (first_applied + 1) // 2])


def test_local_tool_result_stubs_in_the_request_full_results_in_the_store(
    make_chat: ChatMaker,
) -> None:
    emu = Emulator(reply=tool_round)
    store = MemoryStore()
    chat = make_chat(
        emu,
        MODEL,
        store=store,
        tools=[read_file],
        context=[ClearToolResults(keep_turns=2, step=1, min_chars=1000), TokenWindow()],
    )
    for i in range(5):
        chat.send(f"Question {i}: what is in the next file?")
    sent = message_requests(emu)
    last = sent[-1].body["messages"]
    assert_valid_request(sent[-1])
    results = [b for m in last for b in tool_results(m)]
    assert len(results) == 5
    contents = [b["content"] for b in results]
    texts = [c if isinstance(c, str) else "".join(x.get("text", "") for x in c) for c in contents]
    stubbed = [t.startswith("[tool result cleared to save context") for t in texts]
    # The newest two turns keep their results; the older ones carry the stub.
    assert stubbed == [True, True, True, False, False]
    assert all(len(t) < 200 for t, s in zip(texts, stubbed, strict=True) if s)
    # The store keeps every result in full.
    assert chat.conversation is not None
    kept = [
        b
        for m in store.branch(chat.conversation.id)
        if m.role == "user"
        for b in m.content
        if b.get("type") == "tool_result"
    ]
    assert len(kept) == 5
    for block in kept:
        content = block["content"]
        text = content if isinstance(content, str) else "".join(x.get("text", "") for x in content)
        assert text.startswith("contents of f") and len(text) > 3000
    # Early requests, before any turn was old enough, sent the results whole.
    early = [b for m in sent[3].body["messages"] for b in tool_results(m)]
    assert early and all("cleared" not in json.dumps(b) for b in early)
    assert STUB.split("{")[0] in texts[0]


def test_a_turn_that_keeps_pausing_ends_after_the_cap(make_chat: ChatMaker) -> None:
    from claudechat.chat.fold import MAX_PAUSES

    emu = Emulator(reply=lambda request: EmuReply(content=PAUSED, stop_reason="pause_turn"))
    chat = make_chat(emu, MODEL, store=MemoryStore())
    reply = chat.send("How do I deploy?")
    assert reply.stop_reason == "pause_turn"
    assert len(message_requests(emu)) == MAX_PAUSES + 1
    from claudechat import validate

    validate(chat.messages)  # the stored history stays sendable
    assert_valid_request(message_requests(emu)[-1], prefill_allowed=True)
