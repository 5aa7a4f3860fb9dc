"""Conversation routes that do not run a turn: CRUD, messages, branches, export, cost.

Every route here reads or writes the store, so each is a plain function, which FastAPI runs
in a worker thread: on the event loop, a PostgreSQL round trip, a SQLite commit waiting for
the disk or another thread's write, or a large export would hold every stream of the worker.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Annotated, Any
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from ..accounting import store_cost_report
from ..chat.system_changes import record_change
from ..chat_settings import ChatSettings
from ..messages import Message, new_id
from ..metadata import CHAT_SETTINGS
from ..store.base import ConversationInfo, Store, branch_tips, turn_held
from .auth import ScopedStoreDep
from .bodies import CheckoutBody, ConversationCreate, ConversationPatch, ForkBody
from .chats import check_model, make_chat
from .errors import ApiError
from .state import State
from .turn_index import forget_turns
from .uploads import attachment_data
from .views import Siblings, conv_json, info_of, msg_json

__all__ = ["conv_of", "last_request", "router"]

ROUTE_LEASE_SECONDS = 30.0  # a route's hold on a conversation's turn (it ends with the route)

router = APIRouter(prefix="/v1/conversations")


def conv_of(store: Store, conversation_id: str) -> dict[str, Any]:
    """The Conv JSON of a conversation as stored now, with ``turn_running``: whether a
    writer (a turn on any worker, the CLI) holds its turn now."""
    conv = store.get_conversation(conversation_id)
    return {**conv_json(info_of(conv, store.branch(conv.id))),
            "turn_running": turn_held(store, conv.id)}  # fmt: skip


def _idle(state: State, conversation_id: str) -> None:
    """409 while a turn of the conversation runs in this worker (the lease refuses one
    running elsewhere)."""
    if state.runs.running(conversation_id) is not None:
        raise ApiError(409, f"a turn of conversation {conversation_id} is in flight")


def _hold_turn(state: State, store: Store, conversation_id: str) -> str:
    """Claim the conversation's turn lease for a change made outside a turn (settings,
    deletion): 409 while a turn runs, in this worker or another (whose lease it is), and no
    turn starts until ``store.release_turn(conversation_id, owner)``; returns the owner."""
    _idle(state, conversation_id)
    owner = f"route-{new_id()}"
    store.claim_turn(conversation_id, owner, ttl=ROUTE_LEASE_SECONDS)
    return owner


@router.get("")
def list_conversations(
    store: ScopedStoreDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    q: Annotated[str | None, Query(max_length=1000)] = None,
) -> dict[str, Any]:
    """The user's conversations, most recently updated first (``q``: title or text match)."""
    if not q:
        infos = store.list_conversations(limit=limit + 1, offset=offset)
    else:
        infos = _matching(store, q, limit=limit + 1, offset=offset)
    return {"data": [conv_json(i) for i in infos[:limit]], "has_more": len(infos) > limit}


def _matching(store: Store, q: str, *, limit: int, offset: int) -> list[ConversationInfo]:
    """Conversations whose title contains ``q`` or whose messages match it."""
    needle = q.casefold()
    hits = {h.conversation_id for h in store.search(q, limit=500)}
    found: list[ConversationInfo] = []
    for info in store.iter_conversations():
        title = (info.conversation.title or "").casefold()
        if needle in title or info.conversation.id in hits:
            found.append(info)
            if len(found) >= offset + limit:
                break
    return found[offset:]


@router.post("", status_code=201)
def create_conversation(
    state: State, store: ScopedStoreDep, body: ConversationCreate
) -> dict[str, Any]:
    """An empty conversation (the server's default model unless one is given)."""
    model = check_model(body.model or state.settings.model)
    conv = store.create_conversation(title=body.title, model=model, system=body.system or None)
    return {**conv_json(info_of(conv, [])), "turn_running": False}


@router.post("/import", status_code=201)
async def import_conversation(
    request: Request, store: ScopedStoreDep, again: bool = False
) -> dict[str, Any]:
    """Store a claudechat JSON export (or a plain messages array) as a new conversation;
    409 ``already_imported`` when it is one of the user's conversations already (imported
    before, or their own export), unless ``again`` (another copy)."""
    from ..store.export import already_stored
    from ..store.export import import_conversation as store_import

    data = await request.body()

    def stored() -> dict[str, Any]:
        source = "the request body"
        if not again and (there := already_stored(store, data, source=source)) is not None:
            raise ApiError(409, f"already imported: this export is your conversation {there.id} "
                                f"({there.title or 'untitled'}); ?again=true imports another "
                                "copy", type="already_imported")  # fmt: skip
        conv = store_import(store, data, source=source)
        return conv_of(store, conv.id)

    return await anyio.to_thread.run_sync(stored)


@router.get("/{cid}")
def get_conversation(cid: str, store: ScopedStoreDep) -> dict[str, Any]:
    """One conversation with its figures."""
    return conv_of(store, cid)


@router.patch("/{cid}")
def patch_conversation(
    cid: str, state: State, store: ScopedStoreDep, body: ConversationPatch
) -> dict[str, Any]:
    """Change the title, model, system prompt or context settings (strategy, budget,
    recall; refused while a turn runs). A new title alone is taken at any time, as
    ``claudechat rename`` takes it: no turn reads or changes it after its first message."""
    store.get_conversation(cid)  # 404 first
    if body.model_fields_set == {"title"}:
        if body.title is not None:
            store.update_conversation(cid, title=body.title)
        return conv_of(store, cid)
    model = check_model(body.model) if body.model is not None else None
    owner = _hold_turn(state, store, cid)
    try:
        conv = store.get_conversation(cid)  # as it is now that no turn can change it
        metadata: dict[str, Any] | None = None
        if body.system is not None and body.system != (conv.system or ""):
            # Sent as a system message where the model takes one (the cached prefix survives).
            metadata = record_change(conv.metadata, old=conv.system or "", new=body.system,
                                     head_id=conv.head_id)  # fmt: skip
        if changes := body.chat_settings():
            base = conv if metadata is None else replace(conv, metadata=metadata)
            metadata = ChatSettings.of(base).changed(changes).metadata(base)
        if any(v is not None for v in (body.title, model, body.system, metadata)):
            store.update_conversation(cid, title=body.title, model=model, system=body.system,
                                      metadata=metadata)  # fmt: skip
    finally:
        store.release_turn(cid, owner)
    return conv_of(store, cid)


@router.delete("/{cid}", status_code=204)
def delete_conversation(cid: str, state: State, store: ScopedStoreDep) -> Response:
    """Delete the conversation and everything in it (refused while a turn runs)."""
    store.get_conversation(cid)
    owner = _hold_turn(state, store, cid)
    try:
        store.delete_conversation(cid)
    except BaseException:
        store.release_turn(cid, owner)
        raise
    forget_turns(store, cid)  # what recall indexed of it goes too
    return Response(status_code=204)


@router.get("/{cid}/messages")
def messages(
    cid: str,
    store: ScopedStoreDep,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    before: Annotated[str | None, Query(max_length=200)] = None,
    until: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """The active branch, oldest first; with ``limit`` one page of it from the end: the
    ``limit`` messages before ``before`` or the last ones, with ``has_more`` when older
    ones remain; or, with ``until``, the page ending at that message (a search hit). 404
    when ``before`` or ``until`` is not on the active branch. Each message says where it
    sits among its siblings (the branch navigator)."""
    conv = store.get_conversation(cid)
    if limit is None and (before is not None or until is not None):
        raise ApiError(400, "before and until need a limit: the size of the page")
    if before is not None and until is not None:
        raise ApiError(400, "give before or until, not both")
    tree = store.all_messages(cid)  # one read: the branch and every message's siblings
    branch = _branch_of(tree, conv.head_id)
    end = len(branch)
    mark = before if before is not None else until
    if mark is not None:
        ids = [m.id for m in branch]
        if mark not in ids:
            raise ApiError(404, f"message {mark} is not on the active branch of {cid}")
        end = ids.index(mark) + (1 if until is not None else 0)
    start = 0 if limit is None else max(0, end - limit)
    siblings = Siblings(tree)
    return {
        "data": [msg_json(m, siblings) for m in branch[start:end]],
        "has_more": start > 0,
        # a partial last reply is being written rather than stopped, when a turn runs
        "turn_running": turn_held(store, cid),
    }


def _branch_of(tree: list[Message], head_id: str | None) -> list[Message]:
    """Root → head, read up the parent links of the conversation's messages."""
    by_id = {m.id: m for m in tree}
    branch: list[Message] = []
    here = by_id.get(head_id) if head_id is not None else None
    while here is not None:
        branch.append(here)
        here = by_id.get(here.parent_id) if here.parent_id is not None else None
    branch.reverse()
    return branch


@router.get("/{cid}/tree")
def tree(cid: str, store: ScopedStoreDep) -> dict[str, Any]:
    """Every message of every branch (insertion order) and the head."""
    conv = store.get_conversation(cid)
    return {"head_id": conv.head_id, "messages": [msg_json(m) for m in store.all_messages(cid)]}


@router.get("/{cid}/branches")
def branches(cid: str, store: ScopedStoreDep) -> dict[str, Any]:
    """The tip of every branch, oldest first."""
    store.get_conversation(cid)
    return {"data": [msg_json(m) for m in branch_tips(store, cid)]}


@router.post("/{cid}/undo")
def undo(cid: str, state: State, store: ScopedStoreDep) -> dict[str, Any]:
    """Move the head back one turn (the turn stays stored, on its branch)."""
    _idle(state, cid)
    chat = make_chat(state, store, cid)
    if chat.undo() is None:
        raise ApiError(400, "nothing to undo: the conversation is empty")
    return conv_of(store, cid)


@router.post("/{cid}/checkout")
def checkout(cid: str, state: State, store: ScopedStoreDep, body: CheckoutBody) -> dict[str, Any]:
    """Make the branch ending at ``message_id`` the active one."""
    _idle(state, cid)
    chat = make_chat(state, store, cid)
    _in_conversation(store, cid, body.message_id)
    target = _newest_leaf(store, cid, body.message_id) if body.newest_leaf else body.message_id
    chat.checkout(target)
    return conv_of(store, cid)


def _newest_leaf(store: Store, cid: str, message_id: str) -> str:
    """The end of the newest branch through ``message_id``: from it, the child stored
    last at each step."""
    children: dict[str | None, list[str]] = {}
    for message in store.all_messages(cid):
        children.setdefault(message.parent_id, []).append(message.id)
    here = message_id
    while children.get(here):
        here = children[here][-1]
    return here


def _in_conversation(store: Store, cid: str, message_id: str) -> None:
    """404 unless the message is one of this conversation's (another conversation's id,
    even the same user's, is not a place to move this head to)."""
    if message_id not in {m.id for m in store.all_messages(cid)}:
        raise ApiError(404, f"no message {message_id} in conversation {cid}")


@router.post("/{cid}/fork", status_code=201)
def fork(
    cid: str, state: State, store: ScopedStoreDep, body: ForkBody | None = None
) -> dict[str, Any]:
    """A new conversation holding a copy of the active branch, or of the branch ending at
    ``message_id``; this one is unchanged."""
    chat = make_chat(state, store, cid)
    if body is not None and body.message_id is not None:
        _in_conversation(store, cid, body.message_id)
        # fork copies the chat's branch: the one ending at message_id, read now
        chat._branch = store.branch(cid, body.message_id)
    child = chat.fork()
    assert child.id is not None
    _inherit_settings(store, cid, child.id)
    return conv_of(store, child.id)


def _inherit_settings(store: Store, parent_id: str, child_id: str) -> None:
    """Give a fork the context settings (strategy, budget, recall) of the conversation it
    was forked from, so its next turn runs as the parent's would."""
    own = store.get_conversation(parent_id).metadata.get(CHAT_SETTINGS)
    if own is None:
        return
    child = store.get_conversation(child_id)
    store.update_conversation(child_id, metadata={**child.metadata, CHAT_SETTINGS: own})


@router.get("/{cid}/messages/{mid}/attachments/{index}")
def attachment(cid: str, mid: str, index: int, state: State, store: ScopedStoreDep) -> Response:
    """The bytes of a message's ``index``-th attachment (from 0), as its media type: an
    image shown inline (the web chat's thumbnails), a PDF as a download."""
    store.get_conversation(cid)  # the user's, or 404
    if state.store.message_conversation(mid) != cid:
        raise ApiError(404, f"no message {mid} in conversation {cid}")
    data, media_type, name = attachment_data(store.get_message(mid), index)
    disposition = "inline" if media_type.startswith("image/") else "attachment"
    quoted = quote(name, safe="")
    headers = {"Content-Disposition": f"{disposition}; filename*=UTF-8''{quoted}",
               "Cache-Control": "private, max-age=3600"}  # fmt: skip
    return Response(data, media_type=media_type, headers=headers)


@router.get("/{cid}/export", response_model=None)
def export(
    cid: str,
    store: ScopedStoreDep,
    format: Annotated[str, Query(pattern="^(json|markdown)$")] = "json",
) -> JSONResponse | PlainTextResponse:
    """The lossless JSON export (every branch), or Markdown of the active branch."""
    from ..store import export_conversation, export_markdown

    if format == "markdown":
        return PlainTextResponse(
            export_markdown(store, cid), media_type="text/markdown; charset=utf-8"
        )
    return JSONResponse(export_conversation(store, cid))


@router.get("/{cid}/cost")
def cost(cid: str, state: State, store: ScopedStoreDep) -> dict[str, Any]:
    """What the API billed for the conversation, by token kind and purpose; and the gauge's
    figures: the last request's prompt size and cache-hit share, against the budget."""
    store.get_conversation(cid)
    report = store_cost_report(store, [cid], origins=state.store)
    return {
        **last_request(state, store, cid),
        "conversation_id": cid,
        "cost_usd": report.cost_usd,
        "usage": report.usage.to_dict(),
        "cache_hit_ratio": report.cache_hit_ratio,
        "lines": [asdict(line) for line in report.lines],
        "by_purpose": report.by_purpose,
        "copied_usage": report.copied.to_dict(),
        "copied_usd": report.copied_usd,
    }


def last_request(state: State, store: Store, cid: str) -> dict[str, Any]:
    """The window fill of the last reply's request (prompt tokens: input + cache read +
    cache write) against the budget the next request may use, and its cache-hit share."""
    chat = make_chat(state, store, cid)
    budget = chat.context.budget_for(chat.info, chat.max_tokens)
    last = next((m for m in reversed(chat.history) if m.role == "assistant" and m.usage), None)
    if last is None or last.usage is None:
        return {"last_request_tokens": None, "last_cache_hit_ratio": None, "budget": budget}
    usage = last.usage
    return {"last_request_tokens": usage.total_input_tokens,
            "last_cache_hit_ratio": usage.cache_hit_ratio, "budget": budget}  # fmt: skip
