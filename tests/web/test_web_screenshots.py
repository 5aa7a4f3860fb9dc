"""The web chat at 1280 px and at 375 px (a phone): screenshots kept as test artifacts
(tests/web/artifacts/), and the narrow page stays usable (no sideways scroll, the sidebar
behind the menu button)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pages import ChatPage, WebService
from playwright.sync_api import Browser, expect

pytestmark = pytest.mark.web

CODE = (
    "A function that doubles a number:\n\n```python\ndef double(x: int) -> int:\n"
    '    """Twice x."""\n    return 2 * x\n```\n\nIt returns **twice** its argument.'
)


SIGHTS = "1. Belém Tower\n2. Jerónimos Monastery\n3. The old quarter, Alfama."


@pytest.mark.parametrize(("width", "height", "scheme"),
                         [(1280, 800, "light"), (375, 740, "dark")])  # fmt: skip
def test_screenshots_and_a_usable_narrow_page(
    browser: Browser, web: WebService, artifacts: Path, width: int, height: int, scheme: str
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height},
                                  color_scheme=scheme)  # type: ignore[arg-type]  # fmt: skip
    try:
        chat = ChatPage(context.new_page(), web).login("zoe").new_chat()
        if width > 600:  # a second conversation in the sidebar (the user's, for both widths)
            web.replies.script("three sights in Lisbon?", SIGHTS)
            chat.send("three sights in Lisbon?", reply="Alfama.")
            chat.new_chat()
        web.replies.script("how do I double a number in Python?", CODE)
        chat.send("how do I double a number in Python?", reply="argument.")
        web.replies.script("thanks!", "You're welcome.")
        chat.send("thanks!", reply="You're welcome.")
        page = chat.page
        # settled before the picture: the last message has its actions, the gauge its figures
        expect(chat.prompts.last.locator("button.edit")).to_be_visible()
        cost = chat.api(f"/v1/conversations/{chat.conversation_id()}/cost")
        window = page.locator("#gauge [data-gauge=window]")
        expect(window).to_contain_text(f"{cost['last_request_tokens']:,} / ")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {width} px"
        expect(page.locator("textarea#prompt")).to_be_visible()
        expect(page.locator("button#send")).to_be_visible()
        page.screenshot(path=str(artifacts / f"chat-{width}.png"), full_page=False)
        if width < 600:
            menu = page.locator("button#menu")
            expect(menu).to_be_visible()
            expect(page.locator("#sidebar")).not_to_be_in_viewport()  # behind the menu
            menu.click()
            expect(page.locator("#sidebar")).to_be_in_viewport(ratio=0.99)
            expect(page.locator("#conversations .conversation").first).to_be_visible()
            page.screenshot(path=str(artifacts / f"chat-{width}-menu.png"))
    finally:
        context.close()
