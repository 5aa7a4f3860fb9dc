"""Search by meaning through the service (``GET /v1/search?semantic=true``): the user's own
turns only, whatever matches better elsewhere; conversations never indexed (imported) are
found; off by default (501); with all-MiniLM-L6-v2 a question finds a turn it shares no
word with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from service import Member, Service, add_member, start_service

from claudechat.errors import ConfigError
from claudechat.search import EmbedderUnavailable, MiniLMEmbedder
from claudechat.server import ServerSettings
from claudechat.server.semantic import semantic_embedder


@pytest.fixture
def hashing(tmp_path: Path) -> Iterator[Service]:
    """The service searching by meaning with the hashing embedder (no extra needed)."""
    service = start_service(tmp_path / "semantic.db", semantic="hashing")
    try:
        yield service
    finally:
        service.stop()


def _chat(c: httpx2.Client, *questions: str) -> str:
    cid: str = c.post("/v1/conversations", json={}).json()["id"]
    for question in questions:
        sent = c.post(f"/v1/conversations/{cid}/messages",
                      json={"content": question, "stream": False})  # fmt: skip
        assert sent.status_code == 200, sent.text
    return cid


def _search(c: httpx2.Client, q: str, **params: Any) -> list[dict[str, Any]]:
    r = c.get("/v1/search", params={"q": q, "semantic": "true", **params})
    assert r.status_code == 200, r.text
    hits: list[dict[str, Any]] = r.json()["data"]
    return hits


def test_a_user_finds_their_own_turns_only(hashing: Service) -> None:
    alice, bob = add_member(hashing, "alice"), add_member(hashing, "bob")
    with hashing.client(**alice.headers) as a, hashing.client(**bob.headers) as b:
        rent = _chat(a, "The rent of my flat is 1450 euros a month", "Any tips for saving?")
        pets = _chat(a, "My cat Pixel knocked the vase off the shelf again")
        bobs = _chat(b, "The rent of my flat is 1450 euros a month, exactly as Alice's")
        hits = _search(a, "How much is the rent of the flat?")
        assert hits and {h["conversation_id"] for h in hits} <= {rent, pets}
        assert hits[0]["conversation_id"] == rent
        asked = a.get(f"/v1/conversations/{rent}/messages").json()["data"]
        assert hits[0]["message_id"] == asked[0]["id"] and "1450 euros" in hits[0]["snippet"]
        assert hits[0]["message_ids"] == [asked[0]["id"], asked[1]["id"]]
        only = _search(a, "rent", conversation_id=pets)
        assert {h["conversation_id"] for h in only} <= {pets}
        assert [h["conversation_id"] for h in _search(b, "rent of the flat")] == [bobs]
        assert b.get("/v1/info").json()["semantic_search"] is True
        theirs = b.get("/v1/search", params={"q": "rent", "semantic": "true",
                                             "conversation_id": rent})  # fmt: skip
        assert theirs.status_code == 404  # as an unknown id


def test_an_imported_conversation_is_found(hashing: Service) -> None:
    alice = add_member(hashing, "alice")
    with hashing.client(**alice.headers) as a:
        first = _chat(a, "The marathon in Berlin is in September")
        _search(a, "marathon")  # the index now holds the first conversation
        exported = a.get(f"/v1/conversations/{first}/export").content
        copy = a.post("/v1/conversations/import?again=true", content=exported,
                      headers={"content-type": "application/json"}).json()["id"]  # fmt: skip
        found = {h["conversation_id"] for h in _search(a, "When is the Berlin marathon?")}
    assert found == {first, copy}


def test_off_by_default_with_a_clear_answer(service: Service, alice: Member) -> None:
    with service.client(**alice.headers) as a:
        r = a.get("/v1/search", params={"q": "rent", "semantic": "true"})
        assert r.status_code == 501
        assert r.json()["error"]["type"] == "not_implemented"
        assert "CLAUDECHAT_SERVE_SEMANTIC=on" in r.json()["error"]["message"]
        assert a.get("/v1/search", params={"q": "rent"}).status_code == 200  # full-text


def test_the_setting_is_checked() -> None:
    with pytest.raises(ConfigError, match="semantic must be off, on or hashing"):
        ServerSettings(semantic="maybe")
    with pytest.raises(ConfigError, match="CLAUDECHAT_SERVE_SEMANTIC must be"):
        ServerSettings.from_env({"CLAUDECHAT_SERVE_SEMANTIC": "yes please"})
    assert ServerSettings.from_env({"CLAUDECHAT_SERVE_SEMANTIC": "On"}).semantic == "on"
    assert semantic_embedder("off") is None


def _minilm_or_skip() -> None:
    try:
        MiniLMEmbedder()
    except EmbedderUnavailable as err:
        pytest.skip(f"the embeddings extra is not installed ({err})")


@pytest.mark.embeddings
def test_with_minilm_a_question_finds_a_turn_sharing_no_word(tmp_path: Path) -> None:
    _minilm_or_skip()
    service = start_service(tmp_path / "minilm.db", semantic="on")
    try:
        alice = add_member(service, "alice")
        with service.client(**alice.headers) as a:
            _chat(a, "The quarterly tax forms are due on Friday")
            pet = _chat(a, "We adopted a puppy last week")
            lexical = a.get("/v1/search", params={"q": "young dog"}).json()["data"]
            assert lexical == []  # no word in common
            hits = _search(a, "young dog")
    finally:
        service.stop()
    assert hits[0]["conversation_id"] == pet


@pytest.mark.postgres
def test_on_postgresql_the_stores_own_tables_are_searched(pg_new_database: Any) -> None:
    from fastapi.testclient import TestClient

    from claudechat.server import create_app
    from claudechat.store.postgres import PostgresStore
    from claudechat.testing import offline_client

    store = PostgresStore(pg_new_database(), max_size=4)
    settings = ServerSettings(auth_mode="none", semantic="hashing",
                              client=offline_client(asynchronous=True))  # fmt: skip
    try:
        with TestClient(create_app(store=store, settings=settings),
                        base_url="http://127.0.0.1") as c:  # fmt: skip
            rent = _chat(c, "The rent of my flat is 1450 euros a month")  # type: ignore[arg-type]
            _chat(c, "My cat Pixel knocked the vase off the shelf")  # type: ignore[arg-type]
            hits = _search(c, "How much is the rent?")  # type: ignore[arg-type]
    finally:
        store.close()
    assert hits[0]["conversation_id"] == rent and "1450 euros" in hits[0]["snippet"]
