"""Branches in the browser: retry makes a sibling reply with a ‹ 2/2 › navigator that
switches both ways, editing an earlier message starts a new branch, fork makes a new
conversation."""

from __future__ import annotations

import pytest
from pages import ChatPage, WebService, squash
from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.web


def _position(message: Locator) -> Locator:
    return message.locator(".branch-nav span.branch-pos")


def test_retry_shows_2_of_2_and_the_navigator_switches_both_ways(
    page: Page, web: WebService
) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    first = squash(chat.send("pick a colour").locator(".content").inner_text())
    chat.replies.nth(0).locator("button.retry").click()
    # the new reply has begun (until then, the old one would pass for it), then it ends
    expect(chat.replies.nth(0).locator(".content")).not_to_have_text(first)
    reply = chat.wait_reply(1, "to: pick a colour")
    second = squash(reply.locator(".content").inner_text())
    expect(_position(reply)).to_have_text("2/2")
    cid = chat.conversation_id()
    assert squash(chat.stored(cid)[-1]["text"]) == second

    reply.locator(".branch-nav button.prev").click()
    reply = chat.replies.nth(0)
    expect(_position(reply)).to_have_text("1/2")
    expect(reply.locator(".content")).to_have_text(first)
    expect(chat.messages).to_have_count(2)
    assert squash(chat.stored(cid)[-1]["text"]) == first  # the active branch switched

    reply.locator(".branch-nav button.next").click()
    reply = chat.replies.nth(0)
    expect(_position(reply)).to_have_text("2/2")
    expect(reply.locator(".content")).to_have_text(second)
    assert squash(chat.stored(cid)[-1]["text"]) == second
    # the next turn continues the branch on screen
    chat.send("and another?")
    stored = [squash(m["text"]) for m in chat.stored(cid)]
    assert stored[:2] == ["pick a colour", second]


def test_editing_an_earlier_message_starts_a_new_branch(page: Page, web: WebService) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    chat.send("the first question")
    chat.send("the second question")
    chat.prompts.nth(0).locator("button.edit").click()
    editor = chat.page.locator("textarea.edit-input")
    expect(editor).to_have_value("the first question")
    editor.fill("the first question, asked better")
    chat.page.locator("button.edit-save").click()
    reply = chat.wait_reply(1, "to: the first question, asked better")
    expect(chat.messages).to_have_count(2)  # the second turn stays on the old branch
    expect(chat.prompt_texts).to_have_text(["the first question, asked better"])
    edited = chat.prompts.nth(0)
    expect(_position(edited)).to_have_text("2/2")
    (request,) = web.requests_with_prompt("the first question, asked better")
    assert len(request.body["messages"]) == 1  # the new branch starts from the root
    assert [squash(m["text"]) for m in chat.stored(chat.conversation_id())] == [
        "the first question, asked better",
        squash(reply.locator(".content").inner_text()),
    ]

    edited.locator(".branch-nav button.prev").click()
    expect(chat.prompt_texts).to_have_text(["the first question", "the second question"])
    expect(_position(chat.prompts.nth(0))).to_have_text("1/2")


def test_fork_opens_a_new_conversation_with_the_branch_and_leaves_this_one(
    page: Page, web: WebService
) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    chat.send("a fork in the road")
    chat.send("which way now")
    original = chat.conversation_id()
    kept = chat.stored(original)
    chat.replies.nth(0).locator("button.fork").click()  # fork at the first reply
    page.wait_for_function(
        """(was) => { const c = document.querySelector(
                          '#conversations .conversation[aria-current="page"]');
                      return c !== null && c.dataset.id !== was; }""",
        arg=original,
    )
    forked = chat.conversation_id()
    expect(chat.prompt_texts).to_have_text(["a fork in the road"])
    expect(chat.messages).to_have_count(2)
    assert [m["text"] for m in chat.stored(forked)] == [m["text"] for m in kept[:2]]
    assert chat.stored(original) == kept  # the original is unchanged
    ids = [c["id"] for c in chat.api("/v1/conversations")["data"]]
    assert ids[0] == forked and original in ids
    expect(page.locator(f'#conversations .conversation[data-id="{forked}"]')).to_be_visible()
    chat.send("the other way")
    assert len(chat.stored(forked)) == 4 and chat.stored(original) == kept
