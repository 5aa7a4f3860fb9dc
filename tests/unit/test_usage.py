"""usage.py and capabilities: prices from FACTS.md, unknown models never cost 0."""

from __future__ import annotations

import dataclasses

import pytest

from claudechat.models.capabilities import (
    UnknownModelWarning,
    known_models,
    model_info,
    model_prices,
)
from claudechat.usage import Ledger, Prices, Pricing, Usage


def test_cost_by_token_kind_on_sonnet_4_6() -> None:
    u = Usage(
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_write_5m_tokens=1_000_000,
        cache_write_1h_tokens=1_000_000,
        cache_read_tokens=1_000_000,
        requests=1,
    )
    assert u.cost_usd("claude-sonnet-4-6", model_prices) == pytest.approx(3 + 15 + 3.75 + 6 + 0.30)


def test_unknown_model_costs_none_not_zero() -> None:
    assert Usage(input_tokens=10, requests=1).cost_usd("gpt-9", model_prices) is None


def test_iterations_are_billed() -> None:
    api = {
        "input_tokens": 100,
        "output_tokens": 10,
        "iterations": [
            {"type": "compaction", "input_tokens": 5000, "output_tokens": 300},
            {"type": "message", "input_tokens": 100, "output_tokens": 10},
        ],
    }
    u = Usage.from_api(api)
    assert (u.iteration_input_tokens, u.iteration_output_tokens) == (5000, 300)
    plain = Usage.from_api({"input_tokens": 100, "output_tokens": 10})
    extra = (u.cost_usd("claude-opus-4-6", model_prices) or 0) - (
        plain.cost_usd("claude-opus-4-6", model_prices) or 0
    )
    assert extra == pytest.approx((5000 * 5 + 300 * 25) / 1e6)


def test_cache_creation_split_by_ttl() -> None:
    u = Usage.from_api(
        {
            "input_tokens": 1,
            "cache_creation_input_tokens": 30,
            "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20},
            "cache_read_input_tokens": 70,
        }
    )
    assert (u.cache_write_5m_tokens, u.cache_write_1h_tokens, u.cache_read_tokens) == (10, 20, 70)
    assert u.total_input_tokens == 101
    assert u.cache_hit_ratio == pytest.approx(70 / 101)


def test_haiku_5_5_long_prompt_tier() -> None:
    short = Usage(input_tokens=100_000, requests=1).cost_usd("claude-haiku-5-5", model_prices)
    long = Usage(input_tokens=100_001, requests=1).cost_usd("claude-haiku-5-5", model_prices)
    assert short == pytest.approx(0.01)
    assert long == pytest.approx(100_001 * 0.5 / 1e6)


def test_usage_adds_and_round_trips() -> None:
    a = Usage(input_tokens=1, output_tokens=2, requests=1)
    b = Usage(cache_read_tokens=5, requests=1)
    total = a + b
    assert (total.input_tokens, total.cache_read_tokens, total.requests) == (1, 5, 2)
    assert Usage.from_dict(total.to_dict()) == total


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Usage)])
def test_usage_addition_sums_every_field(name: str) -> None:
    total = Usage(**{name: 2}) + Usage(**{name: 5})
    assert getattr(total, name) == 7
    assert all(getattr(total, f.name) == 0 for f in dataclasses.fields(Usage) if f.name != name)


def test_ledger_turn_and_cumulative_totals() -> None:
    ledger = Ledger(prices=model_prices)
    ledger.record("claude-sonnet-4-6", Usage(input_tokens=1_000_000, requests=1))
    ledger.start_turn()
    ledger.record("claude-sonnet-4-6", Usage(output_tokens=1_000_000, requests=1))
    assert ledger.turn_cost_usd == pytest.approx(15)
    assert ledger.cost_usd == pytest.approx(18)
    ledger.record("mystery-model", Usage(input_tokens=1, requests=1))
    assert ledger.cost_usd is None
    assert ledger.usage.requests == 3


def test_capabilities_table_and_aliases() -> None:
    assert "claude-sonnet-4-6" in known_models()
    info = model_info("claude-sonnet-4-5-20250929")
    assert info.name == "claude-sonnet-4-5" and info.prefill and info.context_window == 200_000
    assert not model_info("claude-opus-4-6").prefill
    assert model_info("claude-opus-4-7").tokenizer == "claude47"
    assert model_info("us.anthropic.claude-haiku-4-5-20251001-v1:0").name == "claude-haiku-4-5"


def test_unknown_model_warns_and_gets_safe_defaults() -> None:
    with pytest.warns(UnknownModelWarning, match="claude-zeta-9"):
        info = model_info("claude-zeta-9")
    assert not info.known and info.prices is None and not info.prefill


def test_a_ledger_prices_with_what_it_is_given() -> None:
    house = Pricing(Prices(1, 2, 3, 0.5, 10), Prices(2, 4, 6, 1, 20), long_threshold=1_000)
    ledger = Ledger(prices=lambda model: house if model == "house-model" else None)
    short = ledger.record("house-model", Usage(input_tokens=1_000, output_tokens=100, requests=1))
    assert short.cost_usd == pytest.approx((1_000 * 1 + 100 * 10) / 1e6)
    long = ledger.record("house-model", Usage(input_tokens=1_001, requests=1))
    assert long.cost_usd == pytest.approx(1_001 * 2 / 1e6)  # above the threshold: long prices
    assert ledger.record("claude-sonnet-4-6", Usage(input_tokens=1, requests=1)).cost_usd is None
    assert ledger.cost_usd is None
    assert model_prices("claude-sonnet-4-6") == model_info("claude-sonnet-4-6").pricing
    assert model_prices("gpt-9") is None
