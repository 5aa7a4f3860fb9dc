#!/usr/bin/env python
"""How long a turn of the service works before its request goes upstream, by the length of
the conversation.

The service's own share of a turn's time to first token is what it does between the
request's arrival and the upstream call: the spend check, the chat of the conversation,
the lease and the user message stored (one commit, on disk), the context fitted (token
counts, the window, recall). `/metrics` reports it as ``claudechat_turn_open_seconds``;
this script reads the same figure for each turn of one conversation that already holds
``--lengths`` messages, one user at a time (no load: bench/serve.py measures the load).

Two ways, in the same run and on the same conversations:
- ``built``: the chat is built from the store for each turn (``kept_chats=0``), reading
  and decoding the whole branch;
- ``kept``: the chat is kept in the worker between the conversation's turns (the default).

Replies are about ``--words`` words with adaptive thinking, as the service asks by
default: the emulator answers in process (``offline_client``), through the app's own routes
(httpx's ASGI transport, ``stream=false``), on a SQLite file with ``synchronous=FULL``.
The conversation is filled through the same routes before the timed turns.

Run: .venv/bin/python bench/serve_open.py [--lengths 20,200,1000] [--turns 15] [--words 300]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import tempfile
from pathlib import Path
from typing import Any

import httpx2 as httpx

from claudechat.server import ServerSettings, create_app
from claudechat.store import SQLiteStore
from claudechat.testing import Emulator, EmuRequest, offline_client

WORDS = [
    "the",
    "deploy",
    "pipeline",
    "fails",
    "when",
    "the",
    "cache",
    "is",
    "cold",
    "so",
    "we",
    "warm",
    "it",
    "first",
]


class Recorder:
    """The app's turn metrics, with each turn's opening time kept (seconds)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.opened: list[float] = []

    def turn_opened(self, seconds: float) -> None:
        self.opened.append(seconds)
        self.inner.turn_opened(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def reply_of(words: int) -> Any:
    """Replies of ``words`` words, after a thought of a fifth of that when thinking is on."""

    def reply(request: EmuRequest) -> list[dict[str, Any]]:
        n = len(request.messages)
        text = " ".join(WORDS[(n + i) % len(WORDS)] for i in range(words))
        blocks = [{"type": "text", "text": text}]
        if request.thinking:
            thought = " ".join(WORDS[(n + i) % len(WORDS)] for i in range(words // 5))
            blocks.insert(0, {"type": "thinking", "thinking": thought})  # signed by the emulator
        return blocks

    return reply


async def measure(length: int, kept: bool, turns: int, words: int, tmp: Path) -> list[float]:
    """The opening times (ms) of ``turns`` turns of a conversation of ``length`` messages."""
    store = SQLiteStore(tmp / f"{length}-{kept}.db")
    settings: dict[str, Any] = {"auth_mode": "none", "max_tokens": 2048}
    if "kept_chats" in {f.name for f in dataclasses.fields(ServerSettings)}:
        settings["kept_chats"] = 256 if kept else 0
    elif kept:
        raise SystemExit("this version keeps no chats between turns: run with --ways built")
    emulator = Emulator(reply=reply_of(words), keep_requests=1)
    client = offline_client(emulator, asynchronous=True)
    app = create_app(store=store, settings=ServerSettings(client=client, **settings))
    state = app.state.claudechat
    recorder = Recorder(state.runs.metrics)
    state.runs.metrics = recorder
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            cid = (await http.post("/v1/conversations", json={})).json()["id"]
            for i in range(length // 2 + turns):
                body = {"content": f"question {i}: " + " ".join(WORDS[:12]), "stream": False}
                r = await http.post(f"/v1/conversations/{cid}/messages", json=body)
                r.raise_for_status()
                await asyncio.sleep(0.01)  # the turn's end (its chat given back) runs
    finally:
        store.close()
    return [s * 1000 for s in recorder.opened[length // 2 :]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--lengths", default="20,200,1000", help="messages already in the conversation")
    ap.add_argument("--turns", type=int, default=15, help="timed turns at each length")
    ap.add_argument("--words", type=int, default=300, help="words per reply")
    ap.add_argument("--ways", default="built,kept", help="built, kept or both")
    args = ap.parse_args(argv)
    lengths = [int(n) for n in args.lengths.split(",")]
    ways = args.ways.split(",")
    print(f"{args.turns} timed turns per row, replies of {args.words} words with thinking; "
          "median (min–max) of the turn's opening, ms")  # fmt: skip
    print(
        "| messages before | "
        + " | ".join(ways)
        + (" | built / kept |" if len(ways) == 2 else " |")
    )
    print("|---" * (len(ways) + 1 + (len(ways) == 2)) + "|")
    with tempfile.TemporaryDirectory(prefix="claudechat-bench-open-") as tmp:
        for length in lengths:
            medians = []
            cells = []
            for way in ways:
                times = asyncio.run(
                    measure(length, way == "kept", args.turns, args.words, Path(tmp))
                )
                medians.append(statistics.median(times))
                cells.append(f"{medians[-1]:.1f} ({min(times):.1f}–{max(times):.1f})")
            ratio = f" | {medians[0] / medians[1]:.1f}×" if len(ways) == 2 else ""
            print(f"| {length:,} | " + " | ".join(cells) + ratio + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
