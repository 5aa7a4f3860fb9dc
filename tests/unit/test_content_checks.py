"""Whatever a caller passes as a prompt: blocks every store and the API can take, or UserError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claudechat.chat.checks import check_prompt
from claudechat.errors import UserError
from claudechat.messages import MAX_NESTING, content_problem

_text = st.text(alphabet=st.characters(codec=None), max_size=12)  # lone surrogates included
_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), _text, st.binary(max_size=4)
)
_json = st.recursive(
    _leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)),
    max_leaves=12,
)
_block = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image", "tool_result", "document"])},
    optional={"text": _text, "source": _json, "content": _json, "extra": _json},
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_text, st.lists(_block, max_size=3)))
def test_a_prompt_is_storable_and_sendable_or_a_user_error(prompt: Any) -> None:
    try:
        blocks = check_prompt(prompt)
    except UserError:
        return
    encoded = json.dumps(blocks, ensure_ascii=False, allow_nan=False)  # what a store writes
    encoded.encode("utf-8")  # and what a database or the wire takes


def test_nesting_is_checked_without_recursion() -> None:
    deep: Any = "x"
    for _ in range(100_000):
        deep = [deep]
    problem = content_problem(deep, "prompt")
    assert problem is not None and f"{MAX_NESTING} levels" in problem
    with pytest.raises(UserError, match="nested"):
        check_prompt([{"type": "text", "text": "hi", "extra": deep}])
