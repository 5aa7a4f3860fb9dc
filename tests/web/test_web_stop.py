"""Stopping a reply mid-way: the partial reply stays, is marked, and (as the README says:
"Partial replies are resent") the next request carries its text. Stopped before any text,
the user's message shows it had no reply: Retry answers it, or the next message goes with
it."""

from __future__ import annotations

import re

import pytest
from pages import ChatPage, WebService, long_reply, squash, text_of
from playwright.sync_api import Locator, Page, expect

from claudechat.testing import EmuReply, EmuRequest

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


def test_a_stopped_reply_opened_again_shows_as_stored_not_replayed(
    page: Page, web: WebService
) -> None:
    """The service keeps a finished turn's events for a while (a client that lost its
    stream reattaches); a stopped reply opened again is not followed through them: no turn
    runs (the messages page says so), so Stop does not flash up while they replay."""
    chat = ChatPage(page, web).login("alice").new_chat()
    _stop_mid_way(chat, "stop me, then come back", key=False)
    cid = chat.conversation_id()
    chat.new_chat()
    chat.send("meanwhile, elsewhere")
    followed: list[str] = []
    page.on("request", lambda r: followed.append(r.url) if "/stream" in r.url else None)
    page.locator(f'#conversations .conversation[data-id="{cid}"]').click()
    expect(chat.prompt_texts).to_have_text(["stop me, then come back"])
    expect(chat.replies.nth(0).locator(".partial-mark")).to_be_visible()
    expect(page.locator("button#send")).to_be_enabled()
    assert followed == []


def test_escape_stops_the_reply_too(page: Page, web: WebService) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    _stop_mid_way(chat, "tell me the other long story", key=True)


THOUGHTS = long_reply("h", 3000)  # 15 s of thinking before any text


def _thinks_long(request: EmuRequest) -> EmuReply:
    """A reply that thinks for long before its text."""
    return EmuReply([{"type": "thinking", "thinking": THOUGHTS},
                     {"type": "text", "text": "Too late."}])  # fmt: skip


def _stop_while_thinking(chat: ChatPage, prompt: str, *, position: int) -> Locator:
    """Send `prompt` (scripted to think long), stop it before any text; its message, the
    `position`-th user message."""
    chat.web.replies.script(prompt, _thinks_long)
    chat.type_and_send(prompt)
    expect(chat.page.locator("textarea#prompt")).to_have_value("")  # the turn started
    chat.page.locator("button#stop").click()
    expect(chat.page.locator("button#stop")).to_be_hidden()
    return chat.prompts.nth(position)


def test_a_message_stopped_before_any_reply_is_marked_and_goes_with_the_next(
    page: Page, web: WebService
) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    chat.send("a first question")
    unanswered = _stop_while_thinking(chat, "think hard about this", position=1)
    expect(unanswered.locator(".content")).to_have_text("think hard about this")
    expect(unanswered.locator(".no-reply")).to_have_text("no reply — stopped")
    expect(unanswered.locator("button.retry")).to_be_visible()
    cid = chat.conversation_id()
    assert [m["role"] for m in chat.stored(cid)] == ["user", "assistant", "user"]
    chat.send("and a second one", reply="and a second one")
    # the model got the two as one message; the page shows the branch as stored, saying so
    (request,) = web.requests_with_prompt("think hard about this\nand a second one")
    assert [m["role"] for m in request.body["messages"]] == ["user", "assistant", "user"]
    stored = chat.stored(cid)
    assert [m["role"] for m in stored] == ["user", "assistant", "user", "user", "assistant"]
    expect(chat.messages).to_have_count(5)
    assert [m.get_attribute("data-message-id") for m in chat.messages.all()] == [
        m["id"] for m in stored
    ]
    expect(unanswered.locator(".sent-with-next")).to_have_text("sent with the next message")
    expect(unanswered.locator("button.retry")).to_have_count(0)
    expect(chat.page.locator("#messages .no-reply")).to_have_count(0)


def test_retry_on_a_message_with_no_reply_answers_it(page: Page, web: WebService) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    unanswered = _stop_while_thinking(chat, "ponder this", position=0)
    web.replies.script("ponder this", "Pondered.")
    unanswered.locator("button.retry").click()
    chat.wait_reply(1, "Pondered.")
    stored = chat.stored(chat.conversation_id())
    assert [(m["role"], m["text"]) for m in stored] == [("user", "ponder this"),
                                                        ("assistant", "Pondered.")]  # fmt: skip
    assert stored[1]["parent_id"] == stored[0]["id"]
    expect(chat.page.locator("#messages .no-reply")).to_have_count(0)
