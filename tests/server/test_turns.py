"""Turns over a real uvicorn: streamed and not, a client that goes away, reattaching with
Last-Event-ID, cancelling, and one turn at a time per conversation."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from service import WAIT, Event, Service, sse


def _new(client: httpx2.Client) -> str:
    r = client.post("/v1/conversations", json={"title": "t"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _events(client: httpx2.Client, path: str, **kw: Any) -> list[Event]:
    with client.stream("POST", path, **kw) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        return list(sse(r))


def test_send_without_stream_answers_the_reply_and_stores_it(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _new(c)
        r = c.post(f"/v1/conversations/{cid}/messages", json={"content": "hello", "stream": False})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["user_message"]["text"] == "hello"
        assert 'You said: "hello"' in body["message"]["text"]
        assert body["usage"]["output_tokens"] > 0 and body["cost_usd"] > 0
        stored = c.get(f"/v1/conversations/{cid}/messages").json()["data"]
        assert [m["id"] for m in stored] == [body["user_message"]["id"], body["message"]["id"]]


def test_streamed_send_sends_numbered_events_in_order(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _new(c)
        events = _events(c, f"/v1/conversations/{cid}/messages", json={"content": "hi there"})
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    names = [e.name for e in events]
    assert names[0] == "start" and names[-3:] == ["usage", "message", "done"]
    assert set(names[1:-3]) == {"delta"}
    text = "".join(e.data["text"] for e in events if e.name == "delta")
    assert events[-2].data["message"]["text"] == text
    assert events[0].data["user_message_id"] != events[-2].data["message"]["id"]


def test_a_client_that_goes_away_does_not_stop_the_reply(local_service: Service) -> None:
    gate = local_service.gate
    with local_service.client() as c:
        cid = _new(c)
        gate.hold()
        with c.stream("POST", f"/v1/conversations/{cid}/messages", json={"content": "a"}) as r:
            first = next(sse(r))
            assert first.name == "start"
            assert gate.reached.wait(WAIT)
        # the client has gone; the reply goes on once the upstream does
        gate.release()
        r = c.get(f"/v1/conversations/{cid}/stream", headers={"Last-Event-ID": "1"})
        events = list(sse(r))
        assert events[0].id == 2 and events[-1].name == "done"
        message = next(e for e in events if e.name == "message").data["message"]
        stored = c.get(f"/v1/conversations/{cid}/messages").json()["data"]
    assert stored[-1]["id"] == message["id"]
    assert stored[-1]["status"] == "complete" and 'You said: "a"' in stored[-1]["text"]


def test_reattach_gets_the_events_after_last_event_id_then_live(local_service: Service) -> None:
    gate = local_service.gate
    with local_service.client() as c:
        cid = _new(c)
        gate.hold()
        seen: list[Event] = []
        with c.stream("POST", f"/v1/conversations/{cid}/messages", json={"content": "b"}) as r:
            for event in sse(r):
                seen.append(event)
                if event.name == "delta":
                    break
        assert gate.reached.wait(WAIT)
        last = seen[-1].id
        with c.stream(
            "GET", f"/v1/conversations/{cid}/stream", headers={"Last-Event-ID": str(last)}
        ) as r:
            gate.release()
            rest = list(sse(r))
    assert [e.id for e in rest] == list(range(last + 1, last + 1 + len(rest)))
    text = "".join(e.data["text"] for e in [*seen, *rest] if e.name == "delta")
    assert next(e for e in rest if e.name == "message").data["message"]["text"] == text


def test_cancel_keeps_the_partial_reply(local_service: Service) -> None:
    gate = local_service.gate
    with local_service.client() as c:
        cid = _new(c)
        gate.hold()
        with c.stream("POST", f"/v1/conversations/{cid}/messages", json={"content": "c"}) as r:
            events = sse(r)
            assert next(events).name == "start"
            assert gate.reached.wait(WAIT)
            stopped = c.post(f"/v1/conversations/{cid}/cancel", json={})
            assert stopped.json() == {"stopped": True}
            rest = list(events)
        stored = c.get(f"/v1/conversations/{cid}/messages").json()["data"]
    assert rest[-1].name == "done"
    partial = next(e for e in rest if e.name == "message").data["message"]
    assert partial["status"] == "partial" and partial["text"]
    assert stored[-1]["id"] == partial["id"] and stored[-1]["status"] == "partial"


def test_cancel_while_the_model_thinks_tells_what_the_turn_cost(local_service: Service) -> None:
    gate = local_service.gate
    with local_service.client() as c:
        cid = _new(c)
        gate.hold(1, of="thinking")  # the reply started (and billed), no text yet
        with c.stream("POST", f"/v1/conversations/{cid}/messages", json={"content": "f"}) as r:
            events = sse(r)
            assert next(events).name == "start"
            assert gate.reached.wait(WAIT)
            assert c.post(f"/v1/conversations/{cid}/cancel", json={}).json() == {"stopped": True}
            rest = list(events)
        stored = c.get(f"/v1/conversations/{cid}/messages").json()["data"]
        billed = c.get(f"/v1/conversations/{cid}/cost").json()
    assert [e.name for e in rest] == ["usage", "done"]  # no reply to show: none on the branch
    told = rest[0].data
    assert told["usage"]["input_tokens"] > 0 and told["cost_usd"] > 0
    assert [m["role"] for m in stored] == ["user"]
    assert told["cost_usd"] == pytest.approx(billed["cost_usd"])


def test_a_request_stopped_while_the_model_thinks_is_no_branch_or_alternative(
    local_service: Service,
) -> None:
    """Its billed record (kept beside the branch for its cost) is neither a branch tip
    nor a sibling of the reply or the message that follows: the branch ends at the
    unanswered message, and a retry's reply is its only answer (1 of 1)."""
    gate = local_service.gate
    with local_service.client() as c:
        cid = _new(c)
        gate.hold(1, of="thinking")
        with c.stream("POST", f"/v1/conversations/{cid}/messages", json={"content": "g"}) as r:
            events = sse(r)
            assert next(events).name == "start"
            assert gate.reached.wait(WAIT)
            assert c.post(f"/v1/conversations/{cid}/cancel", json={}).json() == {"stopped": True}
            list(events)
        gate.release()
        (asked,) = c.get(f"/v1/conversations/{cid}/messages").json()["data"]
        tips = c.get(f"/v1/conversations/{cid}/branches").json()["data"]
        assert [m["id"] for m in tips] == [asked["id"]]
        retried = c.post(f"/v1/conversations/{cid}/retry", json={"stream": False})
        assert retried.status_code == 200, retried.text
        stored = c.get(f"/v1/conversations/{cid}/messages").json()["data"]
        tips = c.get(f"/v1/conversations/{cid}/branches").json()["data"]
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["siblings"]["count"] == 1
    assert [m["id"] for m in tips] == [stored[1]["id"]]


def test_a_second_send_while_one_runs_is_409(local_service: Service) -> None:
    gate = local_service.gate
    with local_service.client() as c:
        cid = _new(c)
        gate.hold()
        with c.stream("POST", f"/v1/conversations/{cid}/messages", json={"content": "d"}) as r:
            events = sse(r)
            assert next(events).name == "start"
            assert gate.reached.wait(WAIT)
            second = c.post(f"/v1/conversations/{cid}/messages", json={"content": "e"})
            assert second.status_code == 409
            assert second.json()["error"]["type"] == "conflict"
            gate.release()
            assert [e.name for e in events][-1] == "done"
        stored = c.get(f"/v1/conversations/{cid}/messages").json()["data"]
    assert [m["text"] for m in stored if m["role"] == "user"] == ["d"]


def test_cancel_with_no_turn_running_stops_nothing(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _new(c)
        assert c.post(f"/v1/conversations/{cid}/cancel", json={}).json() == {"stopped": False}
        r = c.get(f"/v1/conversations/{cid}/stream")
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"


def test_an_upstream_failure_is_an_error_event_or_502(local_service: Service) -> None:
    from claudechat.testing import Fault

    emulator = local_service.emulator
    with local_service.client() as c:
        cid = _new(c)
        emulator.inject(Fault.status_error(500))
        events = _events(c, f"/v1/conversations/{cid}/messages", json={"content": "x"})
        assert [e.name for e in events] == ["start", "error"]
        assert events[-1].data["error"]["type"] == "upstream_error"
        emulator.inject(Fault.status_error(529))
        r = c.post(f"/v1/conversations/{cid}/messages", json={"content": "y", "stream": False})
        assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_error"
        assert "test" not in r.json()["error"]["message"]  # the upstream key is "test"
        ok = c.post(f"/v1/conversations/{cid}/messages", json={"content": "z", "stream": False})
        assert ok.status_code == 200


def test_cancel_stops_a_turn_that_the_library_sent_on_the_same_store(
    local_service: Service, tmp_path: Any
) -> None:
    """The stop button on a turn that no worker of the service runs (the CLI's, or a
    library chat's on the same store): the mark it leaves is read by that chat, which
    stops, keeps its partial reply and gives the turn back."""
    import anthropic
    import pytest

    from claudechat import Chat
    from claudechat.errors import TurnStopped
    from claudechat.store import SQLiteStore
    from claudechat.testing import Emulator, serve

    story = " ".join(f"word{i}" for i in range(2000))
    upstream = serve(Emulator(reply=lambda r: story), "127.0.0.1", 0, token_delay=0.005)
    try:
        client = anthropic.Anthropic(api_key="t", base_url=upstream.url, max_retries=0)
        chat = Chat(store=SQLiteStore(local_service.store.path), client=client, thinking="off")
        shown: list[str] = []
        with local_service.client() as c, pytest.raises(TurnStopped):
            for piece in chat.stream("tell me a story"):
                shown.append(piece)
                if len(shown) == 1:
                    stopped = c.post(f"/v1/conversations/{chat.id}/cancel", json={})
                    assert stopped.json() == {"stopped": True}
    finally:
        upstream.shutdown()
    with local_service.client() as c:
        stored = c.get(f"/v1/conversations/{chat.id}/messages").json()["data"]
        again = c.post(f"/v1/conversations/{chat.id}/messages",
                       json={"content": "and then?", "stream": False})  # fmt: skip
    assert [(m["role"], m["status"]) for m in stored] == [("user", "complete"),
                                                         ("assistant", "partial")]  # fmt: skip
    assert stored[1]["text"] == "".join(shown) != story
    assert again.status_code == 200, again.text  # the turn was given back


def test_reattach_after_another_writers_turn_gets_that_turn_not_this_workers_last(
    local_service: Service,
) -> None:
    """This worker's last turn of the conversation ended; then another writer (the CLI, a
    library chat on the same store) took the turn: reattaching waits for that turn and
    gives its reply, not the events this worker kept of its own older turn."""
    import threading

    from claudechat.messages import Message

    store = local_service.store
    with local_service.client() as c:
        cid = _new(c)
        mine = _events(c, f"/v1/conversations/{cid}/messages", json={"content": "first"})
        old_reply = next(e for e in mine if e.name == "message").data["message"]["id"]
        store.claim_turn(cid, "cli-writer", ttl=60.0)
        answer: list[list[Event]] = []
        reader = threading.Thread(target=lambda: answer.append(list(sse(c.get(
            f"/v1/conversations/{cid}/stream", headers={"Last-Event-ID": "1"})))))  # fmt: skip
        reader.start()
        store.append(
            cid,
            Message("user", [{"type": "text", "text": "from the terminal"}]),
            lease="cli-writer",
        )
        reply = Message(
            "assistant", [{"type": "text", "text": "its reply"}], model="claude-sonnet-4-6"
        )
        store.append(cid, reply, lease="cli-writer")
        store.release_turn(cid, "cli-writer")
        reader.join(WAIT)
    (events,) = answer
    assert [e.name for e in events] == ["message", "done"], events
    assert events[0].data["message"]["id"] == reply.id != old_reply
