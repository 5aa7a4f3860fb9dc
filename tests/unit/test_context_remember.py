"""`remember_policies`: the window and recall sized as the memory frontier measured best
(bench/memory.py), the default of the CLI and the service."""

from __future__ import annotations

import pytest

from claudechat.context import RollingSummary, TokenWindow
from claudechat.context.engine import DEFAULT_BUDGET
from claudechat.context.recall import Recall, recall_sizes, remember_policies
from claudechat.search import MemoryIndex


@pytest.mark.parametrize(
    ("budget", "cap", "high", "low"),
    [(2_000, 900, 0.5, 0.35), (3_000, 1_350, 0.5, 0.35), (16_000, 6_000, 0.575, 0.425),
     (200_000, 6_000, 0.92, 0.77)],
)  # fmt: skip
def test_recall_gets_its_share_and_the_window_what_is_left(
    budget: int, cap: int, high: float, low: float
) -> None:
    sizes = recall_sizes(budget)
    assert (sizes.k, sizes.max_tokens) == (25, cap)
    assert (sizes.high_water, sizes.low_water) == pytest.approx((high, low))
    # the window at its high mark, recall at its cap and the frame still fit the budget
    assert sizes.high_water * budget + sizes.max_tokens <= budget * 0.951


def test_a_tiny_budget_still_leaves_the_window_room() -> None:
    sizes = recall_sizes(300)
    assert sizes.max_tokens == 200 and 0 < sizes.low_water <= sizes.high_water < 1


@pytest.mark.parametrize("strategy", ["window", "summary"])
def test_remember_policies_are_the_strategy_then_recall(strategy: str) -> None:
    index = MemoryIndex()
    policies = remember_policies(strategy, index, budget=3_000)
    *head, recall = policies
    assert isinstance(recall, Recall) and recall.index is index
    assert (recall.k, recall.max_tokens) == (25, 1_350)
    window = head[0].window if isinstance(head[0], RollingSummary) else head[0]
    assert isinstance(window, TokenWindow)
    assert (window.high_water, window.low_water) == pytest.approx((0.5, 0.35))


@pytest.mark.parametrize("budget", [None, "max"])
def test_without_a_number_the_default_budget_sizes_them(budget: str | None) -> None:
    recall = remember_policies("window", MemoryIndex(), budget=budget)[-1]  # type: ignore[arg-type]
    assert isinstance(recall, Recall)
    assert recall.max_tokens == recall_sizes(DEFAULT_BUDGET).max_tokens == 6_000
