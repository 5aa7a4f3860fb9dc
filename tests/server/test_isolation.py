"""One user never reaches another's data: every route with a conversation or message id
in its path, called with user B's key on user A's ids, answers 404 as for an unknown id
and changes nothing. The table of request bodies must name every such route."""

from __future__ import annotations

import secrets
from typing import Any

import httpx2
import pytest
from service import Member, Service

BODIES: dict[tuple[str, str], dict[str, Any] | None] = {
    ("GET", "/v1/conversations/{cid}"): None,
    ("PATCH", "/v1/conversations/{cid}"): {"title": "taken"},
    ("DELETE", "/v1/conversations/{cid}"): None,
    ("GET", "/v1/conversations/{cid}/messages"): None,
    ("POST", "/v1/conversations/{cid}/messages"): {"content": "hi", "stream": False},
    ("GET", "/v1/conversations/{cid}/tree"): None,
    ("GET", "/v1/conversations/{cid}/branches"): None,
    ("POST", "/v1/conversations/{cid}/undo"): {},
    ("POST", "/v1/conversations/{cid}/checkout"): {"message_id": "{mid}"},
    ("POST", "/v1/conversations/{cid}/fork"): {"message_id": "{mid}"},
    ("GET", "/v1/conversations/{cid}/export"): None,
    ("GET", "/v1/conversations/{cid}/cost"): None,
    ("POST", "/v1/conversations/{cid}/retry"): {"stream": False},
    ("POST", "/v1/conversations/{cid}/messages/{mid}/edit"): {"content": "x", "stream": False},
    ("GET", "/v1/conversations/{cid}/stream"): None,
    ("POST", "/v1/conversations/{cid}/cancel"): {},
    ("GET", "/v1/conversations/{cid}/messages/{mid}/attachments/{index}"): None,
}


def _id_routes(service: Service) -> list[tuple[str, str]]:
    """Every (method, path) of the app whose path has a {cid} or {mid}."""
    found = []
    for route in service.app.routes:
        path = getattr(route, "path", "")
        if "{cid}" in path or "{mid}" in path:
            found.extend((method, path) for method in sorted(route.methods))
    return found


def _snapshot(c: httpx2.Client, cid: str) -> Any:
    export = c.get(f"/v1/conversations/{cid}/export").json()
    export.pop("exported_at")
    return export


def _call(c: httpx2.Client, method: str, path: str, cid: str, mid: str) -> httpx2.Response:
    url = path.replace("{cid}", cid).replace("{mid}", mid).replace("{index}", "0")
    body = BODIES[(method, path)]
    if body is None:
        return c.request(method, url)
    filled = {k: (v.replace("{mid}", mid) if isinstance(v, str) else v) for k, v in body.items()}
    return c.request(method, url, json=filled)


@pytest.fixture
def a_conversation(service: Service, alice: Member) -> tuple[str, list[str]]:
    """Alice's conversation with two turns: its id and its message ids."""
    with service.client(**alice.headers) as c:
        cid = c.post("/v1/conversations", json={"title": "alice's"}).json()["id"]
        for text in ("secret one", "secret two"):
            r = c.post(f"/v1/conversations/{cid}/messages", json={"content": text, "stream": False})
            assert r.status_code == 200, r.text
        ids = [m["id"] for m in c.get(f"/v1/conversations/{cid}/messages").json()["data"]]
    return cid, ids


def test_every_id_route_is_in_the_table(service: Service) -> None:
    routes = _id_routes(service)
    assert routes, "no route with an id: the app's routes were not found"
    missing = [r for r in routes if r not in BODIES]
    assert not missing, f"routes with ids missing from the isolation table: {missing}"


def test_another_users_ids_are_not_found_and_nothing_changes(
    service: Service, alice: Member, bob: Member, a_conversation: tuple[str, list[str]]
) -> None:
    cid, mids = a_conversation
    requests_before = len(service.emulator.requests)
    with service.client(**alice.headers) as a, service.client(**bob.headers) as b:
        before = _snapshot(a, cid)
        bob_cid = b.post("/v1/conversations", json={}).json()["id"]
        for method, path in _id_routes(service):
            for target_cid, mid in ((cid, mids[0]), (cid, mids[2]), (bob_cid, mids[0])):
                if (
                    "{mid}" not in path
                    and target_cid == bob_cid
                    and "mid" not in str(BODIES[(method, path)])
                ):
                    continue  # bob's own conversation with no message id: not a probe
                r = _call(b, method, path, target_cid, mid)
                assert r.status_code == 404, (method, path, target_cid, r.status_code, r.text)
                assert r.json()["error"]["type"] == "not_found"
                assert cid not in r.text or target_cid == cid
        assert _snapshot(a, cid) == before
        assert [x["id"] for x in b.get("/v1/conversations").json()["data"]] == [bob_cid]
        assert b.get("/v1/search", params={"q": "secret"}).json()["data"] == []
        hidden = b.get("/v1/search", params={"q": "secret", "conversation_id": cid})
        assert hidden.status_code == 404
    assert len(service.emulator.requests) == requests_before


def test_an_unknown_id_and_anothers_id_answer_alike(
    service: Service, bob: Member, a_conversation: tuple[str, list[str]]
) -> None:
    cid, _ = a_conversation
    unknown = secrets.token_hex(16)
    with service.client(**bob.headers) as b:
        theirs = b.get(f"/v1/conversations/{cid}").json()["error"]["message"]
        none = b.get(f"/v1/conversations/{unknown}").json()["error"]["message"]
    assert theirs.replace(cid, "ID") == none.replace(unknown, "ID")


@pytest.mark.parametrize(
    "bad_id",
    [
        secrets.token_hex(16),
        "0" * 200,
        "..",
        "%2E%2E",
        "..%2F..%2Fv1%2Fconversations",
        "%00",
        "'; DROP TABLE conversations; --",
        "*",
        "%25",
    ],
)
def test_fuzzed_ids_are_not_found(
    service: Service, bob: Member, a_conversation: tuple[str, list[str]], bad_id: str
) -> None:
    cid, mids = a_conversation
    with service.client(**bob.headers) as b:
        for method, path in _id_routes(service):
            for target_cid, mid in ((bad_id, mids[0]), (cid, bad_id)):
                r = _call(b, method, path, target_cid, mid)
                assert r.status_code in (404, 405), (method, path, bad_id, r.status_code, r.text)
                assert r.json()["error"]["type"] in ("not_found", "method_not_allowed")
    with service.client(**bob.headers) as b:
        assert b.get("/v1/conversations").json()["data"] == []


def test_importing_anothers_export_makes_a_copy_of_ones_own(
    service: Service, alice: Member, bob: Member, a_conversation: tuple[str, list[str]]
) -> None:
    cid, _ = a_conversation
    with service.client(**alice.headers) as a, service.client(**bob.headers) as b:
        before = _snapshot(a, cid)
        exported = a.get(f"/v1/conversations/{cid}/export").content
        r = b.post("/v1/conversations/import", content=exported,
                   headers={"content-type": "application/json"})  # fmt: skip
        assert r.status_code == 201, r.text
        copy = r.json()["id"]
        assert copy != cid and b.get(f"/v1/conversations/{copy}").status_code == 200
        assert a.get(f"/v1/conversations/{copy}").status_code == 404
        assert _snapshot(a, cid) == before
        # Alice was billed for what the copy holds; Bob is not billed for it again (its
        # originals are still in the store, though not in Bob's view of it).
        billed = a.get(f"/v1/conversations/{cid}/cost").json()["cost_usd"]
        bobs = b.get(f"/v1/conversations/{copy}/cost").json()
        assert billed > 0 and (bobs["cost_usd"], bobs["copied_usd"]) == (0, billed)
        assert b.get("/v1/usage").json()["conversations_usd"] == 0
