"""Strict request validation, answered with the real API's error bodies through the SDK."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from chats import PREFILL_MODELS

from claudechat.testing import Emulator, sign_thinking

MODEL = "claude-opus-5"


def make_client(emu: Emulator | None = None) -> anthropic.Anthropic:
    emu = emu or Emulator()
    return anthropic.Anthropic(api_key="test", http_client=emu.http_client(), max_retries=0)


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def bad_request(messages: list[dict[str, Any]], **kwargs: Any) -> anthropic.BadRequestError:
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("max_tokens", 100)
    with pytest.raises(anthropic.BadRequestError) as caught:
        make_client().messages.create(messages=messages, **kwargs)
    error = caught.value
    assert error.body["type"] == "error"  # type: ignore[index]
    assert error.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert error.request_id is not None and error.request_id.startswith("req_")
    assert error.body["request_id"] == error.request_id  # type: ignore[index]
    return error


def use(id_: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": id_, "name": "f", "input": {}}


def result(id_: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": id_, "content": "ok"}


def test_empty_messages_and_first_role() -> None:
    assert "at least one message" in str(bad_request([]).api_message)
    error = bad_request([{"role": "assistant", "content": "hi"}, user("x")])
    assert error.api_message == 'messages: first message must use the "user" role'


def test_bad_role_and_empty_text_block() -> None:
    assert "role" in str(bad_request([{"role": "system", "content": "x"}]).api_message)
    error = bad_request([user([{"type": "text", "text": ""}])])
    assert error.api_message == "messages: text content blocks must be non-empty"


def test_consecutive_same_role_messages_are_merged_not_rejected() -> None:
    reply = make_client().messages.create(
        model=MODEL, max_tokens=50, messages=[user("one"), user("two")]
    )
    assert reply.stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        pytest.param(
            [user("q"), {"role": "assistant", "content": [use("toolu_a")]}, user("no result")],
            "messages.1: `tool_use` ids were found without `tool_result` blocks immediately "
            "after: toolu_a. Each `tool_use` block must have a corresponding `tool_result` "
            "block in the next message.",
            id="use-without-result",
        ),
        pytest.param(
            [user("q"), {"role": "assistant", "content": "plain"}, user([result("toolu_x")])],
            "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
            "toolu_x. Each `tool_result` block must have a corresponding `tool_use` block in "
            "the previous message.",
            id="result-without-use",
        ),
    ],
)
def test_an_unpaired_tool_block_is_rejected(messages: list[dict[str, Any]], expected: str) -> None:
    assert bad_request(messages).api_message == expected


def test_paired_tools_are_accepted() -> None:
    messages = [
        user("q"),
        {"role": "assistant", "content": [use("toolu_a"), use("toolu_b")]},
        user([result("toolu_a"), result("toolu_b"), {"type": "text", "text": "go on"}]),
    ]
    assert make_client().messages.create(model=MODEL, max_tokens=20, messages=messages).content


def test_thinking_signature_required_and_checked() -> None:
    thought = {"type": "thinking", "thinking": "hmm", "signature": ""}
    messages = [
        user("q"),
        {"role": "assistant", "content": [thought, {"type": "text", "text": "a"}]},
        user("b"),
    ]
    assert "signature" in str(bad_request(messages).api_message)
    thought["signature"] = "forged"
    assert bad_request(messages).api_message == (
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    )
    thought["signature"] = sign_thinking("hmm")
    assert make_client().messages.create(model=MODEL, max_tokens=20, messages=messages).content


def cached_text(text: str, ttl: str = "5m") -> dict[str, Any]:
    return {"type": "text", "text": text, "cache_control": {"type": "ephemeral", "ttl": ttl}}


def test_at_most_four_breakpoints_counting_the_top_level_one() -> None:
    messages = [user([cached_text("a"), cached_text("b")])]
    system = [cached_text("s1"), cached_text("s2")]
    make_client().messages.create(model=MODEL, max_tokens=5, messages=messages, system=system)
    error = bad_request(messages, system=system, cache_control={"type": "ephemeral"})
    assert error.api_message == "A maximum of 4 blocks with cache_control may be provided. Found 5."


def test_one_hour_entries_must_precede_five_minute_ones() -> None:
    error = bad_request([user([cached_text("late", "1h")])], system=[cached_text("early", "5m")])
    assert "ttl='1h'" in str(error.api_message)
    ok = make_client().messages.create(
        model=MODEL,
        max_tokens=5,
        messages=[user([cached_text("late", "5m")])],
        system=[cached_text("early", "1h")],
    )
    assert ok.content


@pytest.mark.parametrize(
    "model", ["claude-opus-4-6", "claude-sonnet-4-6", MODEL, "claude-mythos-5"]
)
def test_prefill_refused_on_new_models(model: str) -> None:
    error = bad_request([user("q"), {"role": "assistant", "content": "Sure"}], model=model)
    assert error.api_message == (
        "This model does not support assistant message prefill. "
        "The conversation must end with a user message."
    )


@pytest.mark.parametrize("model", [*PREFILL_MODELS, "claude-3-haiku-x"])
def test_prefill_accepted_on_older_models(model: str) -> None:
    reply = make_client().messages.create(
        model=model, max_tokens=50, messages=[user("q"), {"role": "assistant", "content": "Sure"}]
    )
    assert not reply.content[0].text.startswith("Sure")  # type: ignore[union-attr]


def test_prompt_too_long_against_the_configured_window() -> None:
    emu = Emulator(context_window=50)
    messages = [user("word " * 60)]
    with pytest.raises(anthropic.BadRequestError) as caught:
        make_client(emu).messages.create(model=MODEL, max_tokens=5, messages=messages)
    total = emu.count_request_tokens({"model": MODEL, "messages": messages})
    assert caught.value.api_message == f"prompt is too long: {total} tokens > 50 maximum"
    assert make_client(emu).models.retrieve(MODEL).max_input_tokens == 50


def test_max_tokens_above_the_model_cap() -> None:
    error = bad_request([user("q")], model="claude-haiku-4-5", max_tokens=64_001, stream=True)
    assert "64001 > 64000" in str(error.api_message)


def test_api_key_checked_when_configured() -> None:
    emu = Emulator(api_key="right")
    wrong = anthropic.Anthropic(api_key="wrong", http_client=emu.http_client(), max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        wrong.messages.create(model=MODEL, max_tokens=5, messages=[user("q")])
    assert caught.value.body["error"] == {  # type: ignore[index]
        "type": "authentication_error",
        "message": "invalid x-api-key",
    }
    right = anthropic.Anthropic(api_key="right", http_client=emu.http_client(), max_retries=0)
    assert right.messages.create(model=MODEL, max_tokens=5, messages=[user("q")]).content
