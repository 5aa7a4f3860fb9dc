"""A conversation's own settings (strategy, budget, recall): kept with it, shown in Conv,
and used by its next turn (seen in the request the emulator received)."""

from __future__ import annotations

import json
from typing import Any

import httpx2
from service import Service

from claudechat.chat_settings import ChatSettings
from claudechat.context import RollingSummary, ServerCompaction, TokenWindow
from claudechat.context.recall import Recall
from claudechat.server import ServerSettings
from claudechat.server.chats import engine

FILLER = " ".join(f"filler{i}" for i in range(400))  # some 800 tokens a turn


def _conv(c: httpx2.Client, **body: Any) -> str:
    r = c.post("/v1/conversations", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _say(c: httpx2.Client, cid: str, text: str) -> None:
    r = c.post(f"/v1/conversations/{cid}/messages", json={"content": text, "stream": False})
    assert r.status_code == 200, r.text


def _sent(service: Service) -> str:
    """The messages of the last reply request the emulator received, as JSON text."""
    replies = [r for r in service.emulator.requests if r.path == "/v1/messages"]
    return json.dumps(replies[-1].body["messages"])


def test_settings_round_trip_and_null_goes_back_to_the_default(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _conv(c)
        conv = c.get(f"/v1/conversations/{cid}").json()
        assert conv["settings"] == {"strategy": None, "budget": None, "recall": None}
        r = c.patch(f"/v1/conversations/{cid}",
                    json={"strategy": "summary", "budget": 50_000, "recall": True})  # fmt: skip
        assert r.status_code == 200, r.text
        want = {"strategy": "summary", "budget": 50_000, "recall": True}
        assert r.json()["settings"] == want
        assert c.get(f"/v1/conversations/{cid}").json()["settings"] == want
        listed = c.get("/v1/conversations").json()["data"]
        assert listed[0]["settings"] == want
        r = c.patch(f"/v1/conversations/{cid}", json={"title": "t"})  # others unchanged
        assert r.json()["settings"] == want and r.json()["title"] == "t"
        r = c.patch(f"/v1/conversations/{cid}", json={"budget": None, "strategy": None})
        assert r.json()["settings"] == {"strategy": None, "budget": None, "recall": True}


def test_bad_settings_are_refused_naming_the_field(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _conv(c)
        for body, field in (({"strategy": "forget"}, "strategy"), ({"budget": 10}, "budget"),
                            ({"recall": "yes"}, "recall")):  # fmt: skip
            r = c.patch(f"/v1/conversations/{cid}", json=body)
            assert r.status_code == 422 and field in r.json()["error"]["message"], r.text
        assert c.get(f"/v1/conversations/{cid}").json()["settings"]["strategy"] is None


def test_the_next_turn_uses_the_conversations_budget(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _conv(c)
        for i in range(6):
            _say(c, cid, f"turn {i} {FILLER}")
        _say(c, cid, "one more")
        assert "turn 0 filler" in _sent(local_service)  # the whole history fits by default
        c.patch(f"/v1/conversations/{cid}", json={"budget": 2048})
        _say(c, cid, "and now")
        sent = _sent(local_service)
        assert "turn 0 filler" not in sent and "and now" in sent  # the window dropped it
        c.patch(f"/v1/conversations/{cid}", json={"budget": None})
        _say(c, cid, "back to the default")
        assert "turn 0 filler" in _sent(local_service)


def test_recall_brings_back_a_dropped_turn_only_when_it_is_on(local_service: Service) -> None:
    with local_service.client() as c:
        fact = "My locker code is 4417 and the locker is behind the zebra mural."
        cids = []
        for recall in (False, True):
            cid = _conv(c)
            c.patch(f"/v1/conversations/{cid}", json={"budget": 2048, "recall": recall})
            _say(c, cid, fact)
            for i in range(4):
                _say(c, cid, f"turn {i} {FILLER}")
            _say(c, cid, "What is the code of my locker behind the zebra mural?")
            cids.append(cid)
            sent = _sent(local_service)
            assert ("recalled_turns" in sent and "4417" in sent) is recall, sent[:300]


def test_the_engine_follows_the_conversations_strategy() -> None:
    server = ServerSettings(strategy="window", budget=None)
    kinds = {
        "window": TokenWindow,
        "summary": RollingSummary,
        "compact": ServerCompaction,
    }
    for name, kind in kinds.items():
        built = engine(server, ChatSettings(strategy=name))
        assert any(isinstance(p, kind) for p in built.policies), name
        assert any(isinstance(p, Recall) for p in built.policies)  # on by default
        quiet = engine(server, ChatSettings(strategy=name, recall=False))
        assert not any(isinstance(p, Recall) for p in quiet.policies)
    assert engine(server, ChatSettings(budget=9000)).budget == 9000
    assert any(isinstance(p, Recall) for p in engine(server, ChatSettings(recall=True)).policies)
    default = engine(ServerSettings(strategy="summary", budget=30_000), ChatSettings())
    assert any(isinstance(p, RollingSummary) for p in default.policies) and default.budget == 30_000


def test_a_fork_keeps_the_conversations_settings(local_service: Service) -> None:
    settings = {"strategy": "summary", "budget": 50_000, "recall": True}
    with local_service.client() as c:
        cid = c.post("/v1/conversations", json={}).json()["id"]
        assert c.post(f"/v1/conversations/{cid}/messages",
                      json={"content": "hi", "stream": False}).status_code == 200  # fmt: skip
        assert c.patch(f"/v1/conversations/{cid}", json=settings).status_code == 200
        child = c.post(f"/v1/conversations/{cid}/fork", json={})
        plain = _conv(c)
        _say(c, plain, "hello")
        unset = c.post(f"/v1/conversations/{plain}/fork", json={})
    assert child.status_code == 201, child.text
    assert child.json()["settings"] == settings
    assert unset.json()["settings"] == {"strategy": None, "budget": None, "recall": None}
