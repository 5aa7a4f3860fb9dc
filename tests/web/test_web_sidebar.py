"""The sidebar's rename (Enter saves, Esc cancels) and delete (an in-page confirmation);
a message's details; a failed send keeps the text in the box and says why."""

from __future__ import annotations

import pytest
from pages import ChatPage, WebService
from playwright.sync_api import Locator, Page, expect

from claudechat.testing import Fault

pytestmark = pytest.mark.web


def _item(chat: ChatPage, cid: str) -> Locator:
    return chat.page.locator(f'#conversations .conversation[data-id="{cid}"]')


def test_rename_saves_on_enter_and_cancels_on_escape(page: Page, web: WebService) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    chat.send("a conversation to rename")
    cid = chat.conversation_id()
    _item(chat, cid).locator("button.rename").click()
    field = _item(chat, cid).locator("input.rename-input")
    field.fill("Renamed <b>plans</b>")
    field.press("Enter")
    expect(_item(chat, cid)).to_contain_text("Renamed <b>plans</b>")  # shown as text
    assert chat.api(f"/v1/conversations/{cid}")["title"] == "Renamed <b>plans</b>"
    _item(chat, cid).locator("button.rename").click()
    field = _item(chat, cid).locator("input.rename-input")
    field.fill("not this")
    field.press("Escape")
    expect(field).to_have_count(0)
    expect(_item(chat, cid)).to_contain_text("Renamed <b>plans</b>")
    assert chat.api(f"/v1/conversations/{cid}")["title"] == "Renamed <b>plans</b>"


def test_delete_asks_in_the_page_and_cancel_keeps_it(page: Page, web: WebService) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    chat.send("a conversation to delete")
    cid = chat.conversation_id()
    page.on("dialog", lambda dialog: pytest.fail(f"a browser dialog opened: {dialog.message}"))
    _item(chat, cid).locator("button.delete").click()
    confirm = page.locator("dialog#confirm")
    expect(confirm).to_be_visible()
    confirm.locator("button.confirm-no").click()
    expect(confirm).to_be_hidden()
    expect(_item(chat, cid)).to_have_count(1)
    assert chat.api(f"/v1/conversations/{cid}")["id"] == cid
    _item(chat, cid).locator("button.delete").click()
    confirm.locator("button.confirm-yes").click()
    expect(_item(chat, cid)).to_have_count(0)
    gone = page.context.request.get(f"{web.url}/v1/conversations/{cid}")
    assert gone.status == 404


def test_details_show_the_stored_usage_cost_and_model(page: Page, web: WebService) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    reply = chat.send("how much did this cost?")
    stored = chat.stored(chat.conversation_id())[-1]
    panel = reply.locator("div.details")  # (the button has the class too)
    expect(panel).to_be_hidden()
    reply.locator("button.details").click()
    expect(panel).to_be_visible()
    usage = stored["usage"]
    field = lambda name: panel.locator(f"[data-field={name}]")  # noqa: E731
    expect(field("input_tokens")).to_have_text(f"{usage['input_tokens']:,}")
    expect(field("output_tokens")).to_have_text(f"{usage['output_tokens']:,}")
    expect(field("cache_read")).to_have_text(f"{usage['cache_read_tokens']:,}")
    expect(field("model")).to_have_text(stored["model"])
    expect(field("stop_reason")).to_have_text("end_turn")
    assert float(field("cost_usd").get_attribute("data-usd") or "nan") == stored["cost_usd"] > 0


def test_a_failed_send_keeps_the_text_and_shows_the_error(page: Page, web: WebService) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    chat.send("this one works")
    web.emulator.inject(Fault.status(400, message="the emulator refuses this request"))
    chat.type_and_send("this one fails")
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_contain_text("400")
    expect(page.locator("textarea#prompt")).to_have_value("this one fails")
    expect(page.locator("button#stop")).to_be_hidden()
    chat.page.locator("textarea#prompt").press("Enter")  # sent again, it works
    chat.wait_reply(2, "to: this one fails")
    expect(page.locator("textarea#prompt")).to_have_value("")
