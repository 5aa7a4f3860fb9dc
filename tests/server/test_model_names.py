"""The service takes model aliases, answers near misses with "did you mean", and sends a
system prompt changed by PATCH as a system message where the model takes one."""

from __future__ import annotations

from service import Service


def test_near_misses_get_a_suggestion_and_aliases_resolve(local_service: Service) -> None:
    with local_service.client() as c:
        r = c.post("/v1/conversations", json={"model": "claude-sonet-4-6"})
        assert r.status_code == 400
        assert "did you mean 'claude-sonnet-4-6'?" in r.json()["error"]["message"]
        conv = c.post("/v1/conversations", json={"model": "opus"}).json()
        assert conv["model"] == "claude-opus-5-5"
        r = c.patch(f"/v1/conversations/{conv['id']}", json={"model": "claude-hauku-4-5"})
        assert r.status_code == 400 and "did you mean 'claude-haiku-4-5'?" in r.text
        r = c.patch(f"/v1/conversations/{conv['id']}", json={"model": "haiku"})
        assert r.status_code == 200 and r.json()["model"] == "claude-haiku-5-5"


def test_a_patched_system_prompt_is_a_system_message(local_service: Service) -> None:
    with local_service.client() as c:
        cid = c.post("/v1/conversations", json={"model": "claude-opus-4-8", "system": "First."})
        cid = cid.json()["id"]
        for text in ("one", "two"):
            r = c.post(f"/v1/conversations/{cid}/messages", json={"content": text, "stream": False})
            assert r.status_code == 200, r.text
        r = c.patch(f"/v1/conversations/{cid}", json={"system": "Second."})
        assert r.status_code == 200 and r.json()["system"] == "Second."
        r = c.post(f"/v1/conversations/{cid}/messages", json={"content": "three", "stream": False})
        assert r.status_code == 200, r.text
    body = [r for r in local_service.emulator.requests if r.path == "/v1/messages"][-1].body
    assert [b["text"] for b in body["system"]] == ["First."]
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user", "assistant", "system", "user"]
    assert body["messages"][4]["content"] == [{"type": "text", "text": "Second."}]
