"""Model aliases and "did you mean": pure functions over the capability table."""

from __future__ import annotations

from datetime import date

import pytest

from claudechat import UnknownModel
from claudechat.models.aliases import (
    builtin_aliases,
    check_model_name,
    resolve_alias,
    suggest,
)


def test_each_alias_is_the_newest_model_of_its_line_not_retired() -> None:
    aliases = builtin_aliases(today=date(2026, 11, 29))
    assert aliases["sonnet"] == "claude-sonnet-5-5"
    assert aliases["opus"] == "claude-opus-5-5"
    assert aliases["haiku"] == "claude-haiku-5-5"
    assert aliases["fable"] == "claude-fable-5-1" and aliases["mythos"] == "claude-mythos-5-1"
    # A retired model is never an alias target (mythos-preview has no version number).
    assert "claude-mythos-preview" not in aliases.values()


def test_configured_aliases_win_and_names_pass_through() -> None:
    assert resolve_alias("sonnet", {"sonnet": "claude-sonnet-4-6"}) == "claude-sonnet-4-6"
    assert resolve_alias("fast", {"fast": "claude-haiku-4-5"}) == "claude-haiku-4-5"
    assert resolve_alias(" Opus ") == "claude-opus-5-5"
    assert resolve_alias("claude-opus-4-8") == "claude-opus-4-8"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("claude-sonet-4-6", "claude-sonnet-4-6"),
        ("claude-opus-4.8", "claude-opus-4-8"),
        ("claude-haiku-45", "claude-haiku-4-5"),
        ("sonet", "sonnet"),
        ("Claude-Sonnet-4-6x", "claude-sonnet-4-6"),
    ],
)
def test_near_misses_are_refused_with_a_suggestion(typed: str, meant: str) -> None:
    assert suggest(typed) == meant
    with pytest.raises(UnknownModel, match=f"did you mean '{meant}'") as caught:
        check_model_name(typed)
    assert caught.value.suggestion == meant and caught.value.model == typed


def test_names_close_to_nothing_pass_through() -> None:
    assert check_model_name("claude-sonnet-4-6-20260217") == "claude-sonnet-4-6-20260217"
    assert check_model_name("llama3.1:8b") == "llama3.1:8b"  # another server's model
    assert suggest("llama3.1:8b") is None
