"""Start-up benchmark: ``claudechat --help`` and the REPL's first prompt against ``llm --help``.

simonw/llm is installed into a throwaway virtual environment in a temporary directory
(``python -m venv`` + ``pip install llm``) unless ``--llm PATH`` names an ``llm``
executable. The commands run alternately, so machine noise hits all of them alike; the
table shows medians of ``--runs`` runs. The first prompt is timed in a pseudo-terminal
(pexpect) from spawning ``claudechat chat`` until its prompt appears, on the built-in
emulator with a fresh database. Goal: claudechat at most half of llm's start-up time.

Run: .venv/bin/python bench/startup.py [--runs 15] [--llm PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _claudechat() -> list[str]:
    script = Path(sys.executable).with_name("claudechat")
    return [str(script)] if script.exists() else [sys.executable, "-m", "claudechat"]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDECHAT_"))}
    env.update(
        {
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "CLAUDECHAT_DB": str(home / "bench.db"),
            "TERM": "xterm-256color",
            "PROMPT_TOOLKIT_NO_CPR": "1",  # pexpect does not answer cursor-position requests
        }
    )
    return env


def _timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def _first_prompt(argv: list[str], env: dict[str, str]) -> float:
    import pexpect

    start = time.perf_counter()
    child = pexpect.spawn(argv[0], [*argv[1:], "chat"], env=env, encoding="utf-8",
                          dimensions=(40, 120), timeout=60)  # fmt: skip
    try:
        child.expect("›")
        elapsed = time.perf_counter() - start
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    return elapsed


def _install_llm(folder: Path) -> Path:
    print(f"installing llm into a throwaway environment in {folder} …", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "-q",
           "--disable-pip-version-check", "llm"]  # fmt: skip
    done = subprocess.run(pip, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit("could not install llm into the throwaway environment")
    return folder / "bin" / "llm"


def _version(argv: list[str]) -> str:
    done = subprocess.run([*argv, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--llm", type=Path, default=None, help="an installed llm executable")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="claudechat-startup-") as tmp:
        home = Path(tmp)
        env = _env(home)
        llm = args.llm or _install_llm(home / "llm-venv")
        cc = _claudechat()
        cases: dict[str, Callable[[], float]] = {
            "python -c pass": lambda: _timed([sys.executable, "-c", "pass"], env),
            "llm --help": lambda: _timed([str(llm), "--help"], env),
            "claudechat --help": lambda: _timed([*cc, "--help"], env),
            "claudechat chat: first prompt": lambda: _first_prompt(cc, env),
        }
        for case in cases.values():  # warm the file cache once
            case()
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, case in cases.items():
                samples[name].append(case())
        versions = f"{_version([str(llm)])}; {_version(cc)}"

    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["llm --help"]
    print(f"start-up, median of {args.runs} runs ({versions}; Python {sys.version.split()[0]})")
    print(f"{'command':<32}{'median ms':>10}{'min ms':>9}{'max ms':>9}{'vs llm --help':>15}")
    for name, values in samples.items():
        print(f"{name:<32}{medians[name] * 1000:>10.0f}{min(values) * 1000:>9.0f}"
              f"{max(values) * 1000:>9.0f}{medians[name] / base:>14.2f}x")  # fmt: skip
    for name in ("claudechat --help", "claudechat chat: first prompt"):
        verdict = "met" if medians[name] <= base / 2 else "missed"
        print(f"goal (<= 0.5x llm --help) for {name}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
