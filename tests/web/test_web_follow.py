"""A turn outlives the page that shows it: a reload, or the conversation opened again, shows
the running reply live (Stop stops it); another conversation opened meanwhile is free (its
Send works, Esc there stops nothing); a send refused because another tab's turn runs
follows that turn, and its error goes when the turn ends."""

from __future__ import annotations

import re

import pytest
from pages import ChatPage, WebService, long_reply, squash, word
from playwright.sync_api import BrowserContext, Page, expect

pytestmark = pytest.mark.web

STORY = long_reply("s", 3000)  # 15 s at 5 ms a word: stopped long before
TALE = long_reply("t", 1000)  # 5 s: it ends while the test waits


def _shows(chat: ChatPage, word: str) -> None:
    """Wait until the last reply on screen shows `word`."""
    chat.page.wait_for_function(
        """(word) => { const m = [...document.querySelectorAll(
                           '#messages .message[data-role=assistant]')].pop();
                       return m !== undefined && m.textContent.includes(word); }""",
        arg=word,
        polling="raf",
    )


def test_a_reload_mid_reply_shows_the_running_turn_live_and_stop_stops_it(
    page: Page, web: WebService
) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    chat.send("before the reload")
    cid = chat.conversation_id()
    web.replies.script("a long story, reloaded", STORY)
    chat.type_and_send("a long story, reloaded")
    _shows(chat, word("s", 20))
    page.reload()
    expect(page.locator("#app")).to_be_visible()
    reply = chat.replies.nth(1)
    expect(reply).to_have_class(re.compile(r"\bstreaming\b"))  # not "stopped": it runs
    expect(reply.locator(".partial-mark")).to_have_count(0)
    expect(page.locator("button#stop")).to_be_visible()
    expect(page.locator("button#send")).to_be_disabled()
    _shows(chat, word("s", 300))  # later words arrive
    page.locator("button#stop").click()
    expect(page.locator("button#stop")).to_be_hidden()
    expect(reply).to_have_class(re.compile(r"\bpartial\b"))
    expect(reply.locator(".partial-mark")).to_be_visible()
    stored = chat.stored(cid)
    assert [m["role"] for m in stored] == ["user", "assistant"] * 2
    assert stored[-1]["status"] == "partial" and word("s", 300) in stored[-1]["text"]
    expect(reply.locator(".content")).to_have_text(squash(stored[-1]["text"]))
    expect(page.locator("button#send")).to_be_enabled()


def test_another_conversation_opened_mid_reply_is_free_and_the_reply_goes_on(
    page: Page, web: WebService
) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    chat.send("the other conversation")
    other = chat.conversation_id()
    chat.new_chat()
    chat.send("this conversation")
    first = chat.conversation_id()
    web.replies.script("tell the tale while I look elsewhere", TALE)
    chat.type_and_send("tell the tale while I look elsewhere")
    _shows(chat, word("t", 20))
    chat.sidebar().page.locator(f'#conversations .conversation[data-id="{other}"] .open').click()
    expect(chat.prompt_texts).to_have_text(["the other conversation"])
    # at once (the other turn runs for seconds yet): that turn is not this conversation's
    assert page.locator("button#stop").is_hidden() and page.locator("button#send").is_enabled()
    page.locator("textarea#prompt").press("Escape")  # stops nothing here
    chat.send("meanwhile, in this one")  # a turn of this conversation while the other runs
    chat.sidebar().page.locator(f'#conversations .conversation[data-id="{first}"] .open').click()
    reply = chat.wait_reply(2, word("t", 999))  # followed again (if it still runs), to its end
    expect(reply.locator(".partial-mark")).to_have_count(0)
    expect(reply.locator(".content")).to_have_text(TALE)
    assert [m["status"] for m in chat.stored(first)] == ["complete"] * 4
    assert [m["role"] for m in chat.stored(other)] == ["user", "assistant"] * 2


def test_a_send_refused_while_another_tab_runs_a_turn_follows_it_and_its_error_goes(
    page: Page, context: BrowserContext, web: WebService
) -> None:
    first = ChatPage(page, web).login("alice").new_chat()
    first.send("two tabs, one conversation")
    cid = first.conversation_id()
    second = ChatPage(context.new_page(), web)
    second.page.goto(f"{web.url}/#c={cid}")
    expect(second.replies).to_have_count(1)
    web.replies.script("the first tab's long turn", STORY)
    first.type_and_send("the first tab's long turn")
    _shows(first, word("s", 20))
    second.type_and_send("the second tab's message")
    error = second.page.locator("#error")
    expect(error).to_contain_text("in flight")
    expect(second.page.locator("textarea#prompt")).to_have_value("the second tab's message")
    expect(second.page.locator("button#stop")).to_be_visible()  # it shows the running turn
    _shows(second, word("s", 100))
    first.page.locator("button#stop").click()
    expect(error).to_be_hidden()  # the turn it was about has ended
    expect(second.page.locator("button#stop")).to_be_hidden()
    expect(second.replies.nth(1).locator(".partial-mark")).to_be_visible()
    expect(second.page.locator("button#send")).to_be_enabled()
