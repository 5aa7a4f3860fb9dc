"""A conversation's chat kept in the worker between its turns: taken back only while the
stored conversation is the one it holds, never by another user, never past its idle time
or the table's size; the turns it serves see every change made elsewhere and are billed
once each."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from service import Service, start_service

from claudechat.chat import AsyncChat
from claudechat.server.kept_chats import KeptChats
from claudechat.store import LOCAL_USER
from claudechat.store.memory import MemoryStore
from claudechat.testing import offline_client


def _send(c: Any, cid: str, text: str, service: Service | None = None) -> dict[str, Any]:
    """A turn; with ``service``, once the turn's chat is back in its kept chats (the answer
    comes at the turn's end, the chat is given back just after, its reply estimated)."""
    r = c.post(f"/v1/conversations/{cid}/messages", json={"content": text, "stream": False})
    assert r.status_code == 200, r.text
    if service is not None:
        _given_back(service, cid)
    return r.json()  # type: ignore[no-any-return]


def _given_back(service: Service, cid: str) -> None:
    """Wait until the conversation's chat is back in the service's kept chats."""
    kept = service.app.state.claudechat.chats
    deadline = time.monotonic() + 10
    while (LOCAL_USER, cid) not in kept and time.monotonic() < deadline:
        time.sleep(0.005)


def _sent_texts(local_service: Service) -> list[str]:
    """The texts of the user messages of the last request sent upstream."""
    body = [r for r in local_service.emulator.requests if r.path == "/v1/messages"][-1].body
    texts = []
    for m in body["messages"]:
        if m["role"] != "user":
            continue
        content = m["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        texts.append(" ".join(b.get("text", "") for b in blocks if b.get("type") == "text"))
    return texts


def test_the_next_turn_takes_the_chat_its_last_turn_kept(local_service: Service) -> None:
    chats = local_service.app.state.claudechat.chats
    with local_service.client() as c:
        cid = c.post("/v1/conversations", json={}).json()["id"]
        for i in range(3):
            _send(c, cid, f"question {i}", local_service)
        stored = c.get(f"/v1/conversations/{cid}/messages").json()["data"]
    assert (chats.hits, chats.misses) == (2, 1)
    assert [m["role"] for m in stored] == ["user", "assistant"] * 3
    assert 'You said: "question 2"' in stored[-1]["text"]
    assert _sent_texts(local_service) == ["question 0", "question 1", "question 2"]


def test_a_change_to_the_conversation_between_turns_builds_the_chat_anew(
    local_service: Service,
) -> None:
    chats = local_service.app.state.claudechat.chats
    with local_service.client() as c:
        cid = c.post("/v1/conversations", json={}).json()["id"]
        _send(c, cid, "first", local_service)
        assert c.patch(f"/v1/conversations/{cid}", json={"model": "claude-opus-4-6"}).is_success
        second = _send(c, cid, "second", local_service)
        assert c.post(f"/v1/conversations/{cid}/undo", json={}).is_success
        _send(c, cid, "third")
    assert second["message"]["model"] == "claude-opus-4-6"  # the new model, not the kept one
    assert (chats.hits, chats.misses) == (0, 3)
    assert _sent_texts(local_service)[-1] == "third" and "second" not in _sent_texts(local_service)


def test_a_turn_another_worker_stored_is_in_the_next_request(tmp_path: Path) -> None:
    first = start_service(tmp_path / "shared.db", auth_mode="none")
    second = start_service(tmp_path / "shared.db", auth_mode="none")
    try:
        with first.client() as a, second.client() as b:
            cid = a.post("/v1/conversations", json={}).json()["id"]
            _send(a, cid, "on the first")
            _send(b, cid, "on the second")
            _send(a, cid, "back on the first")
        sent = _sent_texts(first)
    finally:
        first.stop()
        second.stop()
    assert sent == ["on the first", "on the second", "back on the first"]
    assert first.app.state.claudechat.chats.hits == 0


def test_each_turn_of_a_kept_chat_is_billed_once(local_service: Service) -> None:
    with local_service.client() as c:
        cid = c.post("/v1/conversations", json={}).json()["id"]
        costs = [_send(c, cid, f"question {i}", local_service)["cost_usd"] for i in range(3)]
        usage = c.get("/v1/usage").json()
    assert local_service.app.state.claudechat.chats.hits == 2
    assert usage["total_usd"] == pytest.approx(sum(costs))


def _chat(store: MemoryStore, text: str = "hi") -> AsyncChat:
    conv = store.create_conversation(title=text)
    return AsyncChat.resume(conv.id, store=store, client=offline_client(asynchronous=True))


def test_a_kept_chat_is_the_users_own_while_its_row_holds_within_its_idle_time() -> None:
    now = [0.0]
    kept = KeptChats(keep=2, idle_seconds=60, clock=lambda: now[0])
    store = MemoryStore()
    chat = _chat(store)
    row = chat.conversation
    assert row is not None
    kept.give("alice", chat)
    assert kept.take("bob", row) is None  # another user's turn builds its own
    assert kept.take("alice", row) is chat
    assert kept.take("alice", row) is None  # taken: out of the table until given back
    kept.give("alice", chat)
    assert kept.take("alice", replace(row, version=row.version + 1)) is None  # row changed
    kept.give("alice", chat)
    now[0] = 61.0
    assert kept.take("alice", row) is None  # idle too long
    for text in ("a", "b", "c"):
        kept.give("alice", _chat(store, text))
    assert len(kept) == 2  # the oldest is dropped


def _grown(chat: AsyncChat, messages: int) -> AsyncChat:
    """The chat with ``messages`` messages more on its branch (turns of the emulator)."""

    async def turns() -> None:
        for i in range(messages // 2):
            await chat.send(f"question {i}")

    asyncio.run(turns())
    return chat


def test_kept_chats_are_bounded_in_messages_in_all() -> None:
    kept = KeptChats(keep=10, most_messages=10)
    store = MemoryStore()
    a, b, c = (_grown(_chat(store, text), 4) for text in ("a", "b", "c"))
    for chat in (a, b):
        kept.give("alice", chat)
    assert (len(kept), kept.messages) == (2, 8)
    kept.give("alice", c)  # 12 messages: the oldest goes
    assert (len(kept), kept.messages) == (2, 8)
    assert a.conversation is not None and kept.take("alice", a.conversation) is None
    kept.give("alice", c)  # given again (another turn of it): counted once
    assert (len(kept), kept.messages) == (2, 8)
    long = _grown(_chat(store, "long"), 12)
    kept.give("alice", long)  # longer than the bound alone: built for each turn
    assert long.conversation is not None and kept.take("alice", long.conversation) is None
    assert (len(kept), kept.messages) == (2, 8)
    assert c.conversation is not None and kept.take("alice", c.conversation) is c
    assert (len(kept), kept.messages) == (1, 4)
    kept.clear()
    assert (len(kept), kept.messages) == (0, 0)


def test_how_many_chats_a_worker_keeps_is_configured_and_checked() -> None:
    from claudechat.errors import ConfigError
    from claudechat.server import ServerSettings

    assert ServerSettings.from_env({}).kept_chats == 256
    assert ServerSettings.from_env({}).kept_messages == 20_000
    assert ServerSettings.from_env({"CLAUDECHAT_SERVE_KEPT_CHATS": "0"}).kept_chats == 0
    env = {"CLAUDECHAT_SERVE_KEPT_MESSAGES": "2000"}
    assert ServerSettings.from_env(env).kept_messages == 2000
    with pytest.raises(ConfigError, match="CLAUDECHAT_SERVE_KEPT_CHATS must be a number"):
        ServerSettings.from_env({"CLAUDECHAT_SERVE_KEPT_CHATS": "many"})
    with pytest.raises(ConfigError, match="kept_chats must be 0 or more"):
        ServerSettings(kept_chats=-1)
    with pytest.raises(ConfigError, match="kept_messages must be 0 or more"):
        ServerSettings(kept_messages=-1)


def test_a_worker_that_keeps_no_chats_builds_each_turns(tmp_path: Path) -> None:
    service = start_service(tmp_path / "none.db", auth_mode="none", kept_chats=0)
    try:
        with service.client() as c:
            cid = c.post("/v1/conversations", json={}).json()["id"]
            for i in range(2):
                _send(c, cid, f"question {i}")
    finally:
        service.stop()
    chats = service.app.state.claudechat.chats
    assert (chats.hits, chats.misses, len(chats)) == (0, 2, 0)


def test_a_replys_token_estimate_is_made_after_its_turn_not_before_the_next(
    local_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator's replies carry thinking, which its output tokens do not count as
    input: the offline estimate of the reply (pure Python) is made once the turn ended."""
    import time

    import claudechat.tokens as tokens

    estimated: list[tuple[str, float]] = []
    real = tokens.estimate_text

    def recording(text: str, *args: Any, **kwargs: Any) -> int:
        estimated.append((text, time.monotonic()))
        return real(text, *args, **kwargs)

    monkeypatch.setattr(tokens, "estimate_text", recording)
    chats = local_service.app.state.claudechat.chats
    with local_service.client() as c:
        cid = c.post("/v1/conversations", json={}).json()["id"]
        first = _send(c, cid, "first", local_service)["message"]
        for _ in range(500):  # kept once the turn's estimates are made
            if len(chats):
                break
            time.sleep(0.01)
        assert len(chats) == 1
        sent_at = time.monotonic()
        _send(c, cid, "second", local_service)
    thinking = next(b["thinking"] for b in first["content"] if b["type"] == "thinking")
    assert [at for text, at in estimated if text == thinking]  # estimated, once kept...
    assert not [at for text, at in estimated if text == thinking and at >= sent_at]  # ...only


def test_a_turn_after_a_stopped_one_sends_the_partial_reply_and_the_new_question(
    local_service: Service,
) -> None:
    """A stopped turn keeps its chat too: the next turn continues after the partial reply,
    as the store has it."""
    from service import WAIT, sse

    service = local_service
    with service.client() as c:
        cid = c.post("/v1/conversations", json={}).json()["id"]
        service.gate.hold()
        with c.stream("POST", f"/v1/conversations/{cid}/messages", json={"content": "cut"}) as r:
            events = sse(r)
            assert next(events).name == "start"
            assert service.gate.reached.wait(WAIT)
            with service.client() as other:
                assert other.post(f"/v1/conversations/{cid}/cancel", json={}).is_success
            assert [e.name for e in events][-1] == "done"
        service.gate.release()
        _given_back(service, cid)
        _send(c, cid, "after the stop")
        stored = c.get(f"/v1/conversations/{cid}/messages").json()["data"]
    assert [(m["role"], m["status"]) for m in stored] == [
        ("user", "complete"), ("assistant", "partial"), ("user", "complete"),
        ("assistant", "complete"),
    ]  # fmt: skip
    assert _sent_texts(service) == ["cut", "after the stop"]
    assert service.app.state.claudechat.chats.hits == 1  # the stopped turn's chat
