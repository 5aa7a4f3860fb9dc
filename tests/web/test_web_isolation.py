"""Two users in two browser contexts at once never see each other's conversations."""

from __future__ import annotations

import pytest
from pages import ChatPage, WebService
from playwright.sync_api import Browser, expect

pytestmark = pytest.mark.web


def test_two_users_never_see_each_others_conversations(browser: Browser, web: WebService) -> None:
    first, second = browser.new_context(), browser.new_context()
    try:
        ivan = ChatPage(first.new_page(), web).login("ivan").new_chat()
        judy = ChatPage(second.new_page(), web).login("judy").new_chat()
        for name, chat in (("ivan", ivan), ("judy", judy)):
            web.replies.script(f"{name}'s pineapple plan", f"Noted, {name}.")
            chat.send(f"{name}'s pineapple plan", reply=f"Noted, {name}.")
        ivans, judys = ivan.conversation_id(), judy.conversation_id()
        ivan.page.reload()
        judy.page.reload()
        for chat, own, other in ((ivan, ivans, judys), (judy, judys, ivans)):
            items = chat.page.locator("#conversations .conversation")
            expect(items).to_have_count(1)
            expect(items).to_have_attribute("data-id", own)
            search = chat.page.locator("input#search")
            search.fill("pineapple")
            search.press("Enter")
            results = chat.page.locator(".search-result")
            expect(results).to_have_count(1)
            results.click()
            expect(chat.prompts).to_have_count(1)
            assert chat.page.locator(f'[data-id="{other}"]').count() == 0
            answer = chat.context.request.get(f"{web.url}/v1/conversations/{other}/messages")
            assert answer.status == 404
        expect(ivan.prompt_texts).to_have_text(["ivan's pineapple plan"])
        expect(judy.prompt_texts).to_have_text(["judy's pineapple plan"])
    finally:
        first.close()
        second.close()
