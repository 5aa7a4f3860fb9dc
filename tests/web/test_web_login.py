"""Signing in and out of the web chat with the service's users and passwords."""

from __future__ import annotations

import pytest
from pages import ChatPage, WebService
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.web


def test_a_wrong_password_is_refused_then_the_right_one_signs_in_and_out(
    page: Page, web: WebService
) -> None:
    chat = ChatPage(page, web).login("alice", "not her password")
    expect(page.locator("#login-error")).to_be_visible()
    expect(page.locator("#login-error")).to_contain_text("wrong")
    expect(page.locator("#app")).to_be_hidden()
    chat.login("alice")
    expect(page.locator("#login")).to_be_hidden()
    assert chat.api("/v1/auth/session")["user"]["name"] == "alice"
    page.locator("button#logout").click()
    expect(page.locator("form#login")).to_be_visible()
    answer = page.context.request.get(web.url + "/v1/auth/session")
    assert answer.status == 401, "the session still works after logout"


def test_the_page_carries_a_csp_without_inline_script_and_no_banner_on_a_real_upstream(
    page: Page, web: WebService
) -> None:
    response = page.goto(web.url + "/")
    assert response is not None and response.ok
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers.get("x-content-type-options") == "nosniff"
    ChatPage(page, web).login("alice")
    # the service here has an upstream URL (the emulator server): not the built-in emulator
    expect(page.locator("#emulator-banner")).to_be_hidden()
