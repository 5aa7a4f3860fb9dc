"""Stopping a reply mid-way: the partial reply stays, is marked, and (as the README says:
"Partial replies are resent") the next request carries its text."""

from __future__ import annotations

import re

import pytest
from pages import ChatPage, WebService, squash, text_of
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.web

STORY = " ".join(f"story{i:04d}" for i in range(3000))  # 15 s at 5 ms a word: stopped long before


def _stop_mid_way(chat: ChatPage, prompt: str, *, key: bool) -> dict[str, object]:
    """Send `prompt` (scripted to the long STORY), stop it once some words showed, with the
    stop button or Esc; the stored partial reply."""
    chat.web.replies.script(prompt, STORY)
    chat.type_and_send(prompt)
    chat.page.wait_for_function(
        """() => { const m = document.querySelector('#messages .message[data-role=assistant]');
                   return m !== null && m.textContent.includes('story0020'); }""",
        polling="raf",
    )
    if key:
        chat.page.locator("textarea#prompt").press("Escape")
    else:
        chat.page.locator("button#stop").click()
    expect(chat.page.locator("button#stop")).to_be_hidden()
    reply = chat.replies.nth(0)
    expect(reply).to_have_class(re.compile(r"\bpartial\b"))
    expect(reply.locator(".partial-mark")).to_be_visible()
    expect(reply.locator(".partial-mark")).to_contain_text("stopped")
    stored = chat.stored(chat.conversation_id())
    assert [m["role"] for m in stored] == ["user", "assistant"]
    partial = stored[1]
    assert partial["status"] == "partial"
    text = squash(str(partial["text"]))
    assert text and STORY.startswith(text) and len(text) < len(STORY)
    expect(reply.locator(".content")).to_have_text(text)  # what is kept is what is shown
    return partial


def test_stop_keeps_the_partial_reply_marked_and_the_next_turn_resends_it(
    page: Page, web: WebService
) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    partial = _stop_mid_way(chat, "tell me the long story", key=False)
    chat.send("and then?")
    (request,) = web.requests_with_prompt("and then?")
    sent = [(m["role"], squash(text_of(m))) for m in request.body["messages"]]
    assert sent == [("user", "tell me the long story"),
                    ("assistant", squash(str(partial["text"]))),
                    ("user", "and then?")]  # fmt: skip
    # after a reload the mark is still there: it comes from the store, not the page's memory
    cid = chat.conversation_id()
    page.reload()
    page.locator(f'#conversations .conversation[data-id="{cid}"]').click()
    expect(chat.replies.nth(0).locator(".partial-mark")).to_be_visible()
    expect(chat.replies.nth(1).locator(".partial-mark")).to_have_count(0)


def test_escape_stops_the_reply_too(page: Page, web: WebService) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    _stop_mid_way(chat, "tell me the other long story", key=True)
