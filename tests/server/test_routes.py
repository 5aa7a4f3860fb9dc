"""The conversation routes over a real uvicorn: CRUD, branches, search, export/import, cost."""

from __future__ import annotations

from typing import Any

import httpx2
from service import Service


def _conv(c: httpx2.Client, **body: Any) -> dict[str, Any]:
    r = c.post("/v1/conversations", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _say(c: httpx2.Client, cid: str, text: str) -> dict[str, Any]:
    r = c.post(f"/v1/conversations/{cid}/messages", json={"content": text, "stream": False})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _texts(c: httpx2.Client, cid: str) -> list[str]:
    return [m["text"] for m in c.get(f"/v1/conversations/{cid}/messages").json()["data"]]


def test_create_get_patch_list_delete(local_service: Service) -> None:
    with local_service.client() as c:
        conv = _conv(c, title="first", system="Be brief.")
        assert conv["title"] == "first" and conv["system"] == "Be brief."
        assert conv["model"] and conv["messages"] == 0 and conv["head_id"] is None
        cid = conv["id"]
        r = c.patch(f"/v1/conversations/{cid}", json={"title": "renamed"})
        assert r.status_code == 200 and r.json()["title"] == "renamed"
        assert r.json()["system"] == "Be brief."
        _conv(c, title="second")
        listed = c.get("/v1/conversations", params={"limit": 1}).json()
        assert len(listed["data"]) == 1 and listed["has_more"] is True
        found = c.get("/v1/conversations", params={"q": "renam"}).json()["data"]
        assert [x["id"] for x in found] == [cid]
        assert c.delete(f"/v1/conversations/{cid}").status_code == 204
        gone = c.get(f"/v1/conversations/{cid}")
        assert gone.status_code == 404 and gone.json()["error"]["type"] == "not_found"


def test_unknown_model_is_refused_before_anything_is_stored(local_service: Service) -> None:
    with local_service.client() as c:
        r = c.post("/v1/conversations", json={"model": "claude-nonexistent-9"})
        assert r.status_code == 400 and "unknown model" in r.json()["error"]["message"]
        assert c.get("/v1/conversations").json()["data"] == []


def test_retry_edit_undo_checkout_tree_branches(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _conv(c)["id"]
        first = _say(c, cid, "one")
        second = _say(c, cid, "two")
        r = c.post(f"/v1/conversations/{cid}/retry", json={"stream": False})
        assert r.status_code == 200, r.text
        retried = r.json()["message"]
        assert retried["parent_id"] == second["user_message"]["id"]
        assert retried["id"] != second["message"]["id"]
        edit = c.post(f"/v1/conversations/{cid}/messages/{second['user_message']['id']}/edit",
                      json={"content": "TWO", "stream": False})  # fmt: skip
        assert edit.status_code == 200, edit.text
        assert _texts(c, cid)[2] == "TWO"
        unknown = c.post(f"/v1/conversations/{cid}/messages/no-such-message/edit",
                         json={"content": "x", "stream": False})  # fmt: skip
        assert unknown.status_code == 404, unknown.text
        assert "no message no-such-message" in unknown.json()["error"]["message"]
        assert len(c.get(f"/v1/conversations/{cid}/tree").json()["messages"]) == 7  # nothing stored
        branches = c.get(f"/v1/conversations/{cid}/branches").json()["data"]
        assert len(branches) == 3
        tree = c.get(f"/v1/conversations/{cid}/tree").json()
        assert tree["head_id"] == edit.json()["message"]["id"] and len(tree["messages"]) == 7
        r = c.post(f"/v1/conversations/{cid}/checkout", json={"message_id": retried["id"]})
        assert r.status_code == 200 and r.json()["head_id"] == retried["id"]
        assert _texts(c, cid)[2] == "two"
        r = c.post(f"/v1/conversations/{cid}/undo", json={})
        assert r.status_code == 200 and r.json()["head_id"] == first["message"]["id"]
        assert len(_texts(c, cid)) == 2


def test_fork_copies_the_branch_and_leaves_the_original(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _conv(c, title="src")["id"]
        first = _say(c, cid, "alpha")
        _say(c, cid, "beta")
        whole = c.post(f"/v1/conversations/{cid}/fork", json={})
        assert whole.status_code == 201 and whole.json()["messages"] == 4
        part = c.post(f"/v1/conversations/{cid}/fork",
                      json={"message_id": first["message"]["id"]})  # fmt: skip
        assert part.status_code == 201, part.text
        assert _texts(c, part.json()["id"])[0] == "alpha" and part.json()["messages"] == 2
        assert len(_texts(c, cid)) == 4


def test_search_export_import_cost(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _conv(c, title="exported")["id"]
        _say(c, cid, "the zebra crossing")
        hits = c.get("/v1/search", params={"q": "zebra"}).json()["data"]
        assert hits and hits[0]["conversation_id"] == cid
        by_meaning = c.get("/v1/search", params={"q": "zebra", "semantic": "true"})
        assert by_meaning.status_code == 501, by_meaning.text
        assert by_meaning.json()["error"]["type"] == "not_implemented"
        assert "not enabled on this server" in by_meaning.json()["error"]["message"]
        exported = c.get(f"/v1/conversations/{cid}/export")
        assert exported.status_code == 200 and exported.json()["format"] == "claudechat"
        md = c.get(f"/v1/conversations/{cid}/export", params={"format": "markdown"})
        assert md.headers["content-type"].startswith("text/markdown") and "zebra" in md.text
        json_body = {"content-type": "application/json"}
        twice = c.post("/v1/conversations/import", content=exported.content, headers=json_body)
        assert twice.status_code == 409 and twice.json()["error"]["type"] == "already_imported"
        assert (
            cid in twice.json()["error"]["message"]
            and "again=true" in twice.json()["error"]["message"]
        )
        assert len(c.get("/v1/conversations").json()["data"]) == 1  # nothing stored
        imported = c.post("/v1/conversations/import?again=true", content=exported.content,
                          headers=json_body)  # fmt: skip
        assert imported.status_code == 201, imported.text
        assert imported.json()["id"] != cid and imported.json()["messages"] == 2
        assert imported.json()["turn_running"] is False
        cost = c.get(f"/v1/conversations/{cid}/cost").json()
        assert cost["cost_usd"] > 0 and cost["usage"]["output_tokens"] > 0
        bad = c.post("/v1/conversations/import", content=b'{"format": "nope"}',
                     headers={"content-type": "application/json"})  # fmt: skip
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request"


def test_models_lists_prices(local_service: Service) -> None:
    with local_service.client() as c:
        models = c.get("/v1/models").json()["data"]
    sonnet = next(m for m in models if m["id"] == "claude-sonnet-4-6")
    assert sonnet["display_name"] == "Claude Sonnet 4.6"
    assert sonnet["prices"]["output"] > sonnet["prices"]["input"] > 0
