#!/usr/bin/env python
"""Crash benchmark: ``kill -9`` a chat streaming replies at random moments, then check.

A child process (forked, so it starts at once) runs ``Chat`` with a ``SQLiteStore``
against the emulator: it resumes the latest conversation (or starts a new one), then
streams replies (read slowly, like a terminal), sends, and retries, until the parent
kills it with SIGKILL at a random moment. The emulator's reply function appends every
user text it receives to a journal (an O_APPEND file: it survives the kill), so the
journal lists the user messages that were sent. After each kill the parent opens the
database and checks: it opens; ``PRAGMA integrity_check`` and the FTS index are sound;
every conversation's active branch passes ``validate(to_api_messages(branch))``; every
journaled user message is stored; and ``Chat.resume`` of the latest conversation sends a
new message through the emulator's strict validation. Goal: 0 failures, 0 lost.

Run: .venv/bin/python bench/crash.py [--points 200] [--seed 1] [--max-delay 1.5] [--json]
(Linux/macOS: the children are forked.)

Recorded (2 cores): 200 kill points (18 while opening), 0 databases failing to open,
0 integrity failures, 0 invalid active branches, 0 resume failures, 570 user messages
sent / 0 lost; 42 conversations, 1,601 messages, 172 cut replies kept as partial; 156 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import anthropic

from claudechat.chat import Chat
from claudechat.chat.lease import BLOCKING_LEASE_SECONDS
from claudechat.errors import ClaudeChatError, InvalidHistory
from claudechat.messages import to_api_messages, validate
from claudechat.store import SQLiteStore
from claudechat.testing import Emulator, EmuRequest

MODEL = "claude-sonnet-4-6"
WORDS = [
    "the", "store", "keeps", "every", "turn", "durable", "so", "a", "crash", "loses",
    "nothing", "that", "was", "sent", "and", "a", "cut", "reply", "stays", "as", "partial",
]  # fmt: skip


@dataclass
class Results:
    points: int = 0
    killed_before_ready: int = 0
    child_errors: list[str] = field(default_factory=list)
    open_failures: list[str] = field(default_factory=list)
    integrity_failures: list[str] = field(default_factory=list)
    invalid_branches: list[str] = field(default_factory=list)
    resume_failures: list[str] = field(default_factory=list)
    sent: int = 0
    lost: list[str] = field(default_factory=list)
    conversations: int = 0
    messages: int = 0
    partial_replies: int = 0
    seconds: float = 0.0

    @property
    def failures(self) -> int:
        return sum(len(x) for x in (self.child_errors, self.open_failures,
                                    self.integrity_failures, self.invalid_branches,
                                    self.resume_failures, self.lost))  # fmt: skip


def _client(journal: Path | None) -> anthropic.Anthropic:
    """An SDK client answered by an emulator that journals each user text it receives."""
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if journal else None
    rng = random.Random(len(str(journal)))

    def reply(req: EmuRequest) -> str:
        said = req.last_user_text
        if fd is not None and said.startswith("question "):
            os.write(fd, (said.split(":")[0] + "\n").encode())
        return f"About {said[:30]!r}: " + " ".join(rng.choices(WORDS, k=rng.randint(30, 160)))

    emu = Emulator(reply=reply)
    return anthropic.Anthropic(api_key="emulated", http_client=emu.http_client(), max_retries=0)


def _after_leases(step: int) -> Callable[[], float]:
    """A store clock for step ``step`` (a child, then its check): later than every turn
    lease a killed child left (each expires by itself; the run does not wait for it)."""
    offset = step * (BLOCKING_LEASE_SECONDS + 1)
    return lambda: time.time() + offset


def child(db: Path, journal: Path, seed: int, ready_fd: int) -> None:
    """Chat until killed: resume or start, then stream / send / retry turns."""
    rng = random.Random(seed)
    store = SQLiteStore(db, clock=_after_leases(2 * (seed % 100_000)))
    client = _client(journal)
    latest = store.latest_conversation()
    if latest is None or rng.random() < 0.15:
        chat = Chat(MODEL, store=store, client=client)
    else:
        chat = Chat.resume(latest.id, store=store, client=client)
    os.write(ready_fd, b"r")
    for n in range(1, 10_000):
        text = f"question {seed}-{n}: " + " ".join(rng.choices(WORDS, k=8))
        mode = rng.random()
        if mode < 0.7:
            pause = rng.choice([0.0, 0.002, 0.01])
            for _ in chat.stream(text):
                time.sleep(pause)
        elif mode < 0.9 or not chat.turns:
            chat.send(text)
        else:
            for _ in chat.retry_stream():
                time.sleep(0.002)


def run_point(db: Path, journal: Path, seed: int, delay: float, wait_ready: bool) -> str | None:
    """Fork a child, SIGKILL it ``delay`` s after it is ready; an error text if it failed."""
    r, w = os.pipe()
    err_path = db.with_suffix(".err")
    pid = os.fork()
    if pid == 0:  # the child
        os.close(r)
        code = 0
        try:
            child(db, journal, seed, w)
        except BaseException:
            err_path.write_text(traceback.format_exc())
            code = 1
        os._exit(code)
    os.close(w)
    try:
        if wait_ready:
            ready = os.read(r, 1)
            if not ready:  # the child died before it was ready
                os.waitpid(pid, 0)
                return err_path.read_text() if err_path.exists() else "child exited early"
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(r)
    if os.WIFEXITED(status):  # it ended by itself: an exception
        return err_path.read_text() if err_path.exists() else f"exit {os.WEXITSTATUS(status)}"
    return None


def check(db: Path, journal: Path, resume_client: anthropic.Anthropic, res: Results) -> None:
    """Open the database after a kill and check everything the issue promises."""
    label = f"point {res.points}"
    try:
        store = SQLiteStore(db, clock=_after_leases(2 * res.points - 1))
    except ClaudeChatError as err:
        res.open_failures.append(f"{label}: {err}")
        return
    try:
        raw = sqlite3.connect(db)
        try:
            ok = raw.execute("PRAGMA integrity_check").fetchone()[0]
            raw.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
        except sqlite3.Error as err:
            ok = str(err)
        finally:
            raw.close()
        if ok != "ok":
            res.integrity_failures.append(f"{label}: {ok}")
        infos = store.list_conversations(limit=1_000_000)
        stored: set[str] = set()
        res.messages = res.partial_replies = 0
        for info in infos:
            for m in store.all_messages(info.conversation.id):
                res.messages += 1
                res.partial_replies += m.status == "partial"
                if m.role == "user" and m.text.startswith("question "):
                    stored.add(m.text.split(":")[0])
            api = to_api_messages(store.branch(info.conversation.id))
            try:
                if api:
                    validate(api)
            except InvalidHistory as err:
                res.invalid_branches.append(f"{label} {info.conversation.id}: {err}")
        res.conversations = len(infos)
        sent = set(journal.read_text().split("\n")) - {""} if journal.exists() else set()
        res.sent = len(sent)
        res.lost = sorted(sent - stored)
        if infos:
            try:
                chat = Chat.resume(infos[0].conversation.id, store=store, client=resume_client)
                chat.send("check: are you there?")
            except Exception as err:
                res.resume_failures.append(f"{label}: {type(err).__name__}: {err}")
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="kill -9 a streaming chat, then check the DB")
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-delay", type=float, default=1.5, help="seconds after ready, at most")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    if not hasattr(os, "fork"):
        print("cannot run: needs os.fork", file=sys.stderr)
        return 1
    rng = random.Random(args.seed)
    res = Results()
    resume_client = _client(None)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="claudechat-crash-") as tmp:
        db, journal = Path(tmp) / "chat.db", Path(tmp) / "sent.log"
        for point in range(args.points):
            res.points = point + 1
            wait_ready = rng.random() > 0.1  # 1 in 10: killed while opening / migrating
            res.killed_before_ready += not wait_ready
            delay = rng.uniform(0, args.max_delay if wait_ready else 0.3)
            error = run_point(db, journal, args.seed * 100_000 + point, delay, wait_ready)
            if error:
                res.child_errors.append(f"point {point + 1}: {error.strip()[-600:]}")
            check(db, journal, resume_client, res)
    res.seconds = time.perf_counter() - start
    if args.json:
        print(json.dumps({**asdict(res), "failures": res.failures}, indent=2))
        return 0
    print(f"kill -9 points             {res.points} ({res.killed_before_ready} before ready)")
    print(f"databases failing to open  {len(res.open_failures)}")
    print(f"integrity failures         {len(res.integrity_failures)}")
    print(f"invalid active branches    {len(res.invalid_branches)}")
    print(f"resume + send failures     {len(res.resume_failures)}")
    print(f"child errors               {len(res.child_errors)}")
    print(f"user messages sent / lost  {res.sent} / {len(res.lost)}")
    print(f"stored: {res.conversations} conversations, {res.messages} messages, "
          f"{res.partial_replies} partial replies kept; {res.seconds:.0f} s")  # fmt: skip
    for problem in (res.open_failures + res.integrity_failures + res.invalid_branches
                    + res.resume_failures + res.child_errors + res.lost)[:10]:  # fmt: skip
        print("  " + problem.replace("\n", "\n  "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
