"""Message threads benchmark: what each turn sends, and what the server reads anew.

A 200-turn conversation runs twice through the real SDK and the emulator: once sending
the whole request every turn (full replay), once through a message thread
(``Chat(threads=True)``). In the middle the user pauses for 6 minutes (on the injected
clock), so the thread expires; it must cost one whole request, not an error. A third run
has the server lose the thread without the chat knowing (the server's clock runs ahead):
one refused continue, then the replay.

Per turn it records the bytes of the request bodies sent (every request of the turn, a
refused one included) and the emulator's own count of the blocks it validated and the
input tokens of what it received (``Emulator.threads.work``: a continue is checked from
the held turn it follows and tokenised for its new messages; a whole request entirely).
The context pipeline is the default window with a 20,000-token budget, so the window
trims (and starts a new thread) now and then; hysteresis keeps each window for many turns.

Run: .venv/bin/python bench/threads.py [--turns 200] [--budget 20000]

Recorded (emulator, claude-sonnet-4-6, 200 turns, budget 20,000, 6-minute pause at 100):
  full replay: 63,063 bytes a turn (median 68,382), 119 blocks validated, 13,243 tokens
  threads: 2,081 bytes a turn (median 912), 5 blocks, 394 tokens; 5 whole requests (the
  first, 3 trims, the pause: 67,304 bytes at turn 100, no error); 3.3% of the bytes
  server lost it: the same, plus one refused continue (912 bytes) before the replay
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass, field

MODEL = "claude-sonnet-4-6"
REPLY = "A reply of moderate length that answers the question and adds a detail or two. " * 4


def _question(i: int) -> str:
    return f"Question {i}: " + "please weigh the following details with some care. " * 12


@dataclass
class Run:
    """Per-turn measurements of one run."""

    name: str
    sent_bytes: list[int] = field(default_factory=list)
    validated_blocks: list[int] = field(default_factory=list)
    new_tokens: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    refused: int = 0
    counts_bytes: int = 0  # count_tokens requests (the same with threads or without)


def run(name: str, turns: int, budget: int, pause_at: int) -> Run:
    """One conversation: ``name`` is "full replay", "threads" or "threads, server lost"."""
    import anthropic

    from claudechat import Chat, ContextEngine
    from claudechat.chat.threads import Threads
    from claudechat.models.anthropic import AnthropicModel
    from claudechat.store.memory import MemoryStore
    from claudechat.testing import Emulator

    now = [1_000_000.0]
    emu = Emulator(reply=lambda request: REPLY, clock=lambda: now[0])
    client = anthropic.Anthropic(api_key="bench", http_client=emu.http_client(), max_retries=0)
    threads: bool | Threads = False
    if name != "full replay":
        threads = Threads(clock=lambda: now[0])
    chat = Chat(AnthropicModel(MODEL, client=client), store=MemoryStore(),
                context=ContextEngine(budget=budget), threads=threads)  # fmt: skip
    result = Run(name)
    work = emu.threads.work
    for i in range(turns):
        if i == pause_at:
            if name == "threads, server lost":
                emu.clock = lambda: now[0] + 6 * 60  # only the server's clock moves
            else:
                now[0] += 6 * 60
        seen, blocks, tokens = len(emu.requests), work.validated_blocks, work.new_input_tokens
        chat.send(_question(i))
        requests = [r for r in emu.requests[seen:] if r.path == "/v1/messages"]
        result.counts_bytes += sum(len(r.raw) for r in emu.requests[seen:]) - sum(
            len(r.raw) for r in requests
        )
        result.sent_bytes.append(sum(len(r.raw) for r in requests))
        result.validated_blocks.append(work.validated_blocks - blocks)
        result.new_tokens.append(work.new_input_tokens - tokens)
        kinds = [str((r.body.get("thread") or {}).get("type", "none")) for r in requests]
        result.kinds.append("+".join(kinds))
        result.refused += len(requests) - 1  # one reply a turn: the rest were refused
    return result


def _row(values: list[int]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"mean {statistics.fmean(values):>9,.0f}  median {statistics.median(values):>9,.0f}  "
        f"p95 {p95:>9,}  total {sum(values):>12,}"
    )


def report(runs: list[Run], pause_at: int) -> None:
    for r in runs:
        creates = sum(k.count("create") for k in r.kinds)
        continues = sum(k.count("continue") for k in r.kinds)
        print(f"\n{r.name}: {creates} creates, {continues} continues, {r.refused} refused")
        print(f"  bytes sent per turn      {_row(r.sent_bytes)}")
        print(f"  blocks validated / turn  {_row(r.validated_blocks)}")
        print(f"  tokens read anew / turn  {_row(r.new_tokens)}")
        around = r.kinds[pause_at - 1 : pause_at + 2]
        print(f"  turns {pause_at - 1}-{pause_at + 1} (the pause before {pause_at}): {around}")
        print(f"  bytes at those turns: {r.sent_bytes[pause_at - 1 : pause_at + 2]}")
        print(f"  count_tokens bytes (all turns): {r.counts_bytes:,}")
    base = runs[0]
    for r in runs[1:]:
        share = sum(r.sent_bytes) / sum(base.sent_bytes)
        work = sum(r.validated_blocks) / sum(base.validated_blocks)
        tokens = sum(r.new_tokens) / sum(base.new_tokens)
        print(f"\n{r.name} / full replay: bytes {share:.1%}, blocks validated {work:.1%}, "
              f"tokens read anew {tokens:.1%}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--budget", type=int, default=20_000)
    args = parser.parse_args(argv)
    pause_at = args.turns // 2
    names = ("full replay", "threads", "threads, server lost")
    runs = [run(name, args.turns, args.budget, pause_at) for name in names]
    report(runs, pause_at)
    return 0


if __name__ == "__main__":
    sys.exit(main())
