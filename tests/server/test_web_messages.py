"""What the web chat reads of a conversation: messages with their sanitised HTML, paged
from the end, with their place among their siblings; switching to the newest branch
through a message; the gauge's figures."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from service import Service, add_member, sse


def _conv(c: httpx2.Client, **body: Any) -> str:
    r = c.post("/v1/conversations", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _say(c: httpx2.Client, cid: str, text: str) -> dict[str, Any]:
    r = c.post(f"/v1/conversations/{cid}/messages", json={"content": text, "stream": False})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _page(c: httpx2.Client, cid: str, **params: Any) -> dict[str, Any]:
    r = c.get(f"/v1/conversations/{cid}/messages", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_messages_carry_sanitised_html(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _conv(c)
        answer = _say(c, cid, "**bold** <script>window.x=1</script>")
        assert answer["user_message"]["html"].startswith("<p><strong>bold</strong> &lt;script&gt;")
        assert "&lt;script&gt;" in answer["message"]["html"]  # the emulator echoes it
        with c.stream("POST", f"/v1/conversations/{cid}/messages",
                      json={"content": "<img src=x onerror=y>"}) as r:  # fmt: skip
            events = list(sse(r))
        message = next(e for e in events if e.name == "message").data["message"]
        assert "&lt;img" in message["html"] and "<img" not in message["html"]
        for m in _page(c, cid)["data"]:
            assert "<script" not in m["html"] and "<img" not in m["html"]


def test_the_branch_is_paged_from_the_end(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _conv(c)
        for i in range(5):
            _say(c, cid, f"turn {i}")
        whole = _page(c, cid)
        assert len(whole["data"]) == 10 and whole["has_more"] is False
        ids = [m["id"] for m in whole["data"]]
        last = _page(c, cid, limit=4)
        assert [m["id"] for m in last["data"]] == ids[6:] and last["has_more"] is True
        before = _page(c, cid, limit=4, before=ids[6])
        assert [m["id"] for m in before["data"]] == ids[2:6] and before["has_more"] is True
        first = _page(c, cid, limit=4, before=ids[2])
        assert [m["id"] for m in first["data"]] == ids[:2] and first["has_more"] is False
        assert _page(c, cid, limit=4, before=ids[0]) == {
            "data": [],
            "has_more": False,
            "turn_running": False,
        }
        missing = c.get(f"/v1/conversations/{cid}/messages", params={"limit": 4, "before": "no"})
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
        alone = c.get(f"/v1/conversations/{cid}/messages", params={"before": ids[6]})
        assert alone.status_code == 400 and "limit" in alone.json()["error"]["message"]
        # a search hit: the page that ends at it
        hit = _page(c, cid, limit=3, until=ids[4])
        assert [m["id"] for m in hit["data"]] == ids[2:5] and hit["has_more"] is True
        assert _page(c, cid, limit=9, until=ids[1])["has_more"] is False
        both = c.get(f"/v1/conversations/{cid}/messages",
                     params={"limit": 3, "until": ids[4], "before": ids[5]})  # fmt: skip
        assert both.status_code == 400
        bad = c.get(f"/v1/conversations/{cid}/messages", params={"limit": 0})
        assert bad.status_code == 422


def test_siblings_say_where_a_message_is_among_its_parents_children(
    local_service: Service,
) -> None:
    with local_service.client() as c:
        cid = _conv(c)
        _say(c, cid, "one")
        _say(c, cid, "two")
        first_reply = _page(c, cid)["data"][-1]
        assert first_reply["siblings"] == {"index": 0, "count": 1, "ids": [first_reply["id"]]}
        r = c.post(f"/v1/conversations/{cid}/retry", json={"stream": False})
        retried = r.json()["message"]
        data = _page(c, cid)["data"]
        assert data[-1]["id"] == retried["id"]
        assert data[-1]["siblings"] == {"index": 1, "count": 2,
                                        "ids": [first_reply["id"], retried["id"]]}  # fmt: skip
        assert data[0]["siblings"]["count"] == 1  # the root: alone
        back = c.post(f"/v1/conversations/{cid}/checkout",
                      json={"message_id": first_reply["id"], "newest_leaf": True})  # fmt: skip
        assert back.status_code == 200 and back.json()["head_id"] == first_reply["id"]
        assert _page(c, cid)["data"][-1]["siblings"]["index"] == 0


def test_newest_leaf_switches_to_the_whole_branch_through_a_message(
    local_service: Service,
) -> None:
    with local_service.client() as c:
        cid = _conv(c)
        one = _say(c, cid, "one")
        _say(c, cid, "two")
        three = _say(c, cid, "three")
        original_end = three["message"]["id"]
        r = c.post(f"/v1/conversations/{cid}/messages/{one['user_message']['id']}/edit",
                   json={"content": "one, edited", "stream": False})  # fmt: skip
        assert r.status_code == 200, r.text
        edited = _page(c, cid)["data"]
        assert edited[0]["text"] == "one, edited"
        assert edited[0]["siblings"]["index"] == 1 and edited[0]["siblings"]["count"] == 2
        gone = c.get(f"/v1/conversations/{cid}/messages",
                     params={"limit": 5, "until": one["message"]["id"]})  # fmt: skip
        assert gone.status_code == 404  # the old branch is not the active one now
        # ‹ on the edited message: the original user message and everything after it
        prev_id = edited[0]["siblings"]["ids"][0]
        r = c.post(f"/v1/conversations/{cid}/checkout",
                   json={"message_id": prev_id, "newest_leaf": True})  # fmt: skip
        assert r.status_code == 200 and r.json()["head_id"] == original_end
        texts = [m["text"] for m in _page(c, cid)["data"] if m["role"] == "user"]
        assert texts == ["one", "two", "three"]
        # without newest_leaf the head stops at the message itself (as before)
        r = c.post(f"/v1/conversations/{cid}/checkout", json={"message_id": prev_id})
        assert r.json()["head_id"] == prev_id


def test_the_cost_report_has_the_gauge_figures(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _conv(c)
        empty = c.get(f"/v1/conversations/{cid}/cost").json()
        assert empty["last_request_tokens"] is None and empty["last_cache_hit_ratio"] is None
        assert empty["budget"] > 0
        _say(c, cid, "hello")
        reply = _say(c, cid, "again")["message"]
        usage = reply["usage"]
        prompt = (usage["input_tokens"] + usage["cache_read_tokens"]
                  + usage["cache_write_5m_tokens"] + usage["cache_write_1h_tokens"])  # fmt: skip
        cost = c.get(f"/v1/conversations/{cid}/cost").json()
        assert cost["last_request_tokens"] == prompt > 0
        assert cost["last_cache_hit_ratio"] == usage["cache_read_tokens"] / prompt
        assert cost["budget"] == empty["budget"]
        c.patch(f"/v1/conversations/{cid}", json={"budget": 4096})
        assert c.get(f"/v1/conversations/{cid}/cost").json()["budget"] == 4096
        whole = c.get("/v1/usage").json()
        brief = c.get("/v1/usage", params={"conversations": "false"}).json()
        assert whole["conversations_usd"] == pytest.approx(cost["cost_usd"])
        assert brief["conversations_usd"] is None
        assert brief["month_usd"] == whole["month_usd"] > 0 and brief["limits"] == whole["limits"]


def test_a_page_before_another_users_message_is_not_found(service: Service) -> None:
    alice, bob = add_member(service, "alice"), add_member(service, "bob")
    with service.client(**alice.headers) as a, service.client(**bob.headers) as b:
        mine = _conv(a)
        _say(a, mine, "alice's secret")
        theirs = _conv(b)
        _say(b, theirs, "bob's secret")
        bobs = _page(b, theirs)["data"][-1]["id"]
        r = a.get(f"/v1/conversations/{mine}/messages", params={"limit": 5, "before": bobs})
        assert r.status_code == 404 and "secret" not in r.text
        r = a.get(f"/v1/conversations/{theirs}/messages", params={"limit": 5})
        assert r.status_code == 404 and "secret" not in r.text
        other = _conv(a)  # the same user's other conversation is not a place to page from
        _say(a, other, "elsewhere")
        mine_id = _page(a, mine)["data"][-1]["id"]
        r = a.get(f"/v1/conversations/{other}/messages", params={"limit": 5, "before": mine_id})
        assert r.status_code == 404
