"""Export downloads valid JSON and Markdown files; the gauge shows the API's own numbers."""

from __future__ import annotations

import json
import re

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
