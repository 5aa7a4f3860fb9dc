"""Configuration: precedence flags > environment > file > defaults, checking, the TOML file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from claudechat.config import (
    DEFAULT_CLI_MODEL,
    KEYS,
    config_path,
    parse_value,
    read_config,
    redact,
    resolve,
    set_value,
    unset_value,
)
from claudechat.errors import ConfigError


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    s = resolve(env={}, path=tmp_path / "none.toml")
    assert (s.model, s.strategy, s.budget, s.max_tokens, s.cache_ttl) == (
        DEFAULT_CLI_MODEL,
        "window",
        None,
        4096,
        "5m",
    )
    assert set(s.sources.values()) == {"default"}


def test_flags_beat_environment_beat_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('model = "from-file"\nbudget = 1000\nstrategy = "summary"\nsystem = "file"\n')
    env = {"CLAUDECHAT_MODEL": "from-env", "CLAUDECHAT_BUDGET": "2000"}
    s = resolve({"model": "from-flag", "system": None}, env=env, path=path)
    assert s.model == "from-flag" and s.sources["model"] == "flag"
    assert s.budget == 2000 and s.sources["budget"] == "env"
    assert s.strategy == "summary" and s.sources["strategy"] == "file"
    assert s.system == "file" and s.sources["system"] == "file"  # a None flag is "not given"
    assert s.max_tokens == 4096 and s.sources["max_tokens"] == "default"


def test_claudechat_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('model = "claude-opus-5"\n')
    assert config_path({"CLAUDECHAT_CONFIG": str(path)}) == path
    assert resolve(env={"CLAUDECHAT_CONFIG": str(path)}).model == "claude-opus-5"


@pytest.mark.parametrize(
    ("key", "raw", "value"),
    [
        ("budget", "20000", 20000),
        ("budget", "20_000", 20000),
        ("budget", "20k", 20000),
        ("budget", 1500, 1500),
        ("max_tokens", "8192", 8192),
        ("strategy", "Summary", "summary"),
        ("cache_ttl", "1h", "1h"),
        ("max-tokens", "100", 100),
        ("system", "", ""),
        ("recall", "off", False),
        ("recall", "Yes", True),
        ("recall", False, False),
        ("embedder", "hashing", "hashing"),
    ],
)
def test_values_are_checked_and_converted(key: str, raw: object, value: object) -> None:
    assert parse_value(key, raw) == value


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("budget", "lots", "budget must be a positive whole number, got 'lots'"),
        ("budget", 0, "budget must be a positive whole number, got 0"),
        ("budget", True, "budget must be a positive whole number, got True"),
        ("strategy", "forget", "strategy must be one of window, summary, compact, got 'forget'"),
        ("cache_ttl", "2h", "cache_ttl must be one of 5m, 1h, got '2h'"),
        ("model", "  ", "model must be a non-empty string, got '  '"),
        ("colour", "red", "unknown config key 'colour'"),
        ("recall", "maybe", "recall must be true or false, got 'maybe'"),
    ],
)
def test_bad_values_raise_config_error(key: str, raw: object, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_value(key, raw)


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^CLAUDECHAT_STRATEGY: strategy must be one of"):
        resolve(env={"CLAUDECHAT_STRATEGY": "nope"}, path=tmp_path / "x.toml")


def test_a_broken_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("model = \n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        resolve(env={}, path=path)
    path.write_text("budget = -5\n")
    with pytest.raises(ConfigError, match="^" + re.escape(f"{path}: budget must be")):
        read_config(path)


def test_set_writes_toml_that_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    assert set_value(path, "budget", "30k") == 30000
    tricky = 'Say "hi"\\n then\ttab, ünïcode, and a line\nbreak \x7f'
    set_value(path, "system", tricky)
    set_value(path, "model", "claude-haiku-4-5")
    set_value(path, "recall", "no")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data == {"model": "claude-haiku-4-5", "system": tricky, "budget": 30000, "recall": False}
    assert resolve(env={}, path=path).system == tricky
    assert unset_value(path, "budget") is True
    assert unset_value(path, "budget") is False
    assert "budget" not in read_config(path)


def test_set_refuses_bad_values_and_leaves_the_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    set_value(path, "strategy", "summary")
    before = path.read_text()
    with pytest.raises(ConfigError):
        set_value(path, "strategy", "bogus")
    assert path.read_text() == before


def test_every_key_has_an_environment_variable() -> None:
    assert KEYS["max_tokens"].env == "CLAUDECHAT_MAX_TOKENS"
    assert {k.env for k in KEYS.values()} >= {
        "CLAUDECHAT_MODEL",
        "CLAUDECHAT_SYSTEM",
        "CLAUDECHAT_BUDGET",
        "CLAUDECHAT_STRATEGY",
        "CLAUDECHAT_STORE",
        "CLAUDECHAT_DB",
    }


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://u:ss:w@rd@db:5432/x?a=b", "postgresql://u:***@db:5432/x?a=b"),
        (
            "postgresql://app:S3cret@h/db, postgres://b:c@d/e",
            "postgresql://app:***@h/db, postgres://b:***@d/e",
        ),
        ("host=x password='a b' user=y", "host=x password=*** user=y"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_redact_hides_every_part_of_a_password(text: str, shown: str) -> None:
    assert redact(text) == shown
