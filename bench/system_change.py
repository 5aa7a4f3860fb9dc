"""System-change benchmark: prompt-cache reads kept when the system prompt changes midway.

A 100-turn conversation on Claude Opus 4.8 (which takes mid-conversation system messages)
changes its system prompt at turn 50. Sent as a system message after the turn-49 reply,
the change leaves every earlier request's prefix a prefix of the next, so turn 50 still
reads the history from the cache; sent as a new top-level prompt (what models without
system messages get, forced here on the same model), it changes the start of the prefix
and turn 50 writes the whole history again. Everything runs offline through the real SDK
and the emulator's cache simulation, with the whole history in the window (budget "max").

Run: .venv/bin/python bench/system_change.py [--turns 100] [--change-at 50]

Recorded (emulator, claude-opus-4-8, 100 turns, change at turn 50, 3,700-token prompt):
  system message: 25,347 tokens read at turn 50 (85.9% of its input), 98.7% over turns
  50-99, $1.9965 in all; new top-level prompt: 0 read at turn 50, 97.4%, $2.0276.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

MODEL = "claude-opus-4-8"
REPLY = "A reply of moderate length that says a number of things about the question. " * 6
SYSTEM = "You are a careful assistant for a team of engineers. " + " ".join(
    f"Rule {i}: answer precisely, cite the file and line, and keep to the facts."
    for i in range(150)
)


def _question(i: int) -> str:
    return f"Question {i}: " + "please consider the following details carefully. " * 20


def run(way: str, turns: int, change_at: int) -> dict[str, Any]:
    """Cache reads and input of the change's turn and of the turns after it, and the USD."""
    import anthropic

    from claudechat import Chat
    from claudechat.models.anthropic import AnthropicModel
    from claudechat.testing import Emulator

    emu = Emulator(reply=lambda request: REPLY)
    client = anthropic.Anthropic(api_key="bench", http_client=emu.http_client(), max_retries=0)
    chat = Chat(AnthropicModel(MODEL, client=client), system=SYSTEM, budget="max")
    if way == "top-level prompt":
        chat.info = dataclasses.replace(chat.info, system_messages=False)
    out = {"read_at_change": 0, "input_at_change": 0, "read_after": 0, "input_after": 0}
    for i in range(turns):
        if i == change_at:
            chat.system = "From now on, answer in French. " + SYSTEM
        usage = chat.send(_question(i)).usage
        if i == change_at:
            out["read_at_change"] = usage.cache_read_tokens
            out["input_at_change"] = usage.total_input_tokens
        if i >= change_at:
            out["read_after"] += usage.cache_read_tokens
            out["input_after"] += usage.total_input_tokens
    out["cost_usd"] = chat.cost_usd
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--change-at", type=int, default=50)
    args = parser.parse_args()
    if not 0 < args.change_at < args.turns:
        print("cannot run: --change-at must fall inside the conversation", file=sys.stderr)
        return 2
    print(f"system-change benchmark: {MODEL}, {args.turns} turns, change at turn "
          f"{args.change_at}, emulator")  # fmt: skip
    head = ("way", "read at change", "of input", "read after", "of input", "USD (all turns)")
    print(f"{head[0]:<18} {head[1]:>15} {head[2]:>9} {head[3]:>12} {head[4]:>9} {head[5]:>16}")
    for way in ("system message", "top-level prompt"):
        r = run(way, args.turns, args.change_at)
        print(
            f"{way:<18} {r['read_at_change']:>15,} {r['read_at_change'] / r['input_at_change']:>9.1%}"
            f" {r['read_after']:>12,} {r['read_after'] / r['input_after']:>9.1%}"
            f" {r['cost_usd']:>16.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
