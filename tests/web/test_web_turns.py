"""Streamed turns in the browser: three turns, each sent with Enter, streamed, rendered as
Markdown, and sent to the model with the whole history."""

from __future__ import annotations

import pytest
from pages import ChatPage, WebService, squash, text_of
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.web

LONG = " ".join(f"word{i:03d}" for i in range(300))  # 300 streamed words: 1.5 s at 5 ms
CODE = "Here is code:\n\n```python\ndef double(x):\n    return 2 * x\n```\n\nDone."


def test_three_streamed_turns(page: Page, web: WebService) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    web.replies.script("first: say many words", LONG)
    chat.type_and_send("first: say many words")
    first = chat.replies.nth(0)
    # the reply shows while it streams: some words, not yet the last, the stop button up
    page.wait_for_function(
        """() => { const m = document.querySelector('#messages .message[data-role=assistant]');
                   const t = m ? m.textContent : '';
                   return t.includes('word010') && !t.includes('word299'); }""",
        polling="raf",
    )
    expect(page.locator("button#stop")).to_be_visible()
    chat.wait_reply(1, "word299")
    expect(first.locator(".content")).to_have_text(LONG)
    second = chat.send("second: and the next?")
    third = chat.send("third: one more")
    expect(chat.prompt_texts).to_have_text(
        ["first: say many words", "second: and the next?", "third: one more"]
    )
    expect(second.locator(".content")).to_contain_text("to: second: and the next?")
    expect(third.locator(".content")).to_contain_text("to: third: one more")
    (request,) = web.requests_with_prompt("third: one more")
    sent = [(m["role"], squash(text_of(m))) for m in request.body["messages"]]
    assert sent[:3] == [("user", "first: say many words"), ("assistant", LONG),
                        ("user", "second: and the next?")]  # fmt: skip
    assert sent[-1] == ("user", "third: one more") and len(sent) == 5
    stored = chat.stored(chat.conversation_id())
    assert [m["role"] for m in stored] == ["user", "assistant"] * 3


def test_markdown_code_is_highlighted_with_a_copy_button_and_shift_enter_is_a_newline(
    page: Page, web: WebService
) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    prompt = page.locator("textarea#prompt")
    prompt.fill("show me")
    prompt.press("Shift+Enter")
    prompt.type("some code")
    expect(prompt).to_have_value("show me\nsome code")
    expect(chat.messages).to_have_count(0)  # Shift-Enter did not send
    web.replies.script("show me\nsome code", CODE)
    before = chat.replies.count()
    prompt.press("Enter")
    reply = chat.wait_reply(before + 1, "Done.")
    block = reply.locator("pre")
    expect(block).to_have_count(1)
    expect(block).to_contain_text("def double(x):")
    expect(reply.locator("button.copy-code")).to_have_count(1)
    # Pygments marks the keyword with a class (highlighting is class-based, CSS shipped)
    assert reply.locator("pre span[class]").count() > 0
    expect(prompt).to_have_value("")


def test_line_breaks_typed_in_a_message_stay_once_it_is_stored(page: Page, web: WebService) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    prompt = page.locator("textarea#prompt")
    prompt.fill("line one")
    for line in ("line two  ", "line three"):  # the second ends in a Markdown hard break
        prompt.press("Shift+Enter")
        prompt.type(line)
    before = chat.replies.count()
    prompt.press("Enter")
    chat.wait_reply(before + 1, "line three")
    shown = chat.prompt_texts.nth(0)
    expect(shown.locator("p.plain")).to_have_count(0)  # the stored message, as rendered
    expect(shown.locator("p")).to_have_count(1)  # one paragraph, three lines: as typed
    expect(shown).to_have_js_property("innerText", "line one\nline two\nline three")
