"""Attachments in the web chat: images dropped onto the conversation or pasted, a PDF
through the Attach button's file input, each a removable chip until the message goes; the
emulator receives them as image and document blocks, the message lists them (after a
reload too), and a refused file leaves the text and the other attachments as they were."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from pages import ChatPage, WebService
from playwright.sync_api import Page, expect

from claudechat.testing import sample_pdf, sample_png

pytestmark = pytest.mark.web

DROP_JS = """([selector, name, type, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type }));
  const target = document.querySelector(selector);
  for (const kind of ["dragenter", "dragover", "drop"]) {
    target.dispatchEvent(new DragEvent(kind, { dataTransfer: data, bubbles: true, cancelable: true }));
  }
}"""
PASTE_JS = """([name, type, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type }));
  const event = new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true });
  document.querySelector("#prompt").dispatchEvent(event);
}"""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _drop(chat: ChatPage, name: str, data: bytes, media_type: str) -> None:
    chat.page.evaluate(DROP_JS, ["#messages", name, media_type, _b64(data)])


def _paste(chat: ChatPage, name: str, data: bytes, media_type: str) -> None:
    chat.page.evaluate(PASTE_JS, [name, media_type, _b64(data)])


def _chips(chat: ChatPage, *names: str) -> None:
    """Wait for the chips to name `names`, in order (files are read before they show)."""
    chips = chat.page.locator("#attachments .attachment-chip .chip-name")
    expect(chips).to_have_count(len(names))
    if names:
        expect(chips).to_have_text(list(names))


def _blocks(web: WebService, prompt: str) -> list[dict[str, object]]:
    """The content blocks of the user message `prompt` in the one request that asked it."""
    (request,) = web.requests_with_prompt(prompt)
    content: list[dict[str, object]] = request.body["messages"][-1]["content"]
    return content


def test_an_image_dropped_and_one_pasted_go_with_the_message(
    page: Page, web: WebService, artifacts: Path
) -> None:
    dropped, pasted = sample_png(30, 20, shade=11), sample_png(24, 24, shade=12)
    chat = ChatPage(page, web).login("alice").new_chat()
    _drop(chat, "dropped.png", dropped, "image/png")
    _paste(chat, "pasted.png", pasted, "image/png")
    expect(page.locator("#attachments .attachment-chip")).to_have_count(2)
    _chips(chat, "dropped.png", "pasted.png")
    expect(page.locator("#attachments .chip-size").first).to_have_text(f"{len(dropped)} B")
    thumb = page.locator("#attachments .chip-thumb").first
    expect(thumb).to_have_attribute("src", re.compile(r"^blob:"))
    page.wait_for_function(
        "() => document.querySelector('#attachments .chip-thumb').naturalWidth === 30"
    )
    page.screenshot(path=str(artifacts / "attachments-chips.png"))
    chat.send("What are these two?")
    blocks = _blocks(web, "What are these two?")
    assert [b["type"] for b in blocks] == ["image", "image", "text"]
    assert [b["source"] for b in blocks[:2]] == [  # type: ignore[index]
        {"type": "base64", "media_type": "image/png", "data": _b64(dropped)},
        {"type": "base64", "media_type": "image/png", "data": _b64(pasted)},
    ]
    expect(page.locator("#attachments")).to_be_hidden()  # the chips went with the message
    shown = chat.prompts.nth(0).locator(".attachment")
    expect(shown).to_have_count(2)
    expect(shown.nth(0).locator(".attachment-name")).to_have_text("dropped.png")
    expect(shown.nth(0).locator(".attachment-meta")).to_have_text(f"PNG · {len(dropped)} B")
    # the thumbnail comes from the service's route, with the page's session
    page.wait_for_function(
        "() => [...document.querySelectorAll('#messages .attachment-thumb')]"
        ".every((img) => img.complete && img.naturalWidth > 0)"
    )
    page.screenshot(path=str(artifacts / "attachments-sent.png"))
    # reloaded from the store, the attachments are still listed
    cid = chat.conversation_id()
    page.reload()
    page.locator(f'#conversations .conversation[data-id="{cid}"]').click()
    names = chat.prompts.nth(0).locator(".attachment-name")
    expect(names).to_have_text(["dropped.png", "pasted.png"])


def test_a_pdf_through_the_file_input_and_a_chip_removed(page: Page, web: WebService) -> None:
    pdf = sample_pdf(2)
    chat = ChatPage(page, web).login("alice").new_chat()
    page.locator("input#attach-file").set_input_files([
        {"name": "report.pdf", "mimeType": "application/pdf", "buffer": pdf},
        {"name": "unwanted.png", "mimeType": "image/png", "buffer": sample_png(8, 8)},
    ])  # fmt: skip
    expect(page.locator("#attachments .attachment-chip")).to_have_count(2)
    expect(page.locator("#attachments .chip-icon")).to_have_text("PDF")
    page.get_by_role("button", name="Remove unwanted.png").click()
    _chips(chat, "report.pdf")
    chat.send("Summarise the report")
    blocks = _blocks(web, "Summarise the report")
    assert [b["type"] for b in blocks] == ["document", "text"]
    assert blocks[0]["title"] == "report.pdf"
    assert blocks[0]["source"] == {"type": "base64", "media_type": "application/pdf",
                                   "data": _b64(pdf)}  # fmt: skip
    item = chat.prompts.nth(0).locator(".attachment")
    expect(item).to_have_count(1)
    expect(item.locator("a.attachment-name")).to_have_text("report.pdf")
    expect(item.locator(".attachment-meta")).to_have_text(re.compile(r"^PDF · \d"))
    href = item.locator("a.attachment-name").get_attribute("href")
    assert href is not None
    answer = chat.context.request.get(web.url + href)
    assert answer.ok and answer.body() == pdf


def test_a_refused_file_keeps_the_text_and_the_other_attachments(
    page: Page, web: WebService
) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    prompt = page.locator("textarea#prompt")
    prompt.fill("Compare these, please")
    _drop(chat, "keep.png", sample_png(10, 10, shade=3), "image/png")
    expect(page.locator("#attachments .attachment-chip")).to_have_count(1)
    # refused in the page: its first bytes are no image nor PDF, whatever its name says
    _drop(chat, "notes.png", b"just some notes, not an image", "image/png")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("notes.png")
    expect(page.locator("#error")).to_contain_text("not a PNG, JPEG, GIF or WebP image nor a PDF")
    _chips(chat, "keep.png")
    expect(prompt).to_have_value("Compare these, please")
    # refused by the service: an image over the API's 8,000 pixels a side
    _drop(chat, "wide.png", sample_png(9000, 2), "image/png")
    _chips(chat, "keep.png", "wide.png")
    prompt.press("Enter")
    expect(page.locator("#error")).to_contain_text("wide.png")
    expect(page.locator("#error")).to_contain_text("8,000")
    expect(prompt).to_have_value("Compare these, please")
    _chips(chat, "keep.png", "wide.png")
    assert web.requests_with_prompt("Compare these, please") == []
    # without the refused one, the same message goes
    page.get_by_role("button", name="Remove wide.png").click()
    before = chat.replies.count()
    prompt.press("Enter")
    chat.wait_reply(before + 1, "to: Compare these, please")
    assert [b["type"] for b in _blocks(web, "Compare these, please")] == ["image", "text"]
    expect(page.locator("#error")).to_be_hidden()
