"""Search in the sidebar finds a turn of another, older conversation and jumps to it; Retry
on a reply found so makes a sibling of that reply."""

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


def test_retry_on_a_reply_found_by_search_makes_a_sibling_of_that_reply(
    page: Page, web: WebService
) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    web.replies.script("where does it sleep?", "The wombat sleeps under the porch.")
    chat.send("where does it sleep?", reply="under the porch.")
    cid = chat.conversation_id()
    question, found = chat.stored(cid)
    for n in range(16):  # 32 later messages: more than the page a conversation opens on
        chat.api_send(cid, f"later question {n}")
    search = page.locator("input#search")
    search.fill("wombat")
    search.press("Enter")
    page.locator(".search-result").click()
    hit = page.locator(f'#messages [data-message-id="{found["id"]}"]')
    expect(hit).to_have_class(re.compile(r"\bhighlight\b"))
    web.replies.script("where does it sleep?", "Retried: in a burrow.")
    hit.locator("button.retry").click()
    reply = chat.wait_reply(1, "Retried: in a burrow.")
    expect(reply.locator(".branch-nav span.branch-pos")).to_have_text("2/2")
    branch = chat.stored(cid)
    assert [m["id"] for m in branch] == [question["id"], branch[1]["id"]]
    assert branch[1]["parent_id"] == question["id"]  # a new reply to that question...
    assert branch[1]["siblings"]["ids"] == [found["id"], branch[1]["id"]]  # ...beside that reply
