"""The emulator's deterministic token counter and its public surface."""

from __future__ import annotations

import math
import types

from hypothesis import given
from hypothesis import strategies as st

import claudechat.testing as testing
from claudechat.testing import Emulator, count_tokens_text
from claudechat.testing._tokens import truncate_to_tokens

OLD = "claude-opus-4-6"  # the Claude 3 to 4.6 tokenizer
NEW = "claude-opus-5"


def test_all_is_sorted_and_complete() -> None:
    public = {
        name
        for name, value in vars(testing).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert testing.__all__ == sorted(testing.__all__)
    assert set(testing.__all__) == public


def test_words_punctuation_numbers_and_whitespace() -> None:
    assert count_tokens_text("", OLD) == 0
    assert count_tokens_text("   \n\t ", OLD) == 0
    assert count_tokens_text("Hello, world!", OLD) == 4
    assert count_tokens_text("1234567", OLD) == 3  # 123 456 7
    assert count_tokens_text("internationalization", OLD) == 4  # 20 letters / 6
    assert count_tokens_text("snake_case", OLD) == 3
    assert count_tokens_text("你好世界", OLD) == 4


def test_new_tokenizer_family_counts_thirty_percent_more() -> None:
    text = "The quick brown fox jumps over the lazy dog."
    raw = count_tokens_text(text, OLD)
    assert raw == 10
    for model in ("claude-opus-4-7", "claude-opus-4-8", NEW, "claude-sonnet-5", "claude-fable-5"):
        assert count_tokens_text(text, model) == math.ceil(raw * 1.3)
    assert count_tokens_text(text, "claude-sonnet-4-6") == raw


def test_texts_count_alike_below_and_above_the_length_whose_count_is_kept() -> None:
    piece = "lease stream, 1234 "  # lease stream , 123 4: 5 tokens
    assert count_tokens_text(piece, OLD) == 5
    for times in (10, 1_000):  # 190 and 19,000 characters: kept, and counted each time
        text = piece * times
        assert count_tokens_text(text, OLD) == 5 * times
        assert count_tokens_text(text, NEW) == math.ceil(5 * times * 1.3)
        assert count_tokens_text(text, OLD) == 5 * times  # a kept count, for either family


def test_truncate_keeps_the_longest_prefix_within_the_limit() -> None:
    text = "one two three four five"
    assert truncate_to_tokens(text, 2, OLD) == "one two"
    assert truncate_to_tokens(text, 0, OLD) == ""
    assert truncate_to_tokens(text, 99, OLD) == text
    assert count_tokens_text(truncate_to_tokens(text, 3, NEW), NEW) <= 3


@given(st.lists(st.text(min_size=1, max_size=40).filter(str.strip), min_size=1, max_size=6))
def test_request_total_is_additive_over_messages(texts: list[str]) -> None:
    emu = Emulator()
    messages = []
    totals = []
    for i, text in enumerate(texts):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
        totals.append(emu.count_request_tokens({"model": NEW, "messages": list(messages)}))
    singles = [emu.count_request_tokens({"model": NEW, "messages": [m]}) for m in messages]
    base = emu.count_request_tokens({"model": NEW, "messages": []})
    assert totals[-1] == base + sum(s - base for s in singles)
    assert totals == sorted(totals)


def test_counts_are_deterministic_and_ignore_cache_control() -> None:
    emu = Emulator()
    plain = {
        "model": NEW,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }
    marked = {
        "model": NEW,
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}],
            }
        ],
    }
    string = {"model": NEW, "messages": [{"role": "user", "content": "hi"}]}
    assert emu.count_request_tokens(plain) == emu.count_request_tokens(marked)
    assert emu.count_request_tokens(plain) == emu.count_request_tokens(string)
