"""kill -9 during streamed chat turns loses nothing: bench/crash.py with 10 kill points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CRASH = Path(__file__).resolve().parents[2] / "bench" / "crash.py"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the crash harness forks its children")
def test_kill_minus_nine_loses_nothing() -> None:
    run = subprocess.run(
        [sys.executable, str(CRASH), "--points", "10", "--max-delay", "0.4", "--seed", "3",
         "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    res = json.loads(run.stdout)
    problems = {k: res[k] for k in ("child_errors", "open_failures", "integrity_failures",
                                    "invalid_branches", "resume_failures", "lost")}  # fmt: skip
    assert res["failures"] == 0, problems
    assert res["points"] == 10 and res["sent"] >= 5  # user messages did reach the API
    assert res["messages"] > res["sent"]  # and replies were stored
