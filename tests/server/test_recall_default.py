"""The service remembers by default: once the window drops a turn, recall brings it back
from the store's own search tables (seen in the request the emulator received), from the
conversation's own turns only, never another user's or another conversation's; a
conversation's recall=false or the server's ``recall=False`` turn it off."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx2
import pytest
from service import Member, Service, start_service

from claudechat.chat_settings import ChatSettings
from claudechat.server import ServerSettings
from claudechat.server.chats import engine

FILLER = " ".join(f"filler{i}" for i in range(400))  # some 800 tokens a turn
FACT = "My locker code is 4417 and the locker is behind the zebra mural."
DECOY = "My gym locker code is 9921."
QUESTION = "What is the code of my locker behind the zebra mural?"


def _conv(c: httpx2.Client, **settings: Any) -> str:
    r = c.post("/v1/conversations", json={})
    assert r.status_code == 201, r.text
    cid = str(r.json()["id"])
    if settings:
        assert c.patch(f"/v1/conversations/{cid}", json=settings).status_code == 200
    return cid


def _say(c: httpx2.Client, cid: str, text: str) -> None:
    r = c.post(f"/v1/conversations/{cid}/messages", json={"content": text, "stream": False})
    assert r.status_code == 200, r.text


def _sent(service: Service, marker: str) -> str:
    """The messages of the last reply request whose prompt holds ``marker``, as JSON."""
    replies = [r for r in service.emulator.requests if r.path == "/v1/messages"]
    found = [json.dumps(r.body["messages"]) for r in replies if marker in json.dumps(r.body)]
    assert found, f"no request held {marker!r}"
    return found[-1]


def _past_the_window(c: httpx2.Client, cid: str, tag: str) -> None:
    """Four turns of filler: at a 2,048-token budget the window no longer holds the first."""
    for i in range(4):
        _say(c, cid, f"{tag} turn {i} {FILLER}")


def _units(db: Path, cid: str) -> int:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM search_units WHERE conversation_id = ?", (cid,)
        ).fetchone()
    return int(row[0])


def test_a_dropped_turn_comes_back_by_default_from_the_stores_index(
    local_service: Service, tmp_path: Path
) -> None:
    with local_service.client() as c:
        cid = _conv(c, budget=2048)  # recall is not asked for: the server's default
        assert c.get(f"/v1/conversations/{cid}").json()["settings"]["recall"] is None
        _say(c, cid, FACT)
        _past_the_window(c, cid, "a")
        _say(c, cid, QUESTION)
        messages = json.loads(_sent(local_service, QUESTION))
        earlier, last = json.dumps(messages[:-1]), json.dumps(messages[-1])
        assert "4417" not in earlier  # the window dropped the fact's turn ...
        assert "<recalled_turns>" in last and "4417" in last  # ... and recall brought it back
        assert _units(tmp_path / "chats.db", cid) >= 5  # kept in the file's search tables
        assert c.delete(f"/v1/conversations/{cid}").status_code == 204
        assert _units(tmp_path / "chats.db", cid) == 0  # and gone with the conversation


def test_a_turn_is_indexed_when_it_ends_not_before_the_next_request(
    local_service: Service, tmp_path: Path
) -> None:
    with local_service.client() as c:
        cid = _conv(c)
        _say(c, cid, FACT)
        # the request held only the new message: the turn is indexed after its reply, so
        # the next turn's recall has nothing to write before its own request
        assert _units(tmp_path / "chats.db", cid) == 1
        _say(c, cid, QUESTION)
        assert _units(tmp_path / "chats.db", cid) == 2
    with local_service.client() as c:
        quiet = _conv(c, recall=False)
        _say(c, quiet, FACT)
        assert _units(tmp_path / "chats.db", quiet) == 0  # no recall: nothing indexed


def test_recall_false_on_the_conversation_turns_it_off(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _conv(c, budget=2048, recall=False)
        _say(c, cid, FACT)
        _past_the_window(c, cid, "b")
        _say(c, cid, QUESTION)
        sent = _sent(local_service, QUESTION)
        assert "recalled_turns" not in sent and "4417" not in sent
        r = c.patch(f"/v1/conversations/{cid}", json={"recall": None})  # back to the default
        assert r.json()["settings"]["recall"] is None
        _say(c, cid, QUESTION + " Again.")
        assert "4417" in _sent(local_service, QUESTION + " Again.")


def test_recall_never_brings_back_another_users_or_another_conversations_turns(
    service: Service, alice: Member, bob: Member
) -> None:
    with service.client(**alice.headers) as a, service.client(**bob.headers) as b:
        mine = _conv(a, budget=2048)
        _say(a, mine, FACT)
        _past_the_window(a, mine, "alice")
        other = _conv(a, budget=2048)  # alice's second conversation
        _say(a, other, DECOY)
        _past_the_window(a, other, "alice2")
        _say(a, other, QUESTION + " (alice)")
        theirs = _conv(b, budget=2048)
        _say(b, theirs, DECOY)
        _past_the_window(b, theirs, "bob")
        _say(b, theirs, QUESTION + " (bob)")
        _say(a, mine, QUESTION + " (first)")
    assert "4417" in _sent(service, QUESTION + " (first)")  # the index does hold it
    for marker in (QUESTION + " (alice)", QUESTION + " (bob)"):
        sent = json.loads(_sent(service, marker))
        recalled = sent[-1]["content"][-1]["text"]
        assert recalled.startswith("<recalled_turns>")  # recall ran, on its own turns only
        assert "conversation=" not in recalled  # (a turn of another one would be marked)
        assert "4417" not in json.dumps(sent) and "zebra" not in recalled


def test_the_servers_recall_setting_is_the_default_of_every_conversation(tmp_path: Path) -> None:
    quiet = start_service(tmp_path / "off.db", auth_mode="none", recall=False)
    try:
        with quiet.client() as c:
            cid = _conv(c, budget=2048)
            _say(c, cid, FACT)
            _past_the_window(c, cid, "c")
            _say(c, cid, QUESTION)
            assert "4417" not in _sent(quiet, QUESTION)
            assert c.get("/v1/info").json()["defaults"]["recall"] is False
    finally:
        quiet.stop()


def test_recall_setting_from_the_environment_and_the_engine_it_builds() -> None:
    assert ServerSettings.from_env({}).recall is True
    assert ServerSettings.from_env({"CLAUDECHAT_RECALL": "off"}).recall is False
    on, off = ServerSettings(budget=3000), ServerSettings(budget=3000, recall=False)
    assert _has_recall(engine(on)) and not _has_recall(engine(off))
    assert _has_recall(engine(off, ChatSettings(recall=True)))
    assert not _has_recall(engine(on, ChatSettings(recall=False)))


def _has_recall(built: Any) -> bool:
    from claudechat.context.recall import Recall

    return any(isinstance(p, Recall) for p in built.policies)


@pytest.mark.postgres
def test_a_postgresql_store_keeps_the_recall_index_in_its_database(pg_database: str) -> None:
    from claudechat.messages import assistant, user
    from claudechat.search.turns import index_turns
    from claudechat.server.turn_index import StoreIndex, forget_turns, turn_index
    from claudechat.store.postgres import PostgresStore
    from claudechat.store.scoped import ScopedStore

    store = PostgresStore(pg_database)
    try:
        alice, bob = store.add_user("alice"), store.add_user("bob")
        mine = ScopedStore(store, alice.id)
        index = turn_index(mine)
        assert isinstance(index, StoreIndex)
        conv = mine.create_conversation()
        asked = user(FACT)
        branch = [asked, assistant("Noted.", parent_id=asked.id)]
        assert index_turns(index, conv.id, branch, include_last=True) == 1
        again = turn_index(ScopedStore(store, bob.id))  # a new view: the same tables
        hits = again.search(QUESTION, k=3, conversation_id=conv.id)
        assert [h.unit.conversation_id for h in hits] == [conv.id] and "4417" in hits[0].unit.text
        assert again.search(QUESTION, k=3, conversation_id="another") == []
        assert forget_turns(mine, conv.id) == 1 and index.indexed(conv.id) == {}
    finally:
        store.close()


def test_the_index_writes_with_the_store_and_shares_its_transaction(tmp_path: Path) -> None:
    """The service's index writes through the store's writer connection: inside a store
    transaction its rows are part of it (rolled back with it, not committed beside it on a
    second connection that would wait for the file's write lock), and on their own they
    are committed as the store's writes are."""
    from claudechat.search import SearchUnit
    from claudechat.server.turn_index import turn_index
    from claudechat.store import SQLiteStore

    store = SQLiteStore(tmp_path / "chat.db")
    index = turn_index(store)
    unit = SearchUnit(id="u1", conversation_id="c1", text="the zebra mural", message_ids=("m1",))
    try:
        assert len(index) == 0  # the search tables made (once, outside any turn)
        with pytest.raises(RuntimeError), store.transaction():
            index.add([unit])
            assert index.indexed("c1") == {}  # not committed yet: other connections see none
            raise RuntimeError("the turn failed")
        assert len(index) == 0
        index.add([unit])
        assert _units(tmp_path / "chat.db", "c1") == 1
        assert index.delete(["u1"]) == 1 and _units(tmp_path / "chat.db", "c1") == 0
    finally:
        store.close()


def test_a_store_that_is_gone_leaves_no_open_index_behind(tmp_path: Path) -> None:
    """Each worker thread keeps its index of a store only while the store lives (its writes
    go through the store, which the index must not keep alive)."""
    import gc
    import weakref

    from claudechat.server.turn_index import turn_index
    from claudechat.store import SQLiteStore

    store = SQLiteStore(tmp_path / "chat.db")
    index = turn_index(store)
    assert len(index) == 0  # opened in this thread
    gone = weakref.ref(store)
    store.close()
    del store, index
    gc.collect()
    assert gone() is None
