"""Thinking and tool use in the web chat: each thinking block, tool call and tool result is a
<details> shown collapsed, opened on demand, its text inert (shown as text, never run)."""

from __future__ import annotations

import pytest
from pages import ChatPage, WebService
from playwright.sync_api import Page, expect

from claudechat.testing import EmuReply, EmuRequest

pytestmark = pytest.mark.web

PAYLOAD = '<img src=x onerror="window.__pwned = 1">'
THOUGHT = f"I should look this up first. {PAYLOAD}"
PROMPT = "What is the weather in Lyon?"


def _weather(request: EmuRequest) -> EmuReply | str:
    """A thinking block and a tool call; once the tool's result comes back, the answer."""
    last = request.messages[-1]["content"]
    if isinstance(last, list) and any(b.get("type") == "tool_result" for b in last):
        return "It is sunny in Lyon."
    return EmuReply([
        {"type": "thinking", "thinking": THOUGHT},
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "name": "get_weather", "input": {"city": "Lyon", "note": PAYLOAD}},
    ], stop_reason="tool_use")  # fmt: skip


def test_thinking_and_tool_use_are_collapsed_openable_and_inert(
    page: Page, web: WebService
) -> None:
    web.replies.script(PROMPT, _weather)
    chat = ChatPage(page, web).login("alice").new_chat()
    chat.type_and_send(PROMPT)
    chat.wait_reply(2, "It is sunny in Lyon.")
    messages = page.locator("#messages")
    thinking = messages.locator("details.thinking")
    tools = messages.locator("details.tool")
    expect(thinking).to_have_count(1)
    expect(tools).to_have_count(2)  # the call and its result
    for details in (thinking.nth(0), tools.nth(0), tools.nth(1)):
        assert details.evaluate("d => d.open") is False
        expect(details.locator(".block-text")).to_be_hidden()
    expect(tools.nth(0).locator("summary")).to_have_text("Tool call: get_weather")
    thinking.nth(0).locator("summary").click()
    assert thinking.nth(0).evaluate("d => d.open") is True
    expect(thinking.nth(0).locator(".block-text")).to_be_visible()
    expect(thinking.nth(0).locator(".block-text")).to_have_text(THOUGHT)
    tools.nth(0).locator("summary").click()
    expect(tools.nth(0).locator(".block-text")).to_contain_text('"city": "Lyon"')
    expect(tools.nth(0).locator(".block-text")).to_contain_text("onerror")
    # the payload is text: no element was made of it, nothing ran
    assert messages.locator("details img").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    # reloaded from the store, they are collapsed again
    page.reload()
    expect(page.locator("#messages details.thinking")).to_have_count(1)
    assert page.locator("#messages details.thinking").evaluate("d => d.open") is False
