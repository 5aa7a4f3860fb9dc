"""Turns as tasks the app owns: a reply keeps running when its client goes away.

A ``Run`` is one turn: an asyncio task that reads the chat's reply stream and appends
numbered events (``start``, ``delta``, ``usage``, ``message``, ``done`` or ``error``) to a
buffer that any number of readers follow, from the start or after a ``Last-Event-ID``. A
client that disconnects only stops reading. ``stop`` cancels the task, and AsyncChat keeps
what arrived as a partial reply; a stop asked on another worker reaches the task through
the store (``request_stop``), which the ``RunRegistry`` polls (once for all its turns)
while turns run. At
shutdown, running turns get the grace period to finish, then are stopped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from ..chat import AsyncChat
from ..chat.offload import in_thread
from ..errors import ModelError
from ..messages import Message, new_id
from ..store.accounts import ServiceStore
from .errors import ApiError, error_body, error_for
from .state import Admission, TurnMetrics
from .turn_index import index_finished_turn
from .views import msg_json, usage_json

__all__ = ["Run", "RunEvent", "RunRegistry", "TurnResult"]

log = logging.getLogger("claudechat.server")

STOP_POLL_SECONDS = 0.25  # how often a running turn looks for a stop asked elsewhere
KEEP_SECONDS = 300.0  # how long a finished run's events stay for a client to reattach


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One server-sent event of a turn: its number (from 1), name and data, as JSON text
    (encoded once, when the event is made, whoever reads it)."""

    seq: int
    name: str
    json: str

    @classmethod
    def of(cls, seq: int, name: str, data: dict[str, Any]) -> RunEvent:
        """The event of ``data`` (a JSON object)."""
        return cls(seq, name, json.dumps(data, ensure_ascii=False))


@dataclass(slots=True)
class TurnResult:
    """What a finished turn produced, for the non-streaming answer."""

    user_message: Message
    message: Message | None
    usage: dict[str, int] | None
    cost_usd: float | None
    outcome: str  # "ok", "partial" or "error"
    error: ApiError | None = None


@dataclass(eq=False)
class Run:
    """One turn of one conversation: its task and its event buffer."""

    conversation_id: str
    user_id: str
    user_message: Message
    turn_id: str = field(default_factory=new_id)
    # (seq, name, JSON text): plain tuples of a number and strings, which the garbage
    # collector stops tracking once it has seen them. A finished run's events stay
    # KEEP_SECONDS for a client to reattach, some 50 a turn: as objects holding their data,
    # they were most of what each pass of the collector went through in a busy worker.
    events: list[tuple[int, str, str]] = field(default_factory=list)
    result: TurnResult | None = None
    finished_at: float | None = None
    task: asyncio.Task[None] | None = None
    entered: bool = False  # the task has started the chat's reply stream
    texted: bool = False  # some text of the reply has arrived
    stop_asked: bool = False
    admission: Admission | None = None  # the spend reserved for the turn, settled at its end
    started: float = 0.0  # its request's arrival (time.perf_counter)
    _signal: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def done(self) -> bool:
        """True once the turn has ended (its last event is ``done`` or ``error``)."""
        return self.finished_at is not None

    def emit(self, name: str, data: dict[str, Any]) -> None:
        """Append an event and wake the readers."""
        self.events.append((len(self.events) + 1, name, json.dumps(data, ensure_ascii=False)))
        self._wake()

    def _wake(self) -> None:
        # set() wakes every reader waiting now; clear() at once makes the next ones wait
        # for the next event (one Event for the run, not a new one for every event)
        self._signal.set()
        self._signal.clear()

    def finish(self, result: TurnResult) -> None:
        """Mark the turn ended with its result."""
        self.result = result
        self.finished_at = time.monotonic()
        self._wake()

    async def batches(
        self, after: int = 0, *, idle: float | None = None, gather: float = 0.0
    ) -> AsyncIterator[list[RunEvent]]:
        """The events numbered after ``after``, then the live ones until the turn ends, in
        batches of what has arrived (one write each); an empty batch after each ``idle``
        seconds without any (a keep-alive for proxies). After a batch ending in text, the
        next waits ``gather`` seconds, so that the text arriving meanwhile goes in one write;
        the first text of a turn goes at once."""
        sent = max(after, 0)
        while True:
            if sent < len(self.events):
                batch = [RunEvent(*event) for event in self.events[sent:]]
                sent = len(self.events)
                yield batch
                if gather and batch[-1].name == "delta" and not self.done:
                    await asyncio.sleep(gather)
                continue
            if self.done:
                return
            try:
                async with asyncio.timeout(idle):
                    await self._signal.wait()
            except TimeoutError:
                yield []

    async def wait(self) -> TurnResult:
        """Wait for the turn to end (a caller that is cancelled leaves the turn running)."""
        while self.result is None:
            await self._signal.wait()
        return self.result

    def stop(self) -> None:
        """Cancel the turn: AsyncChat keeps what arrived as a partial reply."""
        self.stop_asked = True
        if self.entered and self.task is not None and not self.done:
            self.task.cancel()


class RunRegistry:
    """The turns running in this worker (and the recently finished ones), by conversation."""

    def __init__(self, store: ServiceStore, *, grace_seconds: float) -> None:
        self.store = store
        self.grace_seconds = grace_seconds
        self._runs: dict[str, Run] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._watcher: asyncio.Task[None] | None = None  # the stop poll, while turns run
        self._draining: asyncio.Task[None] | None = None  # the shutdown's wait, once begun
        self._deadline: float | None = None  # when the shutdown stops what still runs
        self.metrics: TurnMetrics | None = None

    def running(self, conversation_id: str) -> Run | None:
        """The conversation's turn running in this worker, if any."""
        run = self._runs.get(conversation_id)
        return run if run is not None and not run.done else None

    def latest(self, conversation_id: str) -> Run | None:
        """The conversation's running or recently finished turn in this worker."""
        return self._runs.get(conversation_id)

    def active(self) -> list[Run]:
        """Every turn running in this worker."""
        return [r for r in self._runs.values() if not r.done]

    def start(
        self,
        chat: AsyncChat,
        pieces: AsyncIterator[str],
        *,
        user_id: str,
        user_message: Message,
        admission: Admission | None = None,
        started: float | None = None,
    ) -> Run:
        """Run a turn whose reply stream ``pieces`` the chat has opened (the user message is
        stored and the turn lease held): a task of the app, not of the request. ``started``:
        when its request arrived (``time.perf_counter``), for the latency metrics."""
        assert chat.id is not None
        self._prune()
        run = Run(chat.id, user_id, user_message, admission=admission,
                  started=time.perf_counter() if started is None else started)  # fmt: skip
        if self.metrics is not None:
            self.metrics.stream_opened()
            self.metrics.turn_opened(time.perf_counter() - run.started)
        run.emit("start", {"turn_id": run.turn_id, "user_message_id": user_message.id})
        self._runs[chat.id] = run
        run.task = asyncio.get_running_loop().create_task(self._drive(run, chat, pieces))
        self._tasks.add(run.task)
        run.task.add_done_callback(self._tasks.discard)
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch())
            self._tasks.add(self._watcher)
            self._watcher.add_done_callback(self._tasks.discard)
        return run

    async def _drive(self, run: Run, chat: AsyncChat, pieces: AsyncIterator[str]) -> None:
        """Read the reply stream into events; the turn's end is always recorded, once its
        spend is settled (a client told the turn ended sees it in its usage)."""
        result: TurnResult
        ending: list[tuple[str, dict[str, Any]]] = []  # the last events, told after settling
        run.entered = True
        if run.stop_asked:  # asked before the task ran: stop at its first wait, in the turn
            assert run.task is not None
            run.task.cancel()
        try:
            async for piece in pieces:
                if piece:
                    if self.metrics is not None and not run.texted:
                        self.metrics.first_token(time.perf_counter() - run.started)
                    run.texted = True
                    run.emit("delta", {"text": piece})
            result = _completed(run, chat, ending)
        except asyncio.CancelledError:
            await pieces.aclose()  # type: ignore[attr-defined]
            result = _stopped(run, chat, ending)
        except Exception as err:
            api = error_for(err)
            ending.append(("error", error_body(api.type, api.message)))
            result = TurnResult(run.user_message, None, None, None, "error", api)
            if isinstance(err, ModelError) and self.metrics is not None:
                self.metrics.upstream_error(err.error_type or type(err).__name__)
        with suppress(asyncio.CancelledError):  # a stop once the reply ended: nothing to stop
            await in_thread(self._account, run, chat, result)  # a commit: off the loop
        for name, data in ending:
            run.emit(name, data)
        run.finish(result)
        with suppress(asyncio.CancelledError):  # after the turn: its client is told it ended
            await in_thread(_estimate_ahead, chat, run.user_message.id)

    def _account(self, run: Run, chat: AsyncChat, result: TurnResult) -> None:
        """Index the finished turn for recall, settle the turn's spend with what it billed
        (every request of the turn, summaries and counts included: the chat may live on for
        the conversation's next turns) and report it to the metrics."""
        usage, cost = chat.ledger.turn_usage, chat.ledger.turn_cost_usd
        try:
            if result.outcome == "ok":
                index_finished_turn(chat)  # the next turn's recall reads, writes nothing
        except Exception:
            log.exception("could not index the turn of %s for recall", run.conversation_id)
        try:
            if run.admission is not None:
                run.admission.settle(cost)
            if self.metrics is not None:
                self.metrics.stream_closed()
                outcome = result.outcome
                self.metrics.observe_turn(usage, cost, "ok" if outcome == "ok" else
                                          "partial" if outcome == "partial" else "error")  # fmt: skip
        except Exception:
            log.exception("could not account for the turn of %s", run.conversation_id)

    async def _watch(self) -> None:
        """While turns run here, poll the store for a stop asked on another worker: one read
        for all of them (the first ``STOP_POLL_SECONDS`` after a turn starts, then each as
        often), not a read per turn."""
        while runs := self.active():
            await asyncio.sleep(STOP_POLL_SECONDS)
            runs = [run for run in runs if not run.done]
            if not runs:
                continue
            try:
                asked = await anyio.to_thread.run_sync(
                    self.store.stops_requested, [run.conversation_id for run in runs]
                )
            except Exception as err:
                log.warning("could not read the stop marks of %d turns: %s", len(runs), err)
                continue
            for run in runs:
                if run.conversation_id in asked:
                    run.stop()

    def request_stop(self, conversation_id: str) -> bool:
        """Ask the worker running the conversation's turn to stop it (False: none runs)."""
        return self.store.request_stop(conversation_id)

    def _prune(self) -> None:
        cutoff = time.monotonic() - KEEP_SECONDS
        for cid, run in list(self._runs.items()):
            if run.finished_at is not None and run.finished_at < cutoff:
                del self._runs[cid]

    @property
    def closing(self) -> bool:
        """True once the server is going down: no new turn starts (the routes answer 503)."""
        return self._deadline is not None

    def begin_shutdown(self) -> None:
        """The server is going down (its termination signal): let running turns finish
        within the grace period from now, then stop them, while their clients are still
        connected, so that each stream ends with its ``usage``, ``message`` and ``done``."""
        if self._deadline is None:
            self._deadline = time.monotonic() + self.grace_seconds
        if self._draining is None or self._draining.done():
            self._draining = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """Let running turns finish until the grace period ends, then stop them (partials
        kept) and wait for them to store what they have. A turn that opened while the
        signal came (its request already past the check) is waited for as well."""
        assert self._deadline is not None
        while runs := self.active():
            tasks = [r.task for r in runs if r.task is not None]
            left = self._deadline - time.monotonic()
            if left <= 0 or not tasks:
                break
            await asyncio.wait(tasks, timeout=left)
        stopped = self.active()
        for run in stopped:
            run.stop()
        if tasks := [r.task for r in stopped if r.task is not None]:
            await asyncio.wait(tasks)

    async def shutdown(self) -> None:
        """The app's end: the drain (begun at the termination signal, or now, and again
        for a turn started after it ended), then any task left cancelled."""
        self.begin_shutdown()
        assert self._draining is not None
        await self._draining
        if self.active():
            self.begin_shutdown()
            await self._draining
        self._draining = self._deadline = None  # the app may be started again
        for task in list(self._tasks):
            task.cancel()


def _estimate_ahead(chat: AsyncChat, user_message_id: str) -> None:
    """The offline token estimates of the turn's replies, made now rather than before the
    conversation's next request is sent (TokenAccountant.estimate_ahead): a reply with
    thinking of 300 words costs some 12 ms of CPU."""
    counter = chat.context.counter
    after = False
    for message in chat.history:
        if after:
            counter.estimate_ahead(message)
        after = after or message.id == user_message_id


def _completed(run: Run, chat: AsyncChat, ending: list[tuple[str, dict[str, Any]]]) -> TurnResult:
    """The result of a turn that ended normally; its last events added to ``ending``."""
    reply = chat.last_reply
    assert reply is not None
    usage = usage_json(reply.usage)
    ending.append(("usage", {"usage": usage, "cost_usd": reply.cost_usd}))
    ending.append(("message", {"message": msg_json(reply.message)}))
    ending.append(("done", {}))
    outcome = "partial" if reply.partial else "ok"
    return TurnResult(run.user_message, reply.message, usage, reply.cost_usd, outcome)


def _stopped(run: Run, chat: AsyncChat, ending: list[tuple[str, dict[str, Any]]]) -> TurnResult:
    """The result of a stopped turn, the partial reply as stored if any; its last events
    added to ``ending``. A turn stopped before any text (while the model was thinking) has
    no reply on the branch, but was billed: its usage and cost are told all the same."""
    partial = _reply_after(chat.history, run.user_message.id)
    usage: dict[str, int] | None = None
    cost: float | None = None
    if partial is not None:
        usage, cost = usage_json(partial.usage), msg_json(partial)["cost_usd"]
    elif chat.ledger.turn_usage.requests:
        usage, cost = usage_json(chat.ledger.turn_usage), chat.ledger.turn_cost_usd
    if usage is not None:
        ending.append(("usage", {"usage": usage, "cost_usd": cost}))
    if partial is not None:
        ending.append(("message", {"message": msg_json(partial)}))
    ending.append(("done", {}))
    return TurnResult(run.user_message, partial, usage, cost, "partial")


def _reply_after(branch: list[Message], user_message_id: str) -> Message | None:
    """The newest assistant message after the turn's user message on the branch."""
    ids = [m.id for m in branch]
    if user_message_id not in ids:
        return None
    after = branch[ids.index(user_message_id) + 1 :]
    return next((m for m in reversed(after) if m.role == "assistant"), None)
