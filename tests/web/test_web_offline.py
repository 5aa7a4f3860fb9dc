"""Without an API key the service answers from the built-in emulator, and the page says so
with a banner (here with --no-auth: no sign-in, every request the local user)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from pages import SRC, WAIT_MS, ChatPage, WebService
from playwright.sync_api import Browser, expect

from claudechat.testing._service import free_port

pytestmark = pytest.mark.web


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[str]:
    """``claudechat serve --no-auth`` with no key and no base URL; its URL."""
    home = tmp_path_factory.mktemp("offline")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDECHAT_"))}
    env.update(PYTHONPATH=str(SRC), XDG_CONFIG_HOME=str(home), XDG_DATA_HOME=str(home),
               CLAUDECHAT_CONFIG=str(home / "config.toml"), CLAUDECHAT_SERVE_GRACE_SECONDS="1")  # fmt: skip
    port = free_port()
    command = [sys.executable, "-m", "claudechat", "serve", "--no-auth", "--port", str(port),
               "--store", f"sqlite:///{home / 'chats.db'}"]  # fmt: skip
    with open(home / "serve.log", "wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_MS / 1000 * 3
        while True:
            assert server.poll() is None, (home / "serve.log").read_text()
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "serve did not answer /healthz"
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(30)


def test_without_a_key_the_banner_shows_and_the_emulator_answers(
    browser: Browser, offline: str
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        chat = ChatPage(page, WebService(offline, None, None, None))  # type: ignore[arg-type]
        chat.open()
        expect(page.locator("#app")).to_be_visible()  # --no-auth: no sign-in
        expect(page.locator("#emulator-banner")).to_be_visible()
        expect(page.locator("#emulator-banner")).to_contain_text("emulator")
        chat.new_chat()
        chat.type_and_send("hello offline")
        chat.wait_reply(1, 'You said: "hello offline"')
        expect(chat.replies.nth(0).locator(".content")).to_contain_text("Emulator reply #1")
    finally:
        context.close()
