"""Fixtures of the web chat's browser tests: Debian's Chromium driven by Playwright, against
``claudechat serve`` in a child process on 127.0.0.1, its upstream the emulator in this process.

The browser: ``$CLAUDECHAT_CHROMIUM``, else ``/usr/bin/chromium``, else ``chromium`` on PATH
(Playwright's own browser download cannot work here). Without one the tests are skipped with
a message saying so, except under ``CI=true``, where they fail. One browser and one server for
the whole session; each test signs in, in a fresh browser context, and works in conversations
it starts (the users are made with ``claudechat users add``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
from pages import SRC, USERS, WebService, replies_for

from claudechat.testing import Emulator, serve
from claudechat.testing._service import ServiceProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

ARTIFACTS = Path(__file__).parent / "artifacts"  # screenshots (git-ignored)
TOKEN_DELAY = 0.005  # seconds before each streamed word: replies arrive over time, as the API's do


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"the web chat's browser tests need Chromium under CI=true: {reason}",
                    pytrace=False)  # fmt: skip
    pytest.skip(f"no browser for the web chat's tests: {reason}")


def find_chromium() -> str | None:
    """The Chromium to drive: $CLAUDECHAT_CHROMIUM, /usr/bin/chromium, or chromium on PATH."""
    given = os.environ.get("CLAUDECHAT_CHROMIUM")
    if given:
        return given if os.access(given, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session."""
    path = find_chromium()
    if path is None:
        _unavailable("set CLAUDECHAT_CHROMIUM, or install Debian's chromium "
                     "(apt-get install chromium; make test tries)")  # fmt: skip
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as err:
        _unavailable(f"playwright is not installed ({err})")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(
                executable_path=path, headless=True, args=["--disable-gpu", "--disable-quic"]
            )
        except Error as err:
            _unavailable(f"{path} did not start: {err.message.splitlines()[0]}")
        try:
            yield launched
        finally:
            launched.close()


def _add_user(name: str, store: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start ``claudechat users add NAME --password-stdin``, as an operator makes a user."""
    command = [sys.executable, "-m", "claudechat", "users", "add", name, "--password-stdin",
               "--store", store]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)  # fmt: skip
    assert process.stdin is not None
    process.stdin.write(f"{USERS[name]}\n".encode())
    process.stdin.close()
    return process


def _added(name: str, process: subprocess.Popen[bytes]) -> None:
    """Wait for a ``users add`` to succeed."""
    assert process.stdout is not None
    with process.stdout:
        printed = process.stdout.read()
    process.wait(timeout=120)
    assert process.returncode == 0, f"users add {name}: {printed.decode()}"


def _child_env(home: Path) -> dict[str, str]:
    """The environment of the CLI and the server: this source tree, no configuration of the
    machine's user, no key (the upstream is the emulator server), a short shutdown grace."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "CLAUDECHAT_"))}  # fmt: skip
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
        CLAUDECHAT_CONFIG=str(home / "config" / "config.toml"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        CLAUDECHAT_SERVE_GRACE_SECONDS="1",
    )
    return env


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[WebService]:
    """``claudechat serve`` over a SQLite file, its upstream an emulator server whose replies
    the tests script (``web.replies``); the users of USERS exist."""
    home = tmp_path_factory.mktemp("web")
    store = f"sqlite:///{home / 'chats.db'}"
    env = _child_env(home)
    adding = {name: _add_user(name, store, env) for name in USERS}
    first = next(iter(USERS))
    _added(first, adding.pop(first))  # serve wants a user who can sign in; the rest meanwhile
    replies = replies_for()
    emulator = Emulator(reply=replies)
    upstream = serve(emulator, token_delay=TOKEN_DELAY)
    env["CLAUDECHAT_TEST_UPSTREAM_KEY"] = "upstream-test-key"
    server = ServiceProcess(store=store, upstream=upstream.url, src=SRC, env=env)
    try:
        for name, process in adding.items():
            _added(name, process)
        server.wait_ready()
        yield WebService(url=server.url, emulator=emulator, replies=replies, server=server)
    finally:
        server.stop()
        upstream.shutdown()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context (its own cookies), 1280x800, downloads accepted."""
    made = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A page in the test's context."""
    return context.new_page()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where the tests leave screenshots."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
