"""Faulted turns: API errors, errors mid-stream and dropped connections on every other turn,
with resumes in a new Chat (new engine, same SQLite file) and strategy changes between them.

A fault meant for a turn may meet its count_tokens or summary request instead (the turn
then goes on, on its estimate or without the summary). Counts the requests the emulator refused as invalid (any 400: the injected faults are 429,
500, 529, an error event mid-stream or a dropped connection, never a 400) and the user
messages that were typed but are not in the store afterwards. Both must be 0.

Run: .venv/bin/python bench/faults.py [--turns 1000] [--seed 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from claudechat import Chat, ModelError, strategy_policies, validate
from claudechat.store import SQLiteStore
from claudechat.testing import Emulator, Fault, offline_client

FAULTS = {
    "429": lambda: Fault.status(429, retry_after=0),
    "500": lambda: Fault.status(500),
    "529": lambda: Fault.status(529),
    "error mid-stream": lambda: Fault.midstream_error(after_events=4),
    "error before text": lambda: Fault.midstream_error(after_events=1),
    "dropped": lambda: Fault.drop(after_events=5),
    "dropped before text": lambda: Fault.drop(after_events=1),
}
STRATEGIES = ("window", "summary", "compact")
WORDS = ["amber", "river", "stone", "cloud", "quartz", "maple", "signal", "harbor", "copper"]


def run(turns: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    emu = Emulator()
    client = offline_client(emu)
    client = client.with_options(max_retries=0)  # faults surface instead of being retried
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "faults.db")
        chat: Chat | None = None
        typed: list[str] = []
        outcomes: Counter[str] = Counter()
        invalid = 0
        started = time.perf_counter()
        for turn in range(turns):
            if chat is None or turn % 25 == 0:
                strategy = rng.choice(STRATEGIES)
                context = strategy_policies(strategy)
                if chat is None or chat.id is None:
                    chat = Chat("claude-sonnet-4-6", client=client, store=store, budget=3_000,
                                context=context)  # fmt: skip
                else:
                    chat = Chat.resume(chat.id, store=store, client=client, budget=3_000,
                                       context=context)  # fmt: skip
            fault = rng.choice(list(FAULTS)) if rng.random() < 0.5 else None
            if fault is not None:
                outcomes["faults injected"] += 1
                emu.inject(FAULTS[fault](), at_request=len(emu.requests) + 1)
            text = f"t{turn} " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40)))
            typed.append(text)
            try:
                if rng.random() < 0.5:
                    chat.send(text)
                else:
                    for _ in chat.stream(text):
                        pass
                outcomes["answered"] += 1
            except ModelError as err:
                if err.status == 400:
                    invalid += 1
                outcomes[type(err).__name__] += 1
            emu.clear_faults()
        seconds = time.perf_counter() - started
        assert chat is not None and chat.id is not None
        stored = {m.text for m in store.all_messages(chat.id) if m.is_user_text}
        lost = [t for t in typed if t not in stored]
        for request in emu.requests:
            if request.path == "/v1/messages" and isinstance(request.body, dict):
                try:
                    validate(request.body["messages"])
                except Exception:
                    invalid += 1
        store.close()
    return {
        "turns": turns,
        "faulted": sum(n for k, n in outcomes.items() if k not in ("answered", "faults injected")),
        "outcomes": dict(outcomes),
        "requests": len(emu.requests),
        "invalid_requests": invalid,
        "typed": len(typed),
        "lost": len(lost),
        "seconds": round(seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.turns, args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"turns                      {result['turns']}")
        print(f"turns that met a fault     {result['faulted']}  {result['outcomes']}")
        print(f"requests                   {result['requests']}")
        print(f"invalid requests           {result['invalid_requests']}")
        print(f"user messages typed / lost {result['typed']} / {result['lost']}")
        print(f"time                       {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
