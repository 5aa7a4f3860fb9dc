"""messages.py: turn grouping, validation naming problem and place, repair."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claudechat.errors import InvalidHistory
from claudechat.messages import (
    Message,
    assistant,
    group_turns,
    repair,
    sendable_content,
    text_of,
    to_api_messages,
    user,
    validate,
)
from claudechat.usage import Usage


def tool_use(tid: str, name: str = "f") -> dict[str, Any]:
    return {"type": "tool_use", "id": tid, "name": name, "input": {}}


def tool_result(tid: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tid, "content": "ok"}


def test_turns_group_tool_rounds_with_their_user_message() -> None:
    h = [
        user("weather?"),
        assistant([tool_use("t1")]),
        user([tool_result("t1")]),
        assistant("sunny"),
        user("thanks"),
        assistant("welcome"),
    ]
    turns = group_turns(h)
    assert [len(t.messages) for t in turns] == [4, 2]
    assert turns[1].first.text == "thanks"


@pytest.mark.parametrize(
    ("history", "problem", "index"),
    [
        ([], "empty", None),
        ([assistant("hi")], "first message must come from the user", 0),
        ([user("a"), user("b")], "two user messages in a row", 1),
        ([user("a"), {"role": "system", "content": "x"}], "unknown role", 1),
        ([user([{"type": "text", "text": "  "}])], "empty text block", 0),
        ([user("a"), assistant([{"type": "thinking", "thinking": "hm"}])], "without signature", 1),
        ([user([tool_result("t9")])], "orphaned tool_result", 0),
        ([user("a"), assistant([tool_use("t1")]), user("b")], "tool_use without result", 2),
        ([user("a"), assistant([tool_use("t1")])], "tool_use without result", 1),
    ],
)
def test_validate_names_problem_and_position(
    history: list[Any], problem: str, index: int | None
) -> None:
    with pytest.raises(InvalidHistory) as info:
        validate(history)
    assert problem in str(info.value)
    assert info.value.index == index


def test_valid_tool_loop_passes() -> None:
    validate([user("a"), assistant([tool_use("t1")]), user([tool_result("t1")]), assistant("x")])


def test_repair_answers_dangling_tool_use_and_keeps_user_text() -> None:
    fixed = repair([user("a"), assistant([tool_use("t1")]), user("b")])
    validate(fixed)
    assert fixed[2]["content"][0]["type"] == "tool_result"
    assert fixed[2]["content"][0]["is_error"] is True
    assert text_of(fixed[2]["content"]) == "b"


def test_repair_merges_same_roles_and_drops_leading_assistant() -> None:
    fixed = repair([assistant("hello"), user("a"), user("b"), assistant("c")])
    assert fixed == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "c"}]},
    ]


def test_repair_without_user_text_raises() -> None:
    with pytest.raises(InvalidHistory, match="no user text"):
        repair([assistant("x"), user([tool_result("t1")])])


def test_partial_reply_is_resent_as_text_only() -> None:
    cut = assistant([{"type": "text", "text": "half an ans"}, tool_use("t1")], status="partial")
    api = to_api_messages([user("q"), cut, user("go on")])
    assert api[1] == {"role": "assistant", "content": [{"type": "text", "text": "half an ans"}]}
    validate(api)


def test_what_a_message_sends_is_all_of_a_complete_one_and_the_text_of_a_cut_one() -> None:
    blocks = [{"type": "text", "text": "half"}, {"type": "text", "text": ""}, tool_use("t1")]
    assert sendable_content(assistant(blocks)) == blocks
    assert sendable_content(assistant(blocks, status="partial")) == [blocks[0]]
    assert sendable_content(assistant(blocks, status="error")) == [blocks[0]]
    assert sendable_content(assistant([tool_use("t1")], status="partial")) == []


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"role": "user", "content": ["hi"]}, "block 0 is not a content block"),
        ({"role": "user", "content": [{"text": "hi"}]}, "block 0 is not a content block"),
        ({"role": "user", "content": 3}, "content must be a string or a list of blocks"),
        ({"content": "hi"}, "a message needs 'role' and 'content'"),
        ("hi", "not a message: str"),
    ],
)
def test_validate_names_a_message_or_block_it_cannot_read(message: Any, problem: str) -> None:
    with pytest.raises(InvalidHistory, match=problem) as info:
        validate([message])
    assert info.value.index == 0


def test_validate_and_repair_read_mappings_and_messages_alike() -> None:
    from types import MappingProxyType

    history: list[Any] = [
        MappingProxyType({"role": "user", "content": "q"}),
        assistant([tool_use("t1")]),
        {"role": "user", "content": (MappingProxyType(tool_result("t1")),)},
        MappingProxyType({"role": "assistant", "content": [{"type": "text", "text": " "}]}),
    ]
    with pytest.raises(InvalidHistory, match="empty text block") as info:
        validate(history)
    assert info.value.index == 3
    fixed = repair(history)
    assert [m["role"] for m in fixed] == ["user", "assistant", "user"]
    assert fixed[2]["content"] == [tool_result("t1")]


def test_partial_reply_without_text_is_left_out_and_users_merge() -> None:
    cut = assistant([], status="partial")
    api = to_api_messages([user("q"), cut, user("again")])
    assert len(api) == 1 and text_of(api[0]["content"]) == "qagain"


def test_message_dict_round_trip_is_lossless() -> None:
    m = Message(
        "assistant",
        [{"type": "thinking", "thinking": "t", "signature": "sig"}, {"type": "text", "text": "x"}],
        parent_id="p",
        model="claude-sonnet-4-6",
        usage=Usage(input_tokens=3, output_tokens=4, requests=1),
        stop_reason="end_turn",
        metadata={"k": 1},
    )
    assert Message.from_dict(m.to_dict()) == m


# --- property: repair always yields something validate accepts --------------------------

_ids = st.sampled_from(["t1", "t2", "t3"])
_block = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, st.sampled_from(["", " ", "hi", "ok"])),
    st.builds(tool_use, _ids),
    st.builds(tool_result, _ids),
    st.builds(
        lambda s: {"type": "thinking", "thinking": "x", **({"signature": s} if s else {})},
        st.sampled_from(["", "sig"]),
    ),
    st.just(
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}}
    ),
)
_message = st.builds(
    lambda role, blocks: {"role": role, "content": blocks},
    st.sampled_from(["user", "assistant"]),
    st.lists(_block, max_size=4),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_message, max_size=10))
def test_repair_output_always_validates(history: list[dict[str, Any]]) -> None:
    has_user_text = any(
        m["role"] == "user"
        and any(
            b["type"] not in ("tool_result", "tool_use")
            and not (b["type"] == "text" and not b["text"].strip())
            and b["type"] != "thinking"
            for b in m["content"]
        )
        for m in history
    )
    try:
        fixed = repair(history)
    except InvalidHistory:
        assert not has_user_text
        return
    validate(fixed)
    # a user's own words are never dropped
    before = [
        b["text"]
        for m in history
        if m["role"] == "user"
        for b in m["content"]
        if b["type"] == "text" and b["text"].strip()
    ]
    after = [
        b["text"] for m in fixed if m["role"] == "user" for b in m["content"] if b["type"] == "text"
    ]
    assert before == after


def test_new_ids_are_32_hex_digits_unique_and_ordered_by_time() -> None:
    from claudechat.messages import new_id

    ids = [new_id() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)
