#!/usr/bin/env python
"""Service benchmark: simulated users, each holding a streamed conversation over HTTP.

Each simulated user has an API key of their own and holds a ``--turns``-turn conversation
(default 20) through ``claudechat serve``: every turn is a streamed POST of a question,
read as server-sent events to ``done``; the user reads the reply for ``--think`` seconds
(0.5 to 1.5 times it, default 2 s) before the next question. Upstream is the emulator server
in a process of its own with a delay before each streamed word (``--token-delay``, default
15 ms, about a real model's pace), answering each question with a fixed function of it.
Levels: 10, 100 and 500 concurrent users; SQLite with ``--sqlite-workers`` workers (default
1) and a temporary PostgreSQL server (claudechat.store.pgtemp, with fsync and
synchronous_commit on: every commit on disk, as SQLite's synchronous=FULL) with
``--pg-workers`` workers (default 2).

Table, per store / workers / users:
- added time to first token: p50 and p99 of the service's time to the first ``delta``,
  minus the same percentile of a direct SDK call to the same emulator under the same load
  (the same users and questions, no service in between);
- turns per second over the whole load; server CPU per turn (user + system time of the
  server's processes, from /proc); memory per open stream (the server's resident memory at
  the moment most streams were open, minus before the load, divided by those streams);
- lost and interleaved messages, checked in the store afterwards: each conversation's active
  branch must hold every question followed by its own reply, whole (both must be 0);
- errors: turns that did not end with ``done``.

``--stores floor,floor-commit`` runs the same users through bench/serve_floor.py instead:
a pass-through service of some 100 lines on the same uvicorn and SDK client (the second
also commits each message to SQLite, waiting for the disk, before the call): the added time
that one more Python process and HTTP hop cost on this machine, whatever the service does.

Run: .venv/bin/python bench/serve.py [--quick] [--users 10,100,500] [--turns 20]
     [--stores sqlite,postgres,floor,floor-commit] [--sqlite-workers 1] [--pg-workers 2]
     [--token-delay 0.015] [--think 2]
Exits non-zero only when it cannot run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx2

import claudechat
from claudechat.store import open_store
from claudechat.testing import Emulator, EmuRequest, serve
from claudechat.testing._service import ServiceProcess

MODEL = "claude-sonnet-4-6"
REPLY_WORDS = 40
WORDS = ["lease", "turn", "stream", "reply", "store", "worker", "every", "word", "kept", "whole"]
TIMEOUT = httpx2.Timeout(600.0)
SRC = Path(claudechat.__file__).resolve().parents[1]  # the tree this script runs, for the server


def question(user: int, turn: int) -> str:
    """The ``turn``-th question of simulated user ``user``."""
    return f"user {user} turn {turn}: how is the {WORDS[(user + turn) % len(WORDS)]} kept?"


def expected_reply(text: str) -> str:
    """What the emulator answers to ``text``: REPLY_WORDS words, then the question itself."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    return " ".join(rng.choices(WORDS, k=REPLY_WORDS)) + f" (answer to {text})"


def think_time(user: int, turn: int, think: float) -> float:
    """How long the user reads before the next question: 0.5 to 1.5 times ``think`` seconds,
    the same for a user's turn in every run."""
    return think * random.Random(user * 1_000 + turn).uniform(0.5, 1.5)


def _answer(request: EmuRequest) -> str:
    return expected_reply(request.last_user_text)


def _emulator_main(out: Any, token_delay: float) -> None:
    """The emulator server, in a process of its own so that it does not share a CPU lock
    with the load generator; it serves until terminated."""
    server = serve(Emulator(reply=_answer, keep_requests=50, keep_bytes=4_000_000),
                   token_delay=token_delay, read_timeout=3600)  # fmt: skip
    # (a long read timeout: an idle keep-alive connection closed by the server while a
    # client takes it from its pool would fail a turn that has nothing to do with the load)
    out.put(server.url)
    while True:
        time.sleep(3600)


@contextmanager
def emulator_process(token_delay: float) -> Iterator[str]:
    """Start the emulator server process; yield its URL."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    process = ctx.Process(target=_emulator_main, args=(out, token_delay), daemon=True)
    process.start()
    try:
        yield str(out.get(timeout=60))
    finally:
        process.terminate()
        process.join(10)


@dataclass(frozen=True)
class Plan:
    """What each simulated user does: ``turns`` turns, reading ``think`` seconds (on average)
    between a reply and the next question; the ``users`` arrive spread evenly over ``ramp``
    seconds (0: all at the same instant)."""

    turns: int
    think: float
    users: int = 1
    ramp: float = 0.0

    def start(self, user: int) -> float:
        """How long after the load begins user ``user`` sends its first request."""
        return self.ramp * (user % self.users) / self.users


# ----- the load ---------------------------------------------------------------------------


@dataclass
class Load:
    """What one load run measured, client side."""

    ttft: list[float] = field(default_factory=list)
    turns: int = 0
    errors: list[str] = field(default_factory=list)
    open_streams: int = 0
    seconds: float = 0.0
    users: int = 0
    conversations: dict[int, str] = field(default_factory=dict)  # user → conversation id
    answered: set[str] = field(default_factory=set)  # questions whose stream ended with done
    client_cpu: float = 0.0  # CPU seconds of the load generator's processes
    latency: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # server side


class Connection:
    """One simulated user's keep-alive HTTP/1.1 connection to the service, as a browser tab
    holds one: a lean client over asyncio streams, so that the load generator's own CPU time
    (httpx costs tens of ms a streamed turn) does not crowd out the server's on two cores."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = httpx2.URL(url)
        self.host, self.port = parts.host, parts.port or 80
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, body: dict[str, Any]) -> tuple[int, AsyncIterator[bytes]]:
        """POST ``body`` as JSON to ``path``: the status and the response body's pieces."""
        if self.reader is None or self.reader.at_eof():  # first use, or closed while idle
            await self.close()
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.writer is not None
        data = json.dumps(body).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\nhost: {self.host}\r\n{self.headers}"
                          f"content-type: application/json\r\ncontent-length: {len(data)}"
                          "\r\n\r\n".encode() + data)  # fmt: skip
        status, headers = await self._head()
        return status, self._body(headers)

    async def _head(self) -> tuple[int, dict[str, str]]:
        assert self.reader is not None
        line = await self.reader.readline()
        if not line:
            raise ConnectionError("the service closed the connection")
        headers: dict[str, str] = {}
        while (field := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = field.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(line.split()[1]), headers

    async def _body(self, headers: dict[str, str]) -> AsyncIterator[bytes]:
        """The body: chunked (a stream of events) or of a known length, read to its end so
        the connection can carry the next request."""
        assert self.reader is not None
        if headers.get("transfer-encoding") != "chunked":
            yield await self.reader.readexactly(int(headers.get("content-length", "0")))
            return
        while size := int((await self.reader.readline()).split(b";")[0], 16):
            yield await self.reader.readexactly(size)
            await self.reader.readexactly(2)
        await self.reader.readline()  # the blank line after the last chunk

    async def json(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """POST ``body``; the status and the decoded JSON answer."""
        status, pieces = await self.request(path, body)
        raw = b"".join([piece async for piece in pieces])
        return status, json.loads(raw) if raw else None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def sse_events(
    pieces: AsyncIterator[bytes],
) -> AsyncIterator[tuple[int, str, dict[str, Any]]]:
    """(id, event, data) of each server-sent event, as they arrive."""
    buffer = b""
    async for piece in pieces:
        buffer += piece
        *whole, buffer = buffer.split(b"\n\n")
        for block in whole:
            fields = dict(line.decode().partition(": ")[::2] for line in block.split(b"\n"))
            if "data" in fields:
                yield (int(fields.get("id", "0")), fields.get("event", "message"),
                       json.loads(fields["data"]))  # fmt: skip


async def service_turn(conn: Connection, cid: str, text: str, load: Load) -> None:
    """One streamed turn through the service: time to the first delta, then read to done."""
    started, first, event = time.perf_counter(), None, ""
    pieces: list[str] = []
    seqs: list[int] = []
    body = {"content": text, "stream": True}
    load.open_streams += 1
    try:
        status, chunks = await conn.request(f"/v1/conversations/{cid}/messages", body)
        if status != 200:
            answer = b"".join([c async for c in chunks])
            load.errors.append(f"HTTP {status}: {answer[:200]!r}")
            return
        async for seq, event, data in sse_events(chunks):
            seqs.append(seq)
            if event == "delta":
                first = first or time.perf_counter()
                pieces.append(data["text"])
    except (OSError, ValueError, asyncio.IncompleteReadError) as err:
        event = f"{type(err).__name__}: {err}"  # counted; the user goes on with the next turn
        await conn.close()
    finally:
        load.open_streams -= 1
    if event != "done" or first is None or seqs != list(range(1, len(seqs) + 1)):
        load.errors.append(f"turn ended with {event!r} after {len(seqs)} events")
    elif "".join(pieces) != expected_reply(text):
        load.errors.append("streamed text differs from the reply")
    else:
        load.turns += 1
        load.answered.add(text)
        load.ttft.append(first - started)


async def service_user(url: str, user: int, key: str | None, plan: Plan, load: Load) -> None:
    """A simulated user: arrives at its place in the ramp, creates a conversation, then
    holds ``turns`` streamed turns on one connection."""
    await asyncio.sleep(plan.start(user))
    conn = Connection(url, {"authorization": f"Bearer {key}"} if key else {})
    try:
        status, answer = await conn.json("/v1/conversations",
                                         {"title": f"bench {user}", "model": MODEL})  # fmt: skip
        if status != 201:
            load.errors.append(f"create: HTTP {status} {str(answer)[:200]}")
            return
        cid = answer["id"]
        load.conversations[user] = cid
        for turn in range(plan.turns):
            if turn:
                await asyncio.sleep(think_time(user, turn, plan.think))
            await service_turn(conn, cid, question(user, turn), load)
    except (OSError, ValueError, asyncio.IncompleteReadError) as err:
        load.errors.append(f"create: {type(err).__name__}: {err}")
    finally:
        await conn.close()


async def direct_user(client: anthropic.AsyncAnthropic, user: int, plan: Plan, load: Load) -> None:
    """The same user calling the emulator through the SDK directly: the baseline."""
    history: list[dict[str, Any]] = []
    await asyncio.sleep(plan.start(user))
    for turn in range(plan.turns):
        if turn:
            await asyncio.sleep(think_time(user, turn, plan.think))
        text = question(user, turn)
        history.append({"role": "user", "content": text})
        started, first = time.perf_counter(), None
        pieces: list[str] = []
        load.open_streams += 1
        try:
            stream = await client.messages.create(model=MODEL, max_tokens=1024,
                                                  messages=history, stream=True)  # fmt: skip
            async for event in stream:  # the SDK's events (its lighter path: no snapshot)
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    first = first or time.perf_counter()
                    pieces.append(event.delta.text)
        except anthropic.APIError as err:
            load.errors.append(f"direct: {type(err).__name__}: {err}")
            history.pop()
            continue
        finally:
            load.open_streams -= 1
        history.append({"role": "assistant", "content": "".join(pieces)})
        if first is None or "".join(pieces) != expected_reply(text):
            load.errors.append("direct reply differs")
            continue
        load.turns += 1
        load.ttft.append(first - started)


async def _direct_users(url: str, users: list[int], plan: Plan) -> Load:
    """Some of the baseline's users, in this process, straight to the emulator."""
    load = Load(users=len(users))
    limits = httpx2.Limits(max_connections=len(users) + 10,
                           max_keepalive_connections=len(users) + 10)  # fmt: skip
    http = httpx2.AsyncClient(limits=limits, timeout=TIMEOUT)
    async with anthropic.AsyncAnthropic(api_key="bench", base_url=url, max_retries=0,
                                        http_client=http) as client:  # fmt: skip
        await direct_user(client, 1_000_000 + users[0], Plan(1, 0.0), Load())  # warm: imports,
        started = time.perf_counter()  # the first connection, the SDK's lazy set-up
        await asyncio.gather(*(direct_user(client, u, plan, load) for u in users))
        load.seconds = time.perf_counter() - started
    return load


def _direct_main(url: str, users: list[int], plan: Plan, out: Any) -> None:
    own = time.process_time()
    load = asyncio.run(_direct_users(url, users, plan))
    out.put((load.ttft, load.turns, load.errors, load.seconds, time.process_time() - own))


def run_direct(url: str, users: int, plan: Plan, clients: int) -> Load:
    """The baseline load: the same users, straight to the emulator through the SDK, spread
    over ``clients`` processes so that the SDK's own CPU time (its stream helper parses
    every event) does not queue one user's first token behind the others'."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    groups = [list(range(i, users, clients)) for i in range(min(clients, users))]
    processes = [ctx.Process(target=_direct_main, args=(url, g, plan, out)) for g in groups]
    for process in processes:
        process.start()
    load = Load(users=users)
    for _ in processes:
        ttft, turns, errors, seconds, own = out.get(timeout=3600)
        load.client_cpu += own
        load.ttft += ttft
        load.turns += turns
        load.errors += errors
        load.seconds = max(load.seconds, seconds)
    for process in processes:
        process.join(60)
    return load


@dataclass
class Memory:
    """The server's resident memory before the load, and at the moment most streams were open."""

    idle: int = 0
    peak_streams: int = 0
    at_peak: int = 0


async def sample_memory(server: ServiceProcess, pids: list[int], load: Load, memory: Memory,
                        stop: asyncio.Event) -> None:  # fmt: skip
    """Every 0.2 s, the server's RSS beside the number of streams open at that moment."""
    while not stop.is_set():
        streams = load.open_streams
        if streams >= memory.peak_streams:
            rss = server.rss_bytes(pids)
            if streams == load.open_streams:  # still that many while we read
                memory.peak_streams, memory.at_peak = streams, rss
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


async def run_service(
    server: ServiceProcess, keys: list[str | None], plan: Plan
) -> tuple[Load, Memory, float, float]:
    """The users through the service: the load, the memory, the server's CPU seconds and
    the load generator's own (to show it was not what the users waited for)."""
    load, memory, stop = Load(), Memory(), asyncio.Event()
    await warm_up(server.url, keys[0], server.workers)
    before = server_latency(server.url)
    pids = server.pids()
    memory.idle = server.rss_bytes(pids)
    cpu, own = server.cpu_seconds(pids), time.process_time()
    sampler = asyncio.create_task(sample_memory(server, pids, load, memory, stop))
    started = time.perf_counter()
    await asyncio.gather(*(service_user(server.url, u, k, plan, load)
                           for u, k in enumerate(keys)))  # fmt: skip
    load.seconds = time.perf_counter() - started
    cpu, own = server.cpu_seconds(pids) - cpu, time.process_time() - own
    stop.set()
    await sampler
    load.latency = latency_during(before, server_latency(server.url))
    return load, memory, cpu, own


LATENCY = ("claudechat_turn_open_seconds", "claudechat_first_token_seconds")


def server_latency(url: str) -> dict[str, dict[str, float]]:
    """The service's latency histograms from its /metrics: per metric, ``count``, ``sum``
    and the cumulative count of each bucket by its upper bound ("0.005"...); empty for a
    server without them (the floor)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(url + "/metrics", timeout=10) as answer:
            text = answer.read().decode()
    except OSError:
        return {}
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name in LATENCY:
            figures = found.setdefault(family.name, {})
            for sample in family.samples:
                key = sample.labels.get("le") or sample.name.rsplit("_", 1)[1]
                figures[key] = sample.value
    return found


def latency_during(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> dict[str, tuple[float, float, float]]:
    """Per latency metric, over the load alone: the mean in ms and the shares of turns within
    5 and 10 ms (from the histogram's buckets)."""
    found: dict[str, tuple[float, float, float]] = {}
    for name, figures in after.items():
        was = before.get(name, {})
        count = figures.get("count", 0.0) - was.get("count", 0.0)
        if count <= 0:
            continue
        total = figures.get("sum", 0.0) - was.get("sum", 0.0)
        within = [(figures.get(le, 0.0) - was.get(le, 0.0)) / count for le in ("0.005", "0.01")]
        found[name] = (1000 * total / count, within[0], within[1])
    return found


async def warm_up(url: str, key: str | None, workers: int) -> None:
    """A few turns before measuring, so that every worker has loaded what a turn needs."""
    load = Load()
    await asyncio.gather(*(service_user(url, 1_000_000 + w, key, Plan(2, 0.0), load)
                           for w in range(2 * workers)))  # fmt: skip
    if load.errors:
        raise RuntimeError(f"warm-up failed: {load.errors[0]}")


# ----- the store: users before, the conversations after -----------------------------------


def provision(spec: str, users: int, *, prefix: str) -> list[str | None]:
    """A user with an API key of their own per simulated user (the keys in clear, for them)."""
    from claudechat.credentials import new_api_key

    store: Any = open_store(spec)
    keys: list[str | None] = []
    try:
        for n in range(users):
            user = store.add_user(f"{prefix}{n}")
            key = new_api_key()
            store.add_api_key(user.id, key_hash=key.hash, prefix=key.prefix)
            keys.append(key.plaintext)
    finally:
        store.close()
    return keys


@dataclass
class Check:
    """What the store holds after the load."""

    lost: int = 0  # questions asked (turns the client saw end) missing whole from the branch
    interleaved: int = 0  # branch messages out of place: wrong role order or another's reply


def check_store(spec: str, conversations: dict[int, str], answered: set[str]) -> Check:
    """Every conversation's active branch against what the clients saw: each question ended
    with ``done`` (``answered``) must be there followed by its own whole reply (else lost);
    roles must alternate, questions keep their order, each reply follow its own question
    (else interleaved). A turn refused or cut off before it was stored is the client's error,
    not a loss."""
    found = Check()
    store: Any = open_store(spec)
    try:
        for user, cid in conversations.items():
            whole, interleaved = _check_branch(user, store.branch(cid))
            found.interleaved += interleaved
            asked = {q for q in answered if q.startswith(f"user {user} turn ")}
            found.lost += len(asked - whole)
    finally:
        store.close()
    return found


def _check_branch(user: int, branch: list[Any]) -> tuple[set[str], int]:
    """The questions of ``user`` stored with their whole reply, and the messages out of
    place: a question out of order, a reply not to the question just before it. A question
    left without a reply (its turn failed upstream) is neither."""
    order = {question(user, t): t for t in range(10_000)}
    whole: set[str] = set()
    misplaced, last, asked, previous = 0, -1, "", ""
    for message in branch:
        if message.role == "user":
            turn = order.get(message.text, -1)
            misplaced += turn <= last
            last, asked = max(last, turn), message.text
        elif previous != "user" or not expected_reply(asked).startswith(message.text):
            misplaced += 1  # a second reply, or another question's
        elif message.text == expected_reply(asked) and message.status == "complete":
            whole.add(asked)
        previous = message.role
    return whole, misplaced


@contextmanager
def sqlite_spec() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="claudechat-bench-serve-") as tmp:
        yield str(Path(tmp) / "chat.db")


@contextmanager
def postgres_spec() -> Iterator[str]:
    from claudechat.store.pgtemp import TemporaryPostgres

    server = TemporaryPostgres(fsync=True)  # as durable as SQLite's synchronous=FULL
    conninfo = server.start()
    try:
        yield conninfo
    finally:
        server.stop()


FLOOR = "floor:"  # the spec of a floor row: "floor:" then its SQLite file, if any


class FloorProcess(ServiceProcess):
    """bench/serve_floor.py under uvicorn (uvloop, httptools, one worker), as ServiceProcess
    runs ``claudechat serve``; ``db``: its SQLite file ("" for none)."""

    def __init__(self, db: str, upstream: str) -> None:
        self._bind()
        command = [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent),
                   "--factory", "serve_floor:create", "--host", "127.0.0.1",
                   "--port", str(self.port), "--loop", "uvloop", "--http", "httptools",
                   "--no-access-log"]  # fmt: skip
        self._launch(command, {**os.environ, "FLOOR_UPSTREAM": upstream, "FLOOR_DB": db}, 1)


# ----- one level, the table ---------------------------------------------------------------


@dataclass
class Row:
    store: str
    workers: int
    users: int
    turns: int = 0
    turns_per_s: float = 0.0
    ttft_direct: tuple[float, float] = (0.0, 0.0)  # p50, p99 seconds
    ttft_service: tuple[float, float] = (0.0, 0.0)
    cpu_ms_per_turn: float = 0.0
    client_cpu_ms_per_turn: float = 0.0  # the load generator's, service phase
    kb_per_stream: float | None = None
    peak_streams: int = 0
    check: Check = field(default_factory=Check)
    errors: list[str] = field(default_factory=list)
    latency: dict[str, tuple[float, float, float]] = field(default_factory=dict)


def pcts(values: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``values`` (0, 0 when empty)."""
    if len(values) < 2:
        return (values[0], values[0]) if values else (0.0, 0.0)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


def run_level(spec: str, label: str, workers: int, emulator: str, direct: Load, plan: Plan,
              level: int) -> Row:  # fmt: skip
    """One level: the users of the ``direct`` baseline, through ``claudechat serve``."""
    users = direct.users
    row = Row(label, workers, users)
    floor = spec.startswith(FLOOR)
    keys: list[str | None] = (
        [None] * users if floor else provision(spec, users, prefix=f"bench{level}_")
    )
    # No thinking, as in the direct baseline: the added time is the service's own.
    process = FloorProcess(spec[len(FLOOR):], emulator) if floor else ServiceProcess(
        store=spec, upstream=emulator, workers=workers, src=SRC,
        env={"CLAUDECHAT_THINKING": "off"})  # fmt: skip
    with process as server:
        load, memory, cpu, own = asyncio.run(run_service(server, keys, plan))
        if load.errors:  # what the server said besides its request log: warnings, tracebacks
            said = [line for line in server.printed().splitlines() if not line.startswith("{")]
            print("\n".join(f"server: {line}" for line in said[-40:]))
    row.turns = load.turns
    row.turns_per_s = load.turns / load.seconds if load.seconds else 0.0
    row.ttft_direct, row.ttft_service = pcts(direct.ttft), pcts(load.ttft)
    row.cpu_ms_per_turn = 1000 * cpu / load.turns if load.turns else 0.0
    row.client_cpu_ms_per_turn = 1000 * own / load.turns if load.turns else 0.0
    row.peak_streams = memory.peak_streams
    if memory.peak_streams:
        row.kb_per_stream = (memory.at_peak - memory.idle) / memory.peak_streams / 1024
    if not floor:  # the floor keeps no store to check
        row.check = check_store(spec, load.conversations, load.answered)
    row.errors = direct.errors + load.errors
    row.latency = load.latency
    return row


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    print(f"\nmachine: {platform.machine()}, {mp.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; {args.turns} turns per user, {REPLY_WORDS + 5} words "
          f"per reply, {args.token_delay * 1000:.0f} ms per streamed word upstream, "
          f"{args.think:g} s reading between turns (mean), users arriving over {args.ramp:g} s, "
          f"the direct baseline's users in {args.clients} processes")  # fmt: skip
    head = ("store", "workers", "users", "turns", "turns/s", "TTFT direct p50/p99 ms",
            "TTFT serve p50/p99 ms", "added p50 ms", "added p99 ms", "CPU ms/turn",
            "client CPU ms/turn", "KB/open stream", "lost", "interleaved", "errors")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        kb = "n/a" if r.kb_per_stream is None else f"{r.kb_per_stream:.0f} ({r.peak_streams} open)"
        cells = (r.store, r.workers, r.users, r.turns, f"{r.turns_per_s:.1f}",
                 f"{r.ttft_direct[0] * 1000:.1f} / {r.ttft_direct[1] * 1000:.1f}",
                 f"{r.ttft_service[0] * 1000:.1f} / {r.ttft_service[1] * 1000:.1f}",
                 f"{(r.ttft_service[0] - r.ttft_direct[0]) * 1000:.1f}",
                 f"{(r.ttft_service[1] - r.ttft_direct[1]) * 1000:.1f}",
                 f"{r.cpu_ms_per_turn:.1f}", f"{r.client_cpu_ms_per_turn:.1f}", kb, r.check.lost, r.check.interleaved,
                 len(r.errors))  # fmt: skip
        print("| " + " | ".join(str(c) for c in cells) + " |")
    for r in rows:
        said = [f"{what} mean {mean:.1f} ms, {within5:.0%} within 5 ms, {within10:.0%} within 10 ms"
                for what, name in (("turn opened", LATENCY[0]), ("first text", LATENCY[1]))
                if name in r.latency for mean, within5, within10 in [r.latency[name]]]  # fmt: skip
        if said:
            print(f"{r.store}/{r.workers}/{r.users} server side (its /metrics): " + "; ".join(said))
    for r in rows:
        for error in r.errors[:3]:
            print(f"{r.store}/{r.workers}/{r.users} error: {error}")


@contextmanager
def floor_spec() -> Iterator[str]:
    yield FLOOR


@contextmanager
def floor_commit_spec() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="claudechat-bench-floor-") as tmp:
        yield FLOOR + str(Path(tmp) / "floor.db")


SPECS = {"sqlite": sqlite_spec, "postgres": postgres_spec, "floor": floor_spec,
         "floor-commit": floor_commit_spec}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="smoke run: 5 users, 3 turns")
    ap.add_argument("--users", default="10,100,500", help="comma-separated levels")
    ap.add_argument("--turns", type=int, default=20)
    ap.add_argument("--stores", default="sqlite,postgres", help="comma-separated")
    ap.add_argument("--pg-workers", default="2", help="comma-separated, e.g. 2,4")
    ap.add_argument("--sqlite-workers", default="1", help="comma-separated, e.g. 1,2")
    ap.add_argument("--token-delay", type=float, default=0.015, help="seconds per streamed word")
    ap.add_argument("--think", type=float, default=2.0,
                    help="seconds a user reads a reply before the next question (mean)")  # fmt: skip
    ap.add_argument("--ramp", type=float, default=None,
                    help="seconds over which the users arrive, evenly (default: --think; "
                         "0 sends every user's first question at the same instant)")  # fmt: skip
    ap.add_argument("--clients", type=int, default=2,
                    help="processes the direct baseline's users are spread over")  # fmt: skip
    args = ap.parse_args(argv)
    if args.quick:
        args.users, args.turns, args.think = "5", 3, 0.2
    args.ramp = args.think if args.ramp is None else args.ramp
    levels = [int(u) for u in args.users.split(",")]
    plans = {users: Plan(args.turns, args.think, users, args.ramp) for users in levels}
    rows: list[Row] = []
    with emulator_process(args.token_delay) as emulator:
        direct = {u: run_direct(emulator, u, plans[u], args.clients) for u in levels}
        for name in [s.strip() for s in args.stores.split(",")]:
            counts = {"sqlite": args.sqlite_workers, "postgres": args.pg_workers}.get(name, "1")
            workers = [int(w) for w in counts.split(",")]
            try:
                with SPECS[name]() as spec:
                    for n, (count, users) in enumerate((w, u) for w in workers for u in levels):
                        rows.append(run_level(spec, name, count, emulator, direct[users],
                                              plans[users], n))  # fmt: skip
                        print_table(rows[-1:], args)
            except Exception as err:  # e.g. no PostgreSQL here: say so, run the others
                print(f"{name}: cannot run: {type(err).__name__}: {err}")
    if not rows:
        return 1
    print_table(rows, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
