"""Search in the sidebar finds a turn of another, older conversation and jumps to it."""

from __future__ import annotations

import re

import pytest
from pages import ChatPage, WebService
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.web

FILLER = "\n\n".join(["Room."] * 15)  # tall on screen, quick to stream


def test_search_finds_an_old_turn_and_jumps_to_it(page: Page, web: WebService) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    web.replies.script("where did I leave the quokka?", "In the garden shed.")
    chat.send("where did I leave the quokka?", reply="In the garden shed.")
    old = chat.conversation_id()
    for n in range(6):  # later turns (sent from elsewhere) push the first one out of sight
        web.replies.script(f"filler question {n}", FILLER)
        chat.api_send(old, f"filler question {n}")
    target = chat.stored(old)[0]
    assert "quokka" in target["text"]
    chat.new_chat()
    chat.send("something else entirely")
    assert chat.conversation_id() != old

    search = page.locator("input#search")
    search.fill("quokka")
    search.press("Enter")
    results = page.locator(".search-result")
    expect(results).to_have_count(1)
    expect(results).to_contain_text("quokka")
    results.click()
    expect(page.locator(f'#conversations .conversation[data-id="{old}"]')).to_have_attribute(
        "aria-current", "page"
    )
    found = page.locator(f'#messages [data-message-id="{target["id"]}"]')
    expect(found).to_have_class(re.compile(r"\bhighlight\b"))
    expect(found).to_be_in_viewport()
    expect(found).to_contain_text("where did I leave the quokka?")
