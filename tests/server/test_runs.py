"""A run's event buffer: readers from any point, and keep-alives while it is quiet; a
turn's task started before its route answers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from claudechat.messages import Message
from claudechat.server import ServerSettings, create_app, routes_turns
from claudechat.server.counters import TokenCounters
from claudechat.server.runs import Run, RunEvent, TurnResult
from claudechat.server.sse import KEEP_ALIVE, frame
from claudechat.store.memory import MemoryStore
from claudechat.testing import Emulator, offline_client
from claudechat.tokens import TokenAccountant


def _run() -> Run:
    prompt = Message("user", [{"type": "text", "text": "hi"}])
    return Run("conversation", "user", prompt)


def test_readers_get_the_events_after_theirs_then_the_live_ones() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        run = _run()
        run.emit("start", {})
        run.emit("delta", {"text": "a"})
        late = run.batches(after=1)
        first = await anext(late)
        assert [e.seq for e in first] == [2]
        pending = asyncio.ensure_future(anext(late))
        await asyncio.sleep(0)
        assert not pending.done()  # nothing new yet: the reader waits
        run.emit("done", {})
        run.finish(TurnResult(run.user_message, None, None, None, "ok"))
        live = [e.seq for e in await pending]
        rest = [e.seq async for batch in late for e in batch]
        whole = [e.seq async for batch in run.batches() for e in batch]
        return [*live, *rest], whole

    live, whole = asyncio.run(scenario())
    assert live == [3] and whole == [1, 2, 3]


def test_a_quiet_run_sends_keep_alives_until_its_next_event() -> None:
    async def scenario() -> list[list[RunEvent]]:
        run = _run()
        seen: list[list[RunEvent]] = []
        async for batch in run.batches(idle=0.01):
            seen.append(batch)
            if not batch and not run.events:
                run.emit("done", {})
                run.finish(TurnResult(run.user_message, None, None, None, "ok"))
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] == [] and [e.name for e in seen[-1]] == ["done"]


def test_frames_are_server_sent_events() -> None:
    assert frame(RunEvent.of(7, "delta", {"text": "é"})) == (
        'id: 7\nevent: delta\ndata: {"text": "é"}\n\n'.encode()
    )
    assert KEEP_ALIVE.startswith(b":") and KEEP_ALIVE.endswith(b"\n\n")


def test_text_arriving_while_a_batch_is_written_goes_in_the_next_one() -> None:
    async def scenario() -> list[list[tuple[int, str]]]:
        run = _run()
        run.emit("start", {})
        batches = run.batches(gather=0.05)
        seen = [[(e.seq, e.name) for e in await anext(batches)]]  # nothing to wait for
        run.emit("delta", {"text": "a"})  # the first text: written at once
        seen.append([(e.seq, e.name) for e in await anext(batches)])
        pending = asyncio.ensure_future(anext(batches))
        run.emit("delta", {"text": "b"})  # while the writer gathers: one write for both
        run.emit("delta", {"text": "c"})
        seen.append([(e.seq, e.name) for e in await pending])
        run.emit("done", {})
        run.finish(TurnResult(run.user_message, None, None, None, "ok"))
        seen += [[(e.seq, e.name) for e in batch] async for batch in batches]
        return seen

    assert asyncio.run(scenario()) == [
        [(1, "start")],
        [(2, "delta")],
        [(3, "delta"), (4, "delta")],
        [(5, "done")],
    ]


def test_a_conversations_token_counts_are_kept_for_its_next_turn_only() -> None:
    counters = TokenCounters(keep=2)
    first = counters.take("c1")
    assert counters.take("c1") is not first  # taken: a second turn counts with its own
    counters.give("c1", first)
    assert counters.take("c1") is first
    counters.give("c1", first)
    counters.give("c2", TokenAccountant())
    counters.give("c3", TokenAccountant())  # keeps 2: the oldest is dropped
    assert counters.take("c1") is not first


def test_a_finished_run_s_text_is_not_left_for_the_collector() -> None:
    """A worker keeps every finished run's events for KEEP_SECONDS (reattach), some 50 a
    turn: once the collector has seen them, a text delta's event is no longer among the
    objects each of its passes goes through, nor is any other (their data is JSON text)."""
    import gc

    run = _run()
    run.emit("start", {"turn_id": "t"})
    for word in ("one ", "two ", "three"):
        run.emit("delta", {"text": word})
    run.emit("message", {"message": {"id": "m", "content": [{"type": "text", "text": "x"}]}})
    run.emit("done", {})
    run.finish(TurnResult(run.user_message, None, None, None, "ok"))
    gc.collect()
    assert not any(gc.is_tracked(event) for event in run.events)
    batch = asyncio.run(anext(run.batches()))
    assert [e.seq for e in batch] == [1, 2, 3, 4, 5, 6]
    assert json.loads(batch[4].json) == {
        "message": {"id": "m", "content": [{"type": "text", "text": "x"}]}
    }


def test_a_turn_s_upstream_request_leaves_before_the_route_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The route lets the turn's task run up to its request sent before it builds its
    answer: the reply's first token does not wait for the answer's headers and first event."""
    emulator = Emulator()
    settings = ServerSettings(auth_mode="none", client=offline_client(emulator, asynchronous=True))
    made: list[int] = []  # the upstream requests made when each answer was built
    answer = routes_turns.event_stream

    def event_stream(*args: Any, **kwargs: Any) -> Any:
        made.append(len(emulator.requests))
        return answer(*args, **kwargs)

    monkeypatch.setattr(routes_turns, "event_stream", event_stream)
    with TestClient(create_app(store=MemoryStore(), settings=settings),
                    base_url="http://127.0.0.1") as client:  # fmt: skip
        cid = client.post("/v1/conversations", json={"title": "t"}).json()["id"]
        for question in ("hi", "and?"):  # the client's first request looks up the platform
            sent = client.post(f"/v1/conversations/{cid}/messages", json={"content": question})
            assert sent.status_code == 200 and "event: done" in sent.text, sent.text
    assert made[1] == 2  # the second turn's request had been made
