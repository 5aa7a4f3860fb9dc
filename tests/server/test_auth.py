"""Authentication: API keys, cookie sessions with CSRF, pluggable auth, no-auth mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import Request
from service import Member, Service, start_service


def _error(r: httpx2.Response) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["type"]


def test_no_key_wrong_key_bad_header_revoked_key_are_401(service: Service, alice: Member) -> None:
    with service.client() as c:
        assert c.get("/healthz").status_code == 200  # no auth needed
        assert _error(c.get("/v1/conversations")) == (401, "authentication_failed")
        wrong = {"Authorization": "Bearer cc_00000000_" + "x" * 43}
        assert _error(c.get("/v1/conversations", headers=wrong)) == (401, "authentication_failed")
        basic = {"Authorization": "Basic YWxpY2U6cHc="}
        assert _error(c.get("/v1/conversations", headers=basic)) == (401, "authentication_failed")
        assert c.get("/v1/conversations", headers=alice.headers).status_code == 200
        key = service.store.list_api_keys(alice.id)[0]
        service.store.revoke_api_key(key.id)
        revoked = c.get("/v1/conversations", headers=alice.headers)
        assert _error(revoked) == (401, "authentication_failed")


def _login(c: httpx2.Client, password: str = "correct horse") -> httpx2.Response:
    return c.post("/v1/auth/login", json={"username": "alice", "password": password})


def test_cookie_session_needs_csrf_on_writes(service: Service, alice: Member) -> None:
    with service.client() as c:
        assert _error(_login(c, "wrong password")) == (401, "authentication_failed")
        assert _error(c.post("/v1/auth/login", json={"username": "nobody", "password": "x" * 9})
                      ) == (401, "authentication_failed")  # fmt: skip
        r = _login(c)
        assert r.status_code == 200 and r.json()["user"]["name"] == "alice"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        csrf = r.json()["csrf_token"]
        assert c.get("/v1/conversations").status_code == 200
        refused = c.post("/v1/conversations", json={"title": "x"})
        assert _error(refused) == (403, "csrf_failed")
        forged = c.post("/v1/conversations", json={}, headers={"X-CSRF-Token": "0" * 64})
        assert _error(forged) == (403, "csrf_failed")
        assert c.get("/v1/conversations").json()["data"] == []
        made = c.post("/v1/conversations", json={"title": "x"}, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201
        session = c.get("/v1/auth/session").json()
        assert session["user"]["id"] == alice.id and session["csrf_token"] == csrf
        out = c.post("/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        c.cookies.set("claudechat_session", r.cookies["claudechat_session"])
        assert _error(c.get("/v1/conversations")) == (401, "authentication_failed")


def test_a_key_request_needs_no_csrf(service: Service, alice: Member) -> None:
    with service.client(**alice.headers) as c:
        assert c.post("/v1/conversations", json={}).status_code == 201
        assert c.get("/v1/auth/session").json()["csrf_token"] is None


def test_usage_is_the_callers_and_all_is_for_admins(service: Service, alice: Member) -> None:
    with service.client(**alice.headers) as c:
        mine = c.get("/v1/usage").json()
        assert mine["user"]["id"] == alice.id and mine["today_usd"] == 0
        assert _error(c.get("/v1/usage", params={"all": "true"})) == (403, "forbidden")
        service.store.set_admin(alice.id, True)
        everyone = c.get("/v1/usage", params={"all": "true"}).json()["data"]
    assert alice.id in {row["user"]["id"] for row in everyone}


@pytest.mark.parametrize("asynchronous", [False, True])
def test_pluggable_auth_creates_the_user_on_first_sight(tmp_path: Path, asynchronous: bool) -> None:
    def sync_auth(request: Request) -> str | None:
        return request.headers.get("x-user")

    async def async_auth(request: Request) -> str | None:
        return request.headers.get("x-user")

    service = start_service(tmp_path / "p.db", auth=async_auth if asynchronous else sync_auth)
    try:
        with service.client() as c:
            assert _error(c.get("/v1/conversations")) == (401, "authentication_failed")
            made = c.post("/v1/conversations", json={}, headers={"x-user": "carol"})
            assert made.status_code == 201
            theirs = c.get(f"/v1/conversations/{made.json()['id']}", headers={"x-user": "dave"})
            assert _error(theirs) == (404, "not_found")
        assert service.store.get_user("carol").name == "carol"
    finally:
        service.stop()


def test_no_auth_mode_refuses_other_hosts_and_non_json_posts(local_service: Service) -> None:
    with local_service.client() as c:
        assert c.get("/v1/conversations").status_code == 200
        assert c.get("/v1/conversations", headers={"Host": "localhost:9"}).status_code == 200
        rebound = c.get("/v1/conversations", headers={"Host": "evil.example:8000"})
        assert _error(rebound) == (403, "forbidden")
        form = c.post("/v1/conversations", content=b"title=x",
                      headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert _error(form) == (400, "invalid_request")
        plain = c.post("/v1/conversations", content=b"{}", headers={"content-type": "text/plain"})
        assert _error(plain) == (400, "invalid_request")
        assert c.get("/v1/conversations").json()["data"] == []


def test_keys_are_checked_on_the_event_loop_of_a_sqlite_file_but_their_use_is_written_off_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    import anyio.to_thread

    import claudechat.server.auth as auth
    from claudechat.credentials import new_api_key
    from claudechat.server import ServerSettings, create_app
    from claudechat.store import MemoryStore, SQLiteStore
    from claudechat.testing import offline_client

    in_threads: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def spy(fn: Any, *args: Any, **kwargs: Any) -> Any:
        in_threads.append(getattr(fn, "__name__", "?"))
        return await run_sync(fn, *args, **kwargs)

    monkeypatch.setattr(auth.anyio.to_thread, "run_sync", spy)

    def lookups(store: Any) -> tuple[list[int], int]:
        user = store.add_user("alice")
        key = new_api_key()
        store.add_api_key(user.id, key_hash=key.hash, prefix=key.prefix)
        app = create_app(
            store=store, settings=ServerSettings(client=offline_client(asynchronous=True))
        )
        headers = {"authorization": f"Bearer {key.plaintext}"}

        async def run() -> list[int]:
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://t") as c:
                codes = [(await c.get("/v1/conversations", headers=headers)).status_code
                         for _ in range(3)]  # fmt: skip
                store.revoke_api_key(store.list_api_keys(user.id)[0].id)
                codes.append((await c.get("/v1/conversations", headers=headers)).status_code)
            return codes

        in_threads.clear()
        codes = asyncio.run(run())
        assert store.list_api_keys(user.id)[0].last_used_at is not None
        return codes, in_threads.count("_builtin")

    # the first use is written (in a thread), then the key is only read, on the loop; a
    # revoked key is refused at once
    assert lookups(SQLiteStore(tmp_path / "chat.db")) == ([200, 200, 200, 401], 1)
    assert lookups(MemoryStore()) == ([200, 200, 200, 401], 4)  # no such promise: threads
