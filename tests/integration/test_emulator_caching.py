"""Prompt-cache simulation through the SDK, on an injected clock."""

from __future__ import annotations

from typing import Any

import anthropic

from claudechat.models import known_models, model_info
from claudechat.testing import Emulator

MODEL = "claude-opus-5"  # 512-token cache minimum


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def setup() -> tuple[Emulator, anthropic.Anthropic, Clock]:
    clock = Clock()
    emu = Emulator(clock=clock)
    client = anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=0)
    return emu, client, clock


def big_system(ttl: str = "5m", words: int = 600) -> list[dict[str, Any]]:
    control = {"type": "ephemeral", "ttl": ttl}
    return [{"type": "text", "text": "policy " * words, "cache_control": control}]


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def usage_of(client: anthropic.Anthropic, **kwargs: Any) -> tuple[int, int, int]:
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("max_tokens", 20)
    u = client.messages.create(**kwargs).usage
    return u.cache_read_input_tokens or 0, u.cache_creation_input_tokens or 0, u.input_tokens


def test_write_then_read_and_totals_add_up() -> None:
    emu, client, _ = setup()
    body = {"model": MODEL, "system": big_system(), "messages": [user("first question")]}
    total = emu.count_request_tokens(body)
    read, written, rest = usage_of(client, system=big_system(), messages=[user("first question")])
    assert read == 0 and written > 512 and read + written + rest == total
    read2, written2, rest2 = usage_of(client, system=big_system(), messages=[user("other")])
    assert (read2, written2) == (written, 0)
    reply = client.messages.create(
        model=MODEL, max_tokens=5, system=big_system(), messages=[user("again")]
    )
    assert reply.usage.cache_creation is not None
    assert reply.usage.cache_creation.ephemeral_5m_input_tokens == 0
    assert rest2 == emu.count_request_tokens({**body, "messages": [user("other")]}) - written


def test_five_minute_ttl_expires_and_is_refreshed_on_hits() -> None:
    _, client, clock = setup()
    _, written, _ = usage_of(client, system=big_system(), messages=[user("q")])
    clock.now += 200
    assert usage_of(client, system=big_system(), messages=[user("q")])[0] == written
    clock.now += 200  # 400 s after the write, 200 s after the refreshing hit
    assert usage_of(client, system=big_system(), messages=[user("q")])[0] == written
    clock.now += 301
    assert usage_of(client, system=big_system(), messages=[user("q")])[:2] == (0, written)


def test_one_hour_ttl_and_its_usage_bucket() -> None:
    _, client, clock = setup()
    first = client.messages.create(
        model=MODEL, max_tokens=5, system=big_system("1h"), messages=[user("q")]
    )
    assert first.usage.cache_creation is not None
    assert (
        first.usage.cache_creation.ephemeral_1h_input_tokens
        == first.usage.cache_creation_input_tokens
    )
    clock.now += 1800
    assert usage_of(client, system=big_system("1h"), messages=[user("q")])[0] > 0
    clock.now += 3601
    assert usage_of(client, system=big_system("1h"), messages=[user("q")])[0] == 0


def test_prefix_below_the_model_minimum_is_never_cached() -> None:
    _, client, _ = setup()
    small = big_system(words=100)
    assert usage_of(client, system=small, messages=[user("q")])[:2] == (0, 0)
    assert usage_of(client, system=small, messages=[user("q")])[:2] == (0, 0)
    # The same prefix clears Opus 5's 512 minimum but not a 4,096 one.
    mid = big_system(words=1000)
    high = next(
        m
        for m in known_models()
        if model_info(m).cache_min_tokens == 4096 and not model_info(m).retires
    )
    assert usage_of(client, model=high, system=mid, messages=[user("q")])[1] == 0
    assert usage_of(client, system=mid, messages=[user("q")])[1] > 0


def test_growing_conversation_reads_the_previous_prefix_through_lookback() -> None:
    emu, client, _ = setup()
    auto = {"type": "ephemeral"}
    history = [user("lorem ipsum " * 300)]
    first = client.messages.create(model=MODEL, max_tokens=50, messages=history, cache_control=auto)
    assert first.usage.cache_creation_input_tokens == emu.count_request_tokens(
        {"model": MODEL, "messages": history}
    )
    history += [
        {"role": "assistant", "content": [b.to_dict() for b in first.content]},
        user("next"),
    ]
    second = client.messages.create(
        model=MODEL, max_tokens=50, messages=history, cache_control=auto
    )
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    total = emu.count_request_tokens({"model": MODEL, "messages": history})
    assert (second.usage.cache_read_input_tokens or 0) + (
        second.usage.cache_creation_input_tokens or 0
    ) + second.usage.input_tokens == total


def test_lookback_is_limited_to_twenty_blocks() -> None:
    _, client, _ = setup()
    auto = {"type": "ephemeral"}
    base = [user("lorem ipsum " * 300)]
    client.messages.create(model=MODEL, max_tokens=5, messages=base, cache_control=auto)
    answer = {"role": "assistant", "content": "a"}
    near = [*base, answer, user([{"type": "text", "text": "b"}] * 19)]
    assert usage_of(client, messages=near, cache_control=auto)[0] > 0
    far = [*base, answer, user([{"type": "text", "text": "c"}] * 21)]
    assert usage_of(client, messages=far, cache_control=auto)[0] == 0


def test_tools_change_invalidates_all_and_tool_choice_only_messages() -> None:
    _, client, _ = setup()
    tools: list[Any] = [{"name": "f", "input_schema": {"type": "object"}}]
    msg = [user([{"type": "text", "text": "ctx " * 600, "cache_control": {"type": "ephemeral"}}])]
    kw: dict[str, Any] = {"system": big_system(), "messages": msg}
    _, written, _ = usage_of(client, tools=tools, **kw)
    assert usage_of(client, tools=tools, **kw)[:2] == (written, 0)
    read, _, _ = usage_of(client, tools=tools, tool_choice={"type": "any"}, **kw)
    assert 0 < read < written  # tools + system still read, the messages part rewritten
    other_tools = [{"name": "g", "input_schema": {"type": "object"}}]
    assert usage_of(client, tools=other_tools, **kw)[0] == 0


def test_cache_is_scoped_per_model() -> None:
    _, client, _ = setup()
    usage_of(client, system=big_system(), messages=[user("q")])
    assert (
        usage_of(client, model="claude-sonnet-5-5", system=big_system(), messages=[user("q")])[0]
        == 0
    )


def test_diagnostics_explain_cache_misses() -> None:
    _, client, _ = setup()
    first = client.messages.create(
        model=MODEL,
        max_tokens=5,
        system=big_system(),
        messages=[user("q")],
        diagnostics={"previous_message_id": None},
    )
    assert first.diagnostics is None

    def diagnose(**kwargs: Any) -> Any:
        kwargs.setdefault("model", MODEL)
        kwargs.setdefault("system", big_system())
        kwargs.setdefault("messages", [user("q"), {"role": "assistant", "content": "a"}, user("r")])
        reply = client.messages.create(
            max_tokens=5, diagnostics={"previous_message_id": first.id}, **kwargs
        )
        return None if reply.diagnostics is None else reply.diagnostics.cache_miss_reason

    assert diagnose() is None
    assert diagnose(model="claude-sonnet-5-5").type == "model_changed"
    changed = diagnose(system=big_system(words=700))
    assert changed.type == "system_changed" and changed.cache_missed_input_tokens > 0
    assert (
        diagnose(tools=[{"name": "f", "input_schema": {"type": "object"}}]).type == "tools_changed"
    )
    assert diagnose(messages=[user("different")]).type == "messages_changed"
    assert diagnose(thinking={"type": "adaptive"}).type == "unavailable"
    unknown = client.messages.create(
        model=MODEL,
        max_tokens=5,
        messages=[user("q")],
        diagnostics={"previous_message_id": "msg_nope"},
    )
    assert unknown.diagnostics is not None
    assert unknown.diagnostics.cache_miss_reason.type == "previous_message_not_found"  # type: ignore[union-attr]
