"""The CLI's budget: 200,000 tokens by default, the model's whole window with ``max``."""

from __future__ import annotations

from conftest import Run


def _window_line(run: Run, *args: str, env: dict[str, str] | None = None) -> str:
    result = run("chat", *args, input="hello\n/tokens\n/quit\n", env=env)
    assert result.exit_code == 0, result.output
    return next(line for line in result.stdout.splitlines() if line.startswith("window:"))


def test_the_default_budget_is_200k_and_max_lifts_it_to_the_window(run: Run) -> None:
    assert " of 200,000 tokens" in _window_line(run, "-m", "claude-sonnet-4-6")
    assert " of 975,904 tokens" in _window_line(run, "-m", "claude-sonnet-4-6", "--budget", "max")
    env = {"CLAUDECHAT_BUDGET": "MAX"}
    assert " of 975,904 tokens" in _window_line(run, "-m", "claude-sonnet-4-6", env=env)
    assert " of 20,000 tokens" in _window_line(run, "--budget", "20k")


def test_config_set_budget_max(run: Run) -> None:
    assert run("config", "set", "budget", "max").stdout.startswith('budget = "max"')
    assert run("config", "get", "budget").stdout == "max\n"
    assert " of 975,904 tokens" in _window_line(run, "-m", "claude-sonnet-4-6")
    bad = run("ask", "--budget", "maximum", "hi")
    assert bad.exit_code == 2
    assert "budget must be a positive whole number" in bad.stderr
