"""A run's event buffer: readers from any point, and keep-alives while it is quiet."""

from __future__ import annotations

import asyncio

from claudechat.messages import Message
from claudechat.server.runs import Run, RunEvent, TurnResult
from claudechat.server.sse import KEEP_ALIVE, frame


def _run() -> Run:
    prompt = Message("user", [{"type": "text", "text": "hi"}])
    return Run("conversation", "user", prompt)


def test_readers_get_the_events_after_theirs_then_the_live_ones() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        run = _run()
        run.emit("start", {})
        run.emit("delta", {"text": "a"})
        late = run.follow(after=1)
        first = await anext(late)
        assert first is not None and first.seq == 2
        pending = asyncio.ensure_future(anext(late))
        await asyncio.sleep(0)
        assert not pending.done()  # nothing new yet: the reader waits
        run.emit("done", {})
        run.finish(TurnResult(run.user_message, None, None, None, "ok"))
        third = await pending
        assert third is not None
        rest = [e.seq async for e in late if e is not None]
        whole = [e.seq async for e in run.follow() if e is not None]
        return [third.seq, *rest], whole

    live, whole = asyncio.run(scenario())
    assert live == [3] and whole == [1, 2, 3]


def test_a_quiet_run_sends_keep_alives_until_its_next_event() -> None:
    async def scenario() -> list[RunEvent | None]:
        run = _run()
        seen: list[RunEvent | None] = []
        async for event in run.follow(idle=0.01):
            seen.append(event)
            if event is None and not run.events:
                run.emit("done", {})
                run.finish(TurnResult(run.user_message, None, None, None, "ok"))
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] is None and seen[-1] is not None and seen[-1].name == "done"


def test_frames_are_server_sent_events() -> None:
    assert frame(RunEvent(7, "delta", {"text": "é"})) == (
        'id: 7\nevent: delta\ndata: {"text": "é"}\n\n'.encode()
    )
    assert KEEP_ALIVE.startswith(b":") and KEEP_ALIVE.endswith(b"\n\n")
