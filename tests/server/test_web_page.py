"""The web chat's page over a real uvicorn: served at / with its assets from the package,
the security headers on every answer, cache rules, the emulator flag, and JavaScript that
puts only server-rendered HTML into the DOM."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from service import Service, start_service

from claudechat.server.web.routes import CSP

STATIC = Path(__file__).parents[2] / "src" / "claudechat" / "server" / "web" / "static"
CSP_TEXT = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def _assert_secure_headers(headers: Mapping[str, str]) -> None:
    assert headers.get("content-security-policy") == CSP_TEXT
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") == "same-origin"


def test_the_page_needs_no_sign_in_and_carries_the_csp(service: Service) -> None:
    assert CSP == CSP_TEXT
    with service.client() as c:
        r = c.get("/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        _assert_secure_headers(r.headers)
        assert r.headers["cache-control"] == "no-cache" and r.headers["etag"]
        assert 'id="login"' in r.text and 'id="app"' in r.text
        assert c.get("/", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
        # a JSON answer, an error and a stream alike
        _assert_secure_headers(c.get("/healthz").headers)
        _assert_secure_headers(c.get("/v1/conversations").headers)


def test_the_page_has_no_inline_script_or_style() -> None:
    page = (STATIC / "index.html").read_text()
    for match in re.finditer(r"<script\b([^>]*)>(.*?)</script>", page, re.S):
        assert "src=" in match.group(1) and not match.group(2).strip()
    assert not re.search(r"\sstyle\s*=", page) and "<style" not in page
    assert not re.search(r"\son[a-z]+\s*=", page)  # no inline event handler


def test_every_asset_the_page_names_is_served_and_cached_by_its_hash(service: Service) -> None:
    with service.client() as c:
        page = c.get("/").text
        urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
        names = {u.rsplit("/", 1)[1] for u in urls}
        assert {"app.js", "style.css", "code.css"} <= names
        for url in urls:
            r = c.get(url)
            assert r.status_code == 200, url
            _assert_secure_headers(r.headers)
            assert "immutable" in r.headers["cache-control"]
            kind = "text/css" if url.endswith(".css") else "text/javascript"
            assert r.headers["content-type"].startswith(kind)
            assert c.get(url, headers={"If-None-Match": r.headers["etag"]}).status_code == 304
        # every module the page imports is served too
        for name in sorted(p.name for p in STATIC.glob("*.js")):
            version = urls[0].split("/")[2]
            assert c.get(f"/static/{version}/{name}").status_code == 200, name
        plain = c.get("/static/app.js")
        assert plain.status_code == 200 and plain.headers["cache-control"] == "no-cache"
        old = c.get("/static/0ld0ld0ld0ld/app.js")
        assert old.status_code == 200 and old.headers["cache-control"] == "no-cache"
        missing = c.get("/static/nothing.js")
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
        assert c.get("/static/..%2F..%2Fapp.py").status_code == 404


def test_modules_import_only_modules_that_exist() -> None:
    names = {p.name for p in STATIC.glob("*.js")}
    for module in STATIC.glob("*.js"):
        for target in re.findall(r'from "\./([^"]+)"', module.read_text()):
            assert target in names, (module.name, target)


def test_only_server_html_reaches_innerhtml_and_nothing_is_evaluated() -> None:
    """The JavaScript never parses markup but the ``html`` the server rendered: innerHTML
    is assigned once, in dom.js's setServerHtml; no eval, Function, document.write or
    insertAdjacentHTML; no inline style attribute set (the CSP forbids them)."""
    uses = []
    for module in sorted(STATIC.glob("*.js")):
        text = module.read_text()
        uses += [
            (module.name, m.group(0)) for m in re.finditer(r"\.(innerHTML|outerHTML)\s*=", text)
        ]
        for banned in (
            "eval(",
            "new Function",
            "document.write",
            "insertAdjacentHTML",
            'setAttribute("style"',
        ):
            assert banned not in text, (module.name, banned)
    assert uses == [("dom.js", ".innerHTML =")]
    dom = (STATIC / "dom.js").read_text()
    assert re.search(
        r"export function setServerHtml\(node, html\) \{\n  node\.innerHTML = html;", dom
    )


def test_the_page_is_told_when_replies_come_from_the_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    emulated = start_service(tmp_path / "emulated.db", auth_mode="none", client=None)
    try:
        with emulated.client() as c:
            info = c.get("/v1/info").json()
            assert info["emulator"] is True and info["auth"] == "none"
            assert info["defaults"]["strategy"] == "window"
            assert c.get("/v1/auth/session").json()["emulator"] is True
    finally:
        emulated.stop()


def test_a_service_with_a_client_is_not_the_emulator(service: Service) -> None:
    from claudechat.credentials import hash_password

    with service.client() as c:
        assert c.get("/v1/info").json() == {
            "emulator": False,
            "auth": "builtin",
            "semantic_search": False,
            "defaults": {"model": c.get("/v1/info").json()["defaults"]["model"],
                         "strategy": "window", "budget": None, "recall": True},
        }  # fmt: skip
        service.store.add_user("carol", password_hash=hash_password("long enough pw"))
        login = c.post("/v1/auth/login", json={"username": "carol", "password": "long enough pw"})
        assert login.status_code == 200 and login.json()["emulator"] is False
        assert c.get("/v1/auth/session").json()["emulator"] is False


def test_render_needs_a_user_and_csrf_and_answers_sanitised_html(service: Service) -> None:
    from claudechat.credentials import hash_password

    service.store.add_user("dan", password_hash=hash_password("long enough pw"))
    with service.client() as c:
        body = {"text": "**hi** <img src=x onerror=alert(1)>"}
        assert c.post("/v1/render", json=body).status_code == 401
        token = c.post("/v1/auth/login", json={"username": "dan", "password": "long enough pw"})
        csrf = token.json()["csrf_token"]
        assert c.post("/v1/render", json=body).json()["error"]["type"] == "csrf_failed"
        r = c.post("/v1/render", json=body, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200
        assert r.json()["html"] == "<p><strong>hi</strong> &lt;img src=x onerror=alert(1)&gt;</p>\n"


def test_every_module_parses(tmp_path: Path) -> None:
    """Each module is valid JavaScript (node's parser, where node is installed; the
    browser tests run them all)."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the modules are parsed by the browser tests only")
    for module in sorted(STATIC.glob("*.js")):
        copy = tmp_path / f"{module.stem}.mjs"  # .mjs: parsed as a module by any node
        copy.write_text(module.read_text())
        done = subprocess.run([node, "--check", str(copy)], capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 0, (module.name, done.stderr)
