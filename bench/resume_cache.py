"""Resume benchmark: prompt-cache reads when every turn runs in a new process.

``claudechat ask -c`` resumes the conversation in a new process for every turn. The
window's start after a trim is kept in the conversation's metadata so that the resumed
chat sends the same prefix as the one that trimmed; this compares the share of prompt
tokens read from the cache when all turns run in one chat, when each turn resumes a new
chat (a new ContextEngine, as a new process has) with that start kept, and when the
start is dropped before each resume (what resuming did before it was kept).

Everything runs offline through the real SDK and the emulator's cache simulation, on a
MemoryStore, with a budget small enough that the window trims several times.

Run: .venv/bin/python bench/resume_cache.py [--turns 40] [--budget 12000]

Recorded (emulator, claude-haiku-4-5, 40 turns, budget 12,000, turns 10-39):
  one chat 86.6%, a chat per turn with the start kept 91.7%, with it dropped 67.6%
  (89.7% before the start became a hint that a fresh trim keeping more replaces)
"""

from __future__ import annotations

import argparse
import sys

MODEL = "claude-haiku-4-5"
REPLY = "A reply of moderate length that says a number of things about the question. " * 6


def _question(i: int) -> str:
    return f"Question {i}: " + "please consider the following details carefully. " * 40


def run(mode: str, turns: int, budget: int) -> float:
    """Cache-read share of all input tokens over turns 10 and later."""
    import anthropic

    from claudechat import Chat, ContextEngine
    from claudechat.context.window import META_KEY
    from claudechat.models.anthropic import AnthropicModel
    from claudechat.store.memory import MemoryStore
    from claudechat.testing import Emulator

    emu = Emulator(reply=lambda request: REPLY)
    client = anthropic.Anthropic(api_key="bench", http_client=emu.http_client(), max_retries=0)
    model = AnthropicModel(MODEL, client=client)
    store = MemoryStore()
    chat = Chat(model, store=store, context=ContextEngine(budget=budget))
    read = total = 0
    for i in range(turns):
        if mode != "one chat" and i:
            if mode == "start dropped":
                meta = dict(store.get_conversation(chat.id).metadata)
                meta.pop(META_KEY, None)
                store.update_conversation(chat.id, metadata=meta)
            chat = Chat.resume(
                chat.id, store=store, model=model, context=ContextEngine(budget=budget)
            )
        usage = chat.send(_question(i)).usage
        if i >= 10:
            read += usage.cache_read_tokens
            total += usage.total_input_tokens
    return read / total if total else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--budget", type=int, default=12_000)
    args = parser.parse_args()
    if args.turns <= 10:
        print("cannot run: --turns must be above 10", file=sys.stderr)
        return 2
    print(f"resume benchmark: {MODEL}, {args.turns} turns, budget {args.budget:,}, emulator")
    print(f"{'mode':<34} {'cache reads (turns 10+)':>24}")
    for mode, label in (
        ("one chat", "one chat"),
        ("start kept", "a chat per turn, window start kept"),
        ("start dropped", "a chat per turn, start dropped"),
    ):
        print(f"{label:<34} {run(mode, args.turns, args.budget):>23.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
