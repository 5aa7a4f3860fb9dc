"""The emulator's message threads, through the real SDK: create and continue, the field
rules, expiry on the injected clock, and each error type the SDK knows."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest
from anthropic.types import (
    ThreadAlreadyContinuedError,
    ThreadContinueInFlightError,
    ThreadFingerprintMismatchError,
    ThreadNotFoundError,
    ThreadUnsupportedRequestError,
)
from chats import SONNET

from claudechat.testing import Emulator
from claudechat.testing._threads import THREADS_BETA, supports_threads

BETAS = [THREADS_BETA]


class Clock:
    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Emulator:
    return Emulator(clock=clock)


@pytest.fixture
def client(emu: Emulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=0)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def create(client: anthropic.Anthropic, *messages: dict[str, Any], **kw: Any) -> Any:
    kw = {"model": SONNET, "max_tokens": 200, "system": "Be brief.", **kw}
    return client.beta.messages.create(
        messages=list(messages), thread={"type": "create"}, betas=BETAS, **kw
    )


def cont(client: anthropic.Anthropic, previous: str, *messages: dict[str, Any], **kw: Any) -> Any:
    kw = {"model": SONNET, "max_tokens": 200, **kw}
    thread = {"type": "continue", "previous_message_id": previous}
    return client.beta.messages.create(messages=list(messages), thread=thread, betas=BETAS, **kw)


def test_a_continue_is_answered_as_the_whole_request(client: anthropic.Anthropic) -> None:
    first = create(client, user("one"))
    second = cont(client, first.id, user("two"))
    plain = Emulator()
    whole = anthropic.Anthropic(api_key="t", http_client=plain.http_client(), max_retries=0)
    history = [user("one"), {"role": "assistant", "content": first.content}, user("two")]
    whole.messages.create(model=SONNET, max_tokens=200, system="Be brief.", messages=[history[0]])
    expected = whole.messages.create(
        model=SONNET, max_tokens=200, system="Be brief.", messages=history
    )
    assert second.usage.input_tokens == expected.usage.input_tokens
    assert second.content[0].text == expected.content[0].text  # "received 3 messages"


def test_a_continue_reads_the_prompt_cache_the_create_wrote(client: anthropic.Anthropic) -> None:
    long = "word " * 3000
    system = [{"type": "text", "text": long, "cache_control": {"type": "ephemeral"}}]
    first = create(client, user("one"), system=system)
    second = cont(client, first.id, user("two"))
    assert first.usage.cache_creation_input_tokens > 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens


@pytest.mark.parametrize("field", ["system", "tools"])
def test_a_continue_may_not_carry_system_or_tools(client: anthropic.Anthropic, field: str) -> None:
    first = create(client, user("one"))
    value: Any = "Other." if field == "system" else [
        {"name": "t", "description": "d", "input_schema": {"type": "object"}}]  # fmt: skip
    with pytest.raises(anthropic.BadRequestError, match=f"{field}: not allowed") as err:
        cont(client, first.id, user("two"), **{field: value})
    assert err.value.error_code is None


@pytest.mark.parametrize(
    "change",
    [
        {"model": "claude-haiku-4-5"},
        {"tool_choice": {"type": "none"}},
        {"thinking": {"type": "adaptive"}},
    ],
    ids=["model", "tool_choice", "thinking"],
)
def test_a_continue_that_changes_the_fingerprint_is_refused(
    client: anthropic.Anthropic, change: dict[str, Any]
) -> None:
    first = create(client, user("one"))
    with pytest.raises(ThreadFingerprintMismatchError, match=next(iter(change))):
        cont(client, first.id, user("two"), **change)


def test_a_thread_lives_five_minutes_after_its_last_use(
    client: anthropic.Anthropic, clock: Clock
) -> None:
    first = create(client, user("one"))
    clock.now += 300
    second = cont(client, first.id, user("two"))  # just alive, and used again
    clock.now += 300
    third = cont(client, second.id, user("three"))
    clock.now += 300.5
    with pytest.raises(ThreadNotFoundError) as err:
        cont(client, third.id, user("four"))
    assert err.value.status_code == 404
    with pytest.raises(ThreadNotFoundError):
        cont(client, "msg_never_held", user("five"))


def test_a_reply_is_continued_once(client: anthropic.Anthropic) -> None:
    first = create(client, user("one"))
    cont(client, first.id, user("two"))
    with pytest.raises(ThreadAlreadyContinuedError):
        cont(client, first.id, user("two again"))


def test_no_continue_while_another_is_streaming(client: anthropic.Anthropic) -> None:
    first = create(client, user("one"))
    thread = {"type": "continue", "previous_message_id": first.id}
    stream = client.beta.messages.create(
        model=SONNET, max_tokens=200, messages=[user("two")], thread=thread, betas=BETAS,
        stream=True)  # fmt: skip
    with pytest.raises(ThreadContinueInFlightError):
        cont(client, first.id, user("two, again"))
    events = list(stream)
    reply_id = events[0].message.id
    assert cont(client, reply_id, user("three")).content


@pytest.mark.parametrize(
    ("extra", "unsupported"),
    [
        (
            {"context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]}},
            ["context_management"],
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2048},
            ["thinking"],
        ),
    ],
    ids=["context_management", "manual_thinking"],
)
def test_what_threads_do_not_take_is_refused_by_name(
    client: anthropic.Anthropic, extra: dict[str, Any], unsupported: list[str]
) -> None:
    with pytest.raises(ThreadUnsupportedRequestError) as err:
        create(client, user("one"), **extra)
    assert err.value.body["error"]["details"]["unsupported"] == unsupported  # type: ignore[index]


def test_models_before_4_5_take_no_thread() -> None:
    assert supports_threads("claude-sonnet-4-6") and supports_threads("claude-haiku-4-5-20251001")
    assert supports_threads("claude-fable-5")
    assert not supports_threads("claude-3-5-haiku-20241022")
    assert not supports_threads("claude-opus-4-20250514")


def test_a_thread_needs_the_beta_header(emu: Emulator) -> None:
    client = anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match=THREADS_BETA):
        client.beta.messages.create(model=SONNET, max_tokens=10, messages=[user("x")],
                                    thread={"type": "create"})  # fmt: skip


def test_tool_results_are_checked_against_the_held_tool_call(emu: Emulator) -> None:
    emu.script.append([{"type": "tool_use", "name": "add", "input": {"a": 1}}])
    client = anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=0)
    tools = [{"name": "add", "description": "Add.", "input_schema": {"type": "object"}}]
    first = create(client, user("add"), tools=tools)
    call = first.content[0]
    with pytest.raises(anthropic.BadRequestError, match="tool_use"):
        cont(client, first.id, {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_other", "content": "2"}]})  # fmt: skip
    result = {"type": "tool_result", "tool_use_id": call.id, "content": "2"}
    assert cont(client, first.id, {"role": "user", "content": [result]}).content


def test_a_continue_reads_only_its_new_messages(client: anthropic.Anthropic, emu: Emulator) -> None:
    reply = create(client, user("one " * 50))
    for n in range(5):
        reply = cont(client, reply.id, user(f"turn {n} " * 50))
    work = emu.threads.work
    assert work.requests == 6
    first_blocks = 2  # the system block and the first message
    # Each continue checks the held turn it follows and its own message: 3 blocks.
    assert work.validated_blocks == first_blocks + 5 * 3


def test_threads_through_the_async_sdk(emu: Emulator) -> None:
    async def run() -> tuple[Any, Any]:
        client = anthropic.AsyncAnthropic(
            api_key="t", http_client=emu.async_http_client(), max_retries=0
        )
        first = await client.beta.messages.create(
            model=SONNET, max_tokens=50, messages=[user("one")], thread={"type": "create"},
            betas=BETAS)  # fmt: skip
        thread = {"type": "continue", "previous_message_id": first.id}
        second = await client.beta.messages.create(
            model=SONNET, max_tokens=50, messages=[user("two")], thread=thread, betas=BETAS
        )
        with pytest.raises(ThreadAlreadyContinuedError):
            await client.beta.messages.create(
                model=SONNET, max_tokens=50, messages=[user("two")], thread=thread, betas=BETAS
            )
        return first, second

    _first, second = asyncio.run(run())
    assert "received 3 messages" in second.content[0].text
