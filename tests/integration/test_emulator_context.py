"""Server-side context management (beta): compaction and clearing tool results."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from claudechat.testing import Emulator

MODEL = "claude-opus-5"
COMPACT_BETA = ["compact-2026-01-12"]
CLEAR_BETA = ["context-management-2025-06-27"]


def make_client(emu: Emulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=0)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def compact(trigger: int, **extra: Any) -> dict[str, Any]:
    edit = {"type": "compact_20260112", "trigger": {"type": "input_tokens", "value": trigger}}
    return {"edits": [{**edit, **extra}]}


def compacting(
    client: anthropic.Anthropic,
    messages: list[dict[str, Any]],
    trigger: int,
    *,
    max_tokens: int = 200,
    **extra: Any,
) -> Any:
    """A reply to ``messages`` with server compaction above ``trigger`` input tokens."""
    return client.beta.messages.create(
        model=MODEL,
        max_tokens=max_tokens,
        messages=messages,
        betas=COMPACT_BETA,
        context_management=compact(trigger, **extra),
    )


def test_no_compaction_below_the_trigger() -> None:
    emu = Emulator()
    reply = compacting(make_client(emu), [user("short")], 500, max_tokens=100)
    assert [b.type for b in reply.content] == ["text"]
    assert reply.usage.iterations is not None
    assert [i.type for i in reply.usage.iterations] == ["message"]


def test_compaction_block_leads_and_iterations_are_reported() -> None:
    emu = Emulator()
    client = make_client(emu)
    history = [user("tell me a long story " * 40)]
    total = emu.count_request_tokens({"model": MODEL, "messages": history})
    reply = compacting(client, history, 100)
    assert [b.type for b in reply.content] == ["compaction", "text"]
    summary = reply.content[0].content  # type: ignore[union-attr]
    assert summary is not None and "Summary of 1 earlier messages" in summary
    iterations = reply.usage.iterations
    assert iterations is not None and [i.type for i in iterations] == ["compaction", "message"]
    assert iterations[0].input_tokens == total
    assert iterations[1].input_tokens == reply.usage.input_tokens < total
    # Next turn: everything before the compaction block is ignored.
    assistant = {"role": "assistant", "content": [b.to_dict() for b in reply.content]}
    follow = [*history, assistant, user("and then?")]
    again = compacting(client, follow, 100_000)
    kept = emu.count_request_tokens({"model": MODEL, "messages": [assistant, user("and then?")]})
    assert again.usage.input_tokens == kept
    counted = client.beta.messages.count_tokens(model=MODEL, messages=follow, betas=COMPACT_BETA)
    assert counted.input_tokens == kept


def test_compaction_streams_and_can_pause() -> None:
    emu = Emulator()
    client = make_client(emu)
    history = [user("words " * 200)]
    with client.beta.messages.stream(
        model=MODEL,
        max_tokens=200,
        messages=history,
        betas=COMPACT_BETA,
        context_management=compact(100),
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "compaction" and final.content[0].content
    assert final.usage.iterations is not None
    assert [i.type for i in final.usage.iterations] == ["compaction", "message"]
    paused = compacting(client, history, 100, pause_after_compaction=True)
    assert paused.stop_reason == "compaction"
    assert [b.type for b in paused.content] == ["compaction"]


def test_low_trigger_rejected_when_not_allowed() -> None:
    emu = Emulator(allow_low_compaction_trigger=False)
    with pytest.raises(anthropic.BadRequestError, match="greater than or equal to 50000"):
        compacting(make_client(emu), [user("x")], 1000, max_tokens=20)


def tool_history(count: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [user("run the tools")]
    for i in range(count):
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": f"toolu_{i}", "name": "read", "input": {"n": i}}
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": "data " * 100}
                ],
            }
        )
    return messages


def clear_edit(trigger: int, keep: int = 2) -> dict[str, Any]:
    return {
        "edits": [
            {
                "type": "clear_tool_uses_20250919",
                "trigger": {"type": "input_tokens", "value": trigger},
                "keep": {"type": "tool_uses", "value": keep},
            }
        ]
    }


def clearing(client: anthropic.Anthropic, messages: list[dict[str, Any]], trigger: int) -> Any:
    """A reply to ``messages`` with old tool results cleared above ``trigger`` input tokens."""
    return client.beta.messages.create(
        model=MODEL,
        max_tokens=50,
        messages=messages,
        betas=CLEAR_BETA,
        context_management=clear_edit(trigger),
    )


def test_clear_tool_uses_replaces_old_results_and_reports_the_edit() -> None:
    emu = Emulator(script=["done"] * 3)
    client = make_client(emu)
    messages = tool_history(5)
    full = emu.count_request_tokens({"model": MODEL, "messages": messages})
    reply = clearing(client, messages, 100)
    assert reply.context_management is not None
    applied = reply.context_management.applied_edits
    assert len(applied) == 1 and applied[0].cleared_tool_uses == 3
    assert reply.usage.input_tokens == full - applied[0].cleared_input_tokens
    assert applied[0].cleared_input_tokens > 0
    untouched = clearing(client, messages, 1_000_000)
    assert untouched.context_management is not None
    assert untouched.context_management.applied_edits == []
    assert untouched.usage.input_tokens == full
    counted = client.beta.messages.count_tokens(
        model=MODEL, messages=messages, betas=CLEAR_BETA, context_management=clear_edit(100)
    )
    assert counted.input_tokens == reply.usage.input_tokens
    assert counted.context_management is not None
    assert counted.context_management.original_input_tokens == full
