"""Where system prompt and tool changes go in a request: pure functions on hand-built
histories."""

from __future__ import annotations

from typing import Any

from claudechat.chat.system_changes import (
    insert_system_messages,
    plan_system,
    prompt_inserts,
    record_change,
)
from claudechat.chat.tool_changes import effective_tools, plan_tools, record_tool_change
from claudechat.messages import Message, to_api_messages
from claudechat.models import model_info

OPUS48 = model_info("claude-opus-4-8")
SONNET5 = model_info("claude-sonnet-5")


def _history(n: int) -> list[Message]:
    out: list[Message] = []
    for i in range(n):
        out.append(Message("user", [{"type": "text", "text": f"q{i}"}], id=f"u{i}"))
        out.append(Message("assistant", [{"type": "text", "text": f"a{i}"}], id=f"a{i}"))
    return out


def _render(meta: dict[str, Any], current: str, branch: list[Message], sent: list[Message]) -> Any:
    plan = plan_system(meta, current=current, branch=branch, info=OPUS48)
    messages = to_api_messages(sent)
    inserts = prompt_inserts(len(messages), sent, plan)
    if inserts is None:
        return plan.top_level, None
    roles = [
        m["role"] if m["role"] != "system" else "system:" + m["content"][0]["text"]
        for m in insert_system_messages(messages, inserts)
    ]
    return plan.top_level, roles


def test_changes_follow_their_messages_and_older_models_get_the_prompt_top_level() -> None:
    branch = [*_history(3), Message("user", [{"type": "text", "text": "new"}], id="u3")]
    meta = record_change({}, old="P", new="B", head_id="a0")
    meta = record_change(meta, old="B", new="C", head_id="a2")
    top, roles = _render(meta, "C", branch, branch)
    assert top == "P"
    assert roles == ["user", "assistant", "system:B", "user", "assistant", "user", "assistant",
                     "system:C", "user"]  # fmt: skip
    plan = plan_system(meta, current="C", branch=branch, info=SONNET5)
    assert (plan.top_level, plan.changes) == ("C", ())


def test_a_trimmed_change_is_dropped_but_the_prompt_in_force_is_kept() -> None:
    branch = [*_history(4), Message("user", [{"type": "text", "text": "new"}], id="u4")]
    meta = record_change({}, old="P", new="B", head_id="a0")
    meta = record_change(meta, old="B", new="C", head_id="a1")
    window = branch[4:]  # turns 2, 3 and the new message: both changes were trimmed
    top, roles = _render(meta, "C", branch, window)
    assert top == "P"
    assert roles == ["user", "system:C", "assistant", "user", "assistant", "user"]
    top, roles = _render(meta, "C", branch, branch[-1:])  # a one-message window
    assert roles is None and top == "P"  # the caller sends "C" top-level


def test_nothing_said_yet_means_a_plain_top_level_change() -> None:
    meta = record_change({"x": 1}, old="P", new="B", head_id=None)
    assert meta == {"x": 1}
    plan = plan_system(meta, current="B", branch=[], info=OPUS48)
    assert plan.top_level == "B" and plan.changes == ()


def test_tool_changes_add_up_and_fall_back_when_they_disagree() -> None:
    w = {"name": "weather", "input_schema": {"type": "object"}}
    c = {"name": "clock", "input_schema": {"type": "object"}}
    w2 = {**w, "description": "new"}
    branch = _history(2)
    meta = record_tool_change({}, before=[w], after=[w, c], head_id="a0")
    meta = record_tool_change(meta, before=[w, c], after=[w2, c], head_id="a1")
    assert meta["tool_changes"][1] == {"after": "a1", "removed": ["weather"], "added": [w2]}
    assert effective_tools(meta) == [c, w2]
    plan = plan_tools(meta, current=[c, w2], branch=branch, info=OPUS48)
    assert plan.top_level == [w] and len(plan.changes) == 2
    assert plan_tools(meta, current=[c], branch=branch, info=OPUS48).top_level == [c]
    assert plan_tools(meta, current=[c, w2], branch=branch[:2], info=OPUS48).changes == ()
