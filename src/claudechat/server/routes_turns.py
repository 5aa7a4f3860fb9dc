"""Routes that run a turn (send, retry, edit), follow it (stream) or stop it (cancel).

A turn is checked, its lease claimed and its user message stored in the request (so a
refusal is an HTTP error: 400, 404, 409), then it runs as a task of the app (runs.py): the
response streams the task's events, or waits for its end with ``stream=false``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ..attachments import Attachment, AttachmentLimits
from ..chat import AsyncChat
from ..errors import ConcurrentUpdate
from ..estimates import text_bound
from ..messages import Message, new_id
from ..store.base import Store
from .auth import ScopedStoreDep, Who
from .bodies import EditBody, RetryBody, SendBody
from .chats import make_chat
from .errors import ApiError
from .runs import KEEP_SECONDS, STOP_POLL_SECONDS, Run, RunEvent
from .sse import GATHER_SECONDS, IDLE_SECONDS, event_stream
from .state import Admission, ServerState, State
from .uploads import attachment_tokens, decode_attachments, history_tokens
from .views import msg_json

__all__ = ["router"]

router = APIRouter(prefix="/v1/conversations")

Begin = Callable[[AsyncChat], AsyncIterator[str]]


@router.post("/{cid}/messages", response_model=None)
async def send(
    cid: str, request: Request, state: State, store: ScopedStoreDep, who: Who, body: SendBody
) -> StreamingResponse | dict[str, Any]:
    """Send a user message (and its attachments) and get the reply (SSE events, or JSON
    with stream=false); a refused attachment is refused before anything is stored or sent."""
    _check_content_size(body, state.settings.max_body_bytes)
    files = await anyio.to_thread.run_sync(_attachments, body) if body.attachments else []
    return await _turn(state, store, who.user_id, cid, body.stream,
                       lambda chat: chat.stream(body.content, attachments=files or None,
                                                open_now=True),
                       body.content, extra_tokens=attachment_tokens(files),
                       received=_arrival(request))  # fmt: skip


def _check_content_size(body: SendBody, most: int) -> None:
    """413 for content over the service's body size: a new message's body may be larger
    for its attachments only."""
    content = body.content
    size = len(content.encode()) if isinstance(content, str) else len(json.dumps(content))
    if size > most:
        raise ApiError(413, f"the message's content is {size:,} bytes, over {most:,} bytes "
                            "(attachments aside)")  # fmt: skip


def _arrival(request: Request) -> float | None:
    """When the request arrived, as the request log marked it (before the body was read and
    checked); None without the request log (an app assembled without it)."""
    received = request.scope.get("state", {}).get("received")
    return received if isinstance(received, float) else None


def _attachments(body: SendBody) -> list[Attachment]:
    return decode_attachments(body.attachments, limits=AttachmentLimits())


@router.post("/{cid}/retry", response_model=None)
async def retry(
    cid: str,
    request: Request,
    state: State,
    store: ScopedStoreDep,
    who: Who,
    body: RetryBody | None = None,
) -> StreamingResponse | dict[str, Any]:
    """A new reply to the last user message, as a sibling of the current one."""
    stream = body.stream if body is not None else True
    return await _turn(state, store, who.user_id, cid, stream,
                       lambda chat: chat.retry_stream(open_now=True),
                       received=_arrival(request), ready=_retriable)  # fmt: skip


def _retriable(chat: AsyncChat) -> None:
    """A retry of a conversation with nothing to retry is a 400 before the spend check
    (which would answer 402 or 429 for a turn that cannot run)."""
    if not chat.turns:
        raise ApiError(400, "nothing to retry: the conversation is empty")


@router.post("/{cid}/messages/{mid}/edit", response_model=None)
async def edit(
    cid: str,
    mid: str,
    request: Request,
    state: State,
    store: ScopedStoreDep,
    who: Who,
    body: EditBody,
) -> StreamingResponse | dict[str, Any]:
    """Replace a user message by a new one on a new branch, and get a reply to it."""
    if not await anyio.to_thread.run_sync(_holds, store, cid, mid):
        raise ApiError(404, f"no message {mid} in conversation {cid}")
    return await _turn(state, store, who.user_id, cid, body.stream,
                       lambda chat: chat.edit_stream(mid, body.content, open_now=True), body.content,
                       received=_arrival(request))  # fmt: skip


def _holds(store: Store, cid: str, mid: str) -> bool:
    """True when conversation ``cid`` holds message ``mid`` (on any branch)."""
    return mid in {m.id for m in store.all_messages(cid)}


async def _turn(
    state: ServerState,
    store: Store,
    user_id: str,
    cid: str,
    stream: bool,
    begin: Begin,
    content: Any = None,
    *,
    extra_tokens: int = 0,
    received: float | None = None,
    ready: Callable[[AsyncChat], None] | None = None,
) -> StreamingResponse | dict[str, Any]:
    """Open the turn (spend check, checks, lease, user message), run it as the app's task,
    and answer with its events or, with ``stream`` false, its result. ``received``: when
    the request arrived (``time.perf_counter``; None: when the turn starts), for the latency
    metrics; ``ready``: a check of the turn's own before the spend check."""
    if state.runs.closing:
        raise ApiError(503, "the server is shutting down: send the message again in a moment "
                            "(nothing was stored)", headers={"Retry-After": "5"})  # fmt: skip
    if state.runs.running(cid) is not None:
        raise ApiError(409, f"a turn of conversation {cid} is in flight")
    # The store's reads and commits wait in a worker thread, not on the event loop, where
    # they would hold every other stream of this worker.
    chat, admission, pieces = await anyio.to_thread.run_sync(
        _open_turn, state, store, user_id, cid, begin, content, extra_tokens, ready
    )
    prompt = next(m for m in reversed(chat.history) if m.is_user_text)
    run = state.runs.start(chat, pieces, user_id=user_id, user_message=prompt,
                           admission=admission, started=received)  # fmt: skip
    assert run.task is not None
    run.task.add_done_callback(lambda _: _keep(state, user_id, run, chat))
    # The turn's task runs first, up to its upstream request sent; the rest of this route
    # (its answer built, then its headers and first event written) comes after: the
    # reply's first token does not wait for them.
    await asyncio.sleep(0)
    if stream:
        return event_stream(run.batches(idle=IDLE_SECONDS, gather=GATHER_SECONDS))
    result = await run.wait()
    if result.error is not None:
        raise result.error
    return {
        "user_message": msg_json(result.user_message),
        "message": msg_json(result.message) if result.message is not None else None,
        "usage": result.usage,
        "cost_usd": result.cost_usd,
    }


def _open_turn(
    state: ServerState,
    store: Store,
    user_id: str,
    cid: str,
    begin: Begin,
    content: Any,
    extra_tokens: int = 0,
    ready: Callable[[AsyncChat], None] | None = None,
) -> tuple[AsyncChat, Admission | None, AsyncIterator[str]]:
    """The conversation's chat (kept from its last turn in this worker, or built), its
    admission, and its reply stream, opened: checked, the turn's lease held and the user
    message stored; nothing is kept of a refused turn."""
    conversation = store.get_conversation(cid)  # 404 for an id that is not the user's
    chat = state.chats.take(user_id, conversation)
    if chat is not None and getattr(chat.model, "client", None) is not state.client_for(cid):
        chat = None  # kept before the app restarted: its upstream pool is closed
    counter = state.counters.take(cid)  # out of the table while the turn runs, as the chat
    if chat is None:
        chat = make_chat(state, store, cid, counter=counter)
    if ready is not None:
        ready(chat)
    admission = _admit(state, user_id, chat, content, extra_tokens)
    try:
        pieces = begin(chat)
        chat.step_ahead()  # here, in this thread, rather than in a second one before sending
        return chat, admission, pieces
    except BaseException:
        if admission is not None:
            admission.settle(0.0)  # refused before anything was sent
        raise


def _keep(state: ServerState, user_id: str, run: Run, chat: AsyncChat) -> None:
    """At the turn's end: its token counts for the conversation's next turn, and its chat
    when the turn ended with a reply (an error may leave the chat behind the store)."""
    state.counters.give(run.conversation_id, chat.context.counter)
    if run.result is not None and run.result.outcome != "error":
        state.chats.give(user_id, chat)


def _admit(
    state: ServerState, user_id: str, chat: AsyncChat, content: Any, extra_tokens: int = 0
) -> Admission | None:
    """Reserve the most the turn can cost, or refuse it (402 / 429) before anything is
    stored or sent; None when the app checks no limits. ``extra_tokens``: the new
    attachments' estimate (the history's are counted the same way)."""
    if state.spend is None or state.upper_bound is None:
        return None
    assert chat.id is not None
    user = state.store.get_user(user_id)
    budget = chat.context.budget_for(chat.info, chat.max_tokens)
    prompt_tokens = budget  # the request never exceeds it
    if user.limits.usd_per_day is not None or user.limits.usd_per_month is not None:
        # a limit to hold: a tighter bound from the history's size (read only then, as it
        # grows with the conversation)
        history, attached = history_tokens(chat.messages)
        sent = json.dumps([chat.system, history, content], ensure_ascii=False, default=str)
        prompt_tokens = min(text_bound(sent) + attached + extra_tokens, budget)
    upper = state.upper_bound(chat.model.name, prompt_tokens, chat.max_tokens, budget)
    return state.spend.admit(user, conversation_id=chat.id, upper_usd=upper)


@router.get("/{cid}/stream")
async def reattach(
    cid: str, request: Request, state: State, store: ScopedStoreDep
) -> StreamingResponse:
    """The turn's events after ``Last-Event-ID`` then the live ones. For a turn of another
    worker or writer (its events are not here, or those here are of an older turn): the
    stored reply once the turn ends, whether it runs still or ended within the time a
    worker keeps a turn's events; 404 when no turn ran in that time. (The store is read in
    a worker thread, as in every route.)"""
    after = _last_event_id(request)
    await anyio.to_thread.run_sync(store.get_conversation, cid)
    run = state.runs.latest(cid)
    if run is not None and not run.done:
        return event_stream(run.batches(after, idle=IDLE_SECONDS, gather=GATHER_SECONDS))
    probe = new_id()
    if await anyio.to_thread.run_sync(_try_hold, store, cid, probe):
        branch = await anyio.to_thread.run_sync(store.branch, cid)
        if run is not None and _ended_with(run, branch):
            return event_stream(run.batches(after, idle=IDLE_SECONDS, gather=GATHER_SECONDS))
        reply = _last_reply(branch)
        if reply is None or reply.created_at < time.time() - KEEP_SECONDS:
            raise ApiError(404, f"no turn of conversation {cid} is running or ran recently")
        return event_stream(_replayed(reply, after))
    return event_stream(_after_elsewhere(store, cid, probe, after))


def _ended_with(run: Run, branch: list[Message]) -> bool:
    """Whether the conversation is still where this worker's finished turn left it (no
    turn of another writer, the CLI's say, has run on it since): then its kept events are
    the conversation's last turn."""
    result = run.result
    last = (result.message or result.user_message) if result is not None else run.user_message
    return bool(branch) and branch[-1].id == last.id


def _last_event_id(request: Request) -> int:
    raw = request.headers.get("last-event-id", "").strip()
    if not raw:
        return 0
    if not raw.isdigit():
        raise ApiError(400, f"Last-Event-ID must be an event number, not {raw[:40]!r}")
    return int(raw)


def _try_hold(store: Store, cid: str, probe: str) -> bool:
    """True when no one holds the conversation's turn (the probe takes and gives it back)."""
    try:
        store.claim_turn(cid, probe, ttl=5.0)
    except ConcurrentUpdate:
        return False
    store.release_turn(cid, probe)
    return True


async def _after_elsewhere(
    store: Store, cid: str, probe: str, after: int
) -> AsyncIterator[list[RunEvent]]:
    """Wait for the turn running elsewhere to end, then its stored reply and ``done``."""
    quiet_since = time.monotonic()
    while not await anyio.to_thread.run_sync(_try_hold, store, cid, probe):
        await asyncio.sleep(STOP_POLL_SECONDS)
        if time.monotonic() - quiet_since >= IDLE_SECONDS:
            quiet_since = time.monotonic()
            yield []  # a keep-alive while the other worker's turn runs
    reply = _last_reply(await anyio.to_thread.run_sync(store.branch, cid))
    async for batch in _replayed(reply, after):
        yield batch


async def _replayed(reply: Message | None, after: int) -> AsyncIterator[list[RunEvent]]:
    """The stored reply and ``done``, numbered after ``after``: the worker that ran the turn
    numbered its events, this one cannot know which of them the client missed, and the
    whole stored reply covers them all."""
    events = [RunEvent.of(after + 1, "done", {})]
    if reply is not None:
        events = [RunEvent.of(after + 1, "message", {"message": msg_json(reply)}),
                  RunEvent.of(after + 2, "done", {})]  # fmt: skip
    yield events


def _last_reply(branch: list[Message]) -> Message | None:
    """The branch's last message when it is a reply (a turn that failed stored none)."""
    return branch[-1] if branch and branch[-1].role == "assistant" else None


@router.post("/{cid}/cancel")
async def cancel(cid: str, state: State, store: ScopedStoreDep) -> dict[str, bool]:
    """Stop the conversation's running turn; what arrived is kept as a partial reply."""
    await anyio.to_thread.run_sync(store.get_conversation, cid)
    run = state.runs.running(cid)
    if run is not None:
        run.stop()
        await run.wait()
        return {"stopped": True}
    return {"stopped": await anyio.to_thread.run_sync(state.runs.request_stop, cid)}
