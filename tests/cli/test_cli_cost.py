"""``claudechat cost`` counts what the API billed once, whatever was copied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Run


def _cost(run: Run, *args: str) -> dict[str, object]:
    result = run("cost", "--json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_export_then_import_does_not_count_the_spend_twice(run: Run, tmp_path: Path) -> None:
    """The issue's journey: 2 requests / $0.0010 became 4 / $0.0019 after an import."""
    first = run("ask", "--json", "one")
    cid = json.loads(first.stdout)["conversation_id"]
    assert run("ask", "-c", "two").exit_code == 0
    before = _cost(run)
    assert before["requests"] == 2
    out = tmp_path / "c.json"
    assert run("export", cid, "--format", "json", "-o", str(out)).exit_code == 0
    assert run("import", str(out), "--again").exit_code == 0  # a second copy, on purpose

    after = _cost(run)
    assert after["conversations"] == 2
    assert after["requests"] == 2 and after["cost_usd"] == before["cost_usd"]
    assert after["copied_requests"] == 2
    text = run("cost").stdout
    assert text.startswith("2 conversations, 2 requests")
    assert "not counted again: 2 requests copied by fork or import" in text


def test_the_repl_cost_counts_each_summary_once() -> None:
    """/cost after /compact: the summary was counted twice (the session's ledger and the
    stored copy), and summaries of earlier sessions not at all."""
    from test_cli_session import Harness

    from claudechat.cli.session import Session

    h = Harness(strategy="summary")
    for n in range(4):
        h(f"message number {n}")
    h("/compact")
    h("after compacting")
    ledger = h.chat.ledger
    assert any(e.purpose == "summary" for e in ledger.entries)
    report = h.session.cost_report()
    assert report.usage == ledger.usage  # this session made every request of the chat
    assert report.cost_usd == pytest.approx(ledger.cost_usd)

    later = Session(h.runtime, h.runtime.resume(h.chat.id), h.session.console, plain=True)
    assert later.cost_report().usage == ledger.usage  # a new session reads it all back


def test_list_shows_the_cost_that_cost_shows(run: Run, tmp_path: Path) -> None:
    first = run("ask", "--json", "one")
    cid = json.loads(first.stdout)["conversation_id"]
    assert run("ask", "-c", "two").exit_code == 0
    out = tmp_path / "c.json"
    assert run("export", cid, "--format", "json", "-o", str(out)).exit_code == 0
    assert run("import", str(out), "--again").exit_code == 0
    rows = [json.loads(line) for line in run("list", "--json").stdout.splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert row["cost_usd"] == _cost(run, row["id"])["cost_usd"]
    assert sorted(row["cost_usd"] > 0 for row in rows) == [False, True]  # the copy: 0 again
