"""Export downloads valid JSON and Markdown files (and the JSON imports back); the gauge
shows the API's own numbers; the settings panel changes what the next request sends."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from pages import ChatPage, WebService, text_of
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.web


def _download(chat: ChatPage, button: str) -> tuple[str, str]:
    """Click `button`; the downloaded file's suggested name and its text."""
    with chat.page.expect_download() as started:
        chat.page.locator(button).click()
    download = started.value
    path = download.path()
    assert path is not None, download.failure()
    return download.suggested_filename, path.read_text(encoding="utf-8")


def test_export_downloads_valid_json_and_markdown(page: Page, web: WebService) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    chat.send("export me, please")
    chat.send("and this line too")
    cid = chat.conversation_id()
    name, text = _download(chat, "button#export-json")
    assert name.endswith(".json")
    exported = json.loads(text)
    assert exported["format"] == "claudechat" and exported["conversation"]["id"] == cid
    stored = {m["id"]: m["text"] for m in chat.stored(cid)}
    assert {m["id"]: text_of(m) for m in exported["messages"]} == stored
    name, text = _download(chat, "button#export-markdown")
    assert name.endswith(".md")
    assert "export me, please" in text and "and this line too" in text
    for message in stored.values():
        assert message.splitlines()[0] in text
    # the JSON file imported back: it is here already; "no" opens the one that is here
    back = {"name": "back.json", "mimeType": "application/json",
            "buffer": json.dumps(exported).encode()}  # fmt: skip
    chat.new_chat()
    page.locator("input#import-file").set_input_files(files=[back])
    confirm = page.locator("dialog#confirm")
    expect(confirm).to_contain_text("“export me, please” is here already")
    confirm.locator("button.confirm-no").click()
    expect(confirm).to_be_hidden()
    expect(page.locator('#conversations .conversation[aria-current="page"]')).to_have_attribute(
        "data-id", cid
    )
    assert _titled(chat, "export me, please") == [cid]  # no copy was made
    # "Import a copy": a new conversation, opened, with the same messages
    page.locator("input#import-file").set_input_files(files=[back])
    expect(confirm.locator("button.confirm-yes")).to_have_text("Import a copy")
    confirm.locator("button.confirm-yes").click()
    page.wait_for_function(
        """(was) => { const c = document.querySelector(
                          '#conversations .conversation[aria-current="page"]');
                      return c !== null && c.dataset.id !== was; }""",
        arg=cid,
    )
    copy = chat.conversation_id()
    expect(chat.prompt_texts).to_have_text(["export me, please", "and this line too"])
    assert [m["text"] for m in chat.stored(copy)] == list(stored.values())


def _titled(chat: ChatPage, title: str) -> list[str]:
    """The ids of the user's conversations titled `title`."""
    found = chat.api(f"/v1/conversations?limit=500&q={quote(title)}")["data"]
    return [c["id"] for c in found if c["title"] == title]


def _number(text: str) -> float:
    """The first number in `text` (thousands separators dropped)."""
    found = re.search(r"-?\d[\d,]*(?:\.\d+)?", text)
    assert found, f"no number in {text!r}"
    return float(found.group().replace(",", ""))


def test_the_gauge_equals_the_apis_cost(page: Page, web: WebService) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    # a long first prompt: over the model's minimum cacheable length, so that the second
    # request reads it from the prompt cache and the cache shares are not all zero
    long_prompt = "count my tokens: " + " ".join(f"item{i}" for i in range(1500))
    web.replies.script(long_prompt, "Counted.")
    chat.send(long_prompt, reply="Counted.")
    chat.send("and count them again")
    cid = chat.conversation_id()
    cost = chat.api(f"/v1/conversations/{cid}/cost")
    gauge = page.locator("#gauge")
    # the cost, exactly (its data-usd attribute holds the float the API gave)
    page.wait_for_function(
        """(usd) => { const g = document.querySelector('#gauge [data-gauge=cost]');
                      return g !== null && Math.abs(parseFloat(g.dataset.usd) - usd) <= 1e-12; }""",
        arg=cost["cost_usd"],
    )
    assert cost["cost_usd"] > 0
    # the conversation's cache-hit share, in percent
    # the cache-hit shares, of the conversation and of the last request, in percent
    for name, ratio in (("cache-conv", cost["cache_hit_ratio"]),
                        ("cache-last", cost["last_cache_hit_ratio"])):  # fmt: skip
        shown = gauge.locator(f"[data-gauge={name}]").inner_text()
        assert ratio is not None and abs(_number(shown) - 100 * ratio) <= 0.5, (name, shown)
    assert cost["last_cache_hit_ratio"] > 0  # the second request read the first from the cache
    # the window: the tokens the last request sent (as the emulator counted them), of the budget
    window = gauge.locator("[data-gauge=window]").inner_text()
    sent, budget = (_number(part) for part in window.split("/", 1))
    (last,) = web.requests_with_prompt("and count them again")
    assert sent == cost["last_request_tokens"] == web.emulator.count_request_tokens(last.body)
    assert budget == cost["budget"] and budget > sent
    # the user's spend this month, as /v1/usage gives it
    usage = chat.api("/v1/usage")
    spend = gauge.locator("[data-gauge=spend]")
    expect(spend).to_have_attribute("data-usd", re.compile(r"\d"))
    assert float(spend.get_attribute("data-usd") or "nan") == usage["month_usd"] > 0


def test_settings_change_the_next_request(page: Page, web: WebService) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    chat.send("before the settings")
    cid = chat.conversation_id()
    page.locator("button#settings").click()
    panel = page.locator("#settings-panel")
    expect(panel).to_be_visible()
    panel.locator("textarea[name=system]").fill("Answer like a pirate.")
    panel.locator("select[name=strategy]").select_option("summary")
    panel.locator("input[name=budget]").fill("20480")
    expect(panel.locator("input[name=recall]")).to_be_checked()  # the server's default: on
    panel.locator("input[name=recall]").uncheck()
    page.locator("button#settings-save").click()
    expect(panel.locator("#settings-status")).to_contain_text("Saved")
    conv = chat.api(f"/v1/conversations/{cid}")
    assert conv["system"] == "Answer like a pirate."
    assert conv["settings"] == {"strategy": "summary", "budget": 20480, "recall": False}
    chat.send("after the settings")
    (request,) = web.requests_with_prompt("after the settings")
    system = request.body.get("system")
    texts = [system] if isinstance(system, str) else [b.get("text", "") for b in system or []]
    assert any("Answer like a pirate." in t for t in texts), system
    window = page.locator("#gauge [data-gauge=window]")
    expect(window).to_contain_text("/ 20,480 tokens")


def test_settings_saved_on_a_new_chat_leave_its_title_to_the_first_message(
    page: Page, web: WebService
) -> None:
    chat = ChatPage(page, web).login("alice").new_chat()
    page.locator("button#settings").click()
    panel = page.locator("#settings-panel")
    panel.locator("textarea[name=system]").fill("Answer in one line.")
    page.locator("button#settings-save").click()
    expect(panel.locator("#settings-status")).to_contain_text("Saved")
    page.locator("button#settings-close").click()
    chat.send("name this chat after me")
    cid = chat.conversation_id()
    expect(page.locator("#conv-title")).to_have_text("name this chat after me")
    item = page.locator(f'#conversations .conversation[data-id="{cid}"] button.open')
    expect(item).to_have_text("name this chat after me")
    conv = chat.api(f"/v1/conversations/{cid}")
    assert conv["title"] == "name this chat after me"
    assert conv["system"] == "Answer in one line."  # the settings stay
