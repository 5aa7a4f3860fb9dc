"""Usage errors known locally end `ask` with exit 2 and store nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result

Run = Callable[..., Result]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--max-tokens", "200000", "hi"), "output cap of 128,000"),
        (("--budget", "10", "a prompt far too long for a ten-token budget"), "budget"),
        (("caf\udce9 undecodable argument",), "not valid Unicode"),
    ],
    ids=["max-tokens-over-cap", "budget-too-small", "undecodable-argument"],
)
def test_a_local_usage_error_exits_2_and_stores_nothing(
    run: Run, args: tuple[str, ...], says: str
) -> None:
    result = run("ask", *args)
    assert result.exit_code == 2, result.output
    assert says in result.stderr and "internal error" not in result.stderr
    assert run("list").stdout.strip() == "no conversations yet"
