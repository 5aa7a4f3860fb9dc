"""Model output and user text are untrusted: XSS payloads, from the model (the emulator's
scripted reply) and from the user, render as inert text."""

from __future__ import annotations

import pytest
from pages import ChatPage, WebService
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.web

PAYLOADS = [
    '<img src=x onerror="window.__xss = 1">',
    "<script>window.__xss = 2</script>",
    "[click me](javascript:window.__xss=3)",
    '<a href="javascript:window.__xss=4">raw link</a>',
    '<svg onload="window.__xss = 5"></svg>',
    '<iframe srcdoc="<script>parent.__xss = 6</script>"></iframe>',
    '![pic](x" onerror="window.__xss=7)',
    '```html\n<img src=x onerror="window.__xss = 8">\n```',
    '<details open ontoggle="window.__xss = 9">x</details>',
    '[styled](https://example.invalid/ "t" style="x")',
]
DANGEROUS = (
    "#messages script, #messages iframe, #messages object, #messages embed,"
    " #messages [onerror], #messages [onload], #messages [ontoggle], #messages [style],"
    ' #messages a[href^="javascript:" i], #messages img[src^="javascript:" i]'
)
# Guards set before any page script runs: a flag a payload would set, and CSP violations
# (an inline handler the sanitiser let through is refused by the policy: still a failure).
GUARD = """
window.__xss = 0;
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__violations.push(e.violatedDirective + ' ' + (e.sample || '')));
"""


def test_xss_payloads_from_the_model_and_the_user_render_inert(page: Page, web: WebService) -> None:
    page.context.add_init_script(GUARD)
    chat = ChatPage(page, web).login("alice").new_chat()
    reply_text = "\n\n".join(PAYLOADS)
    prompt = "show me the payloads " + PAYLOADS[0]
    web.replies.script(prompt, reply_text)
    reply = chat.send(prompt, reply="styled")
    content = reply.locator(".content")
    # visible as text, not as markup
    expect(content).to_contain_text('<img src=x onerror="window.__xss = 1">')
    expect(content).to_contain_text("<script>window.__xss = 2</script>")
    expect(content).to_contain_text('<a href="javascript:window.__xss=4">raw link</a>')
    expect(content.locator("pre")).to_contain_text('<img src=x onerror="window.__xss = 8">')
    expect(chat.prompts.nth(0)).to_contain_text('<img src=x onerror="window.__xss = 1">')
    assert page.locator(DANGEROUS).count() == 0, page.locator("#messages").inner_html()
    for link in page.locator("#messages a[href]").all():
        href = link.get_attribute("href") or ""
        assert href.startswith(("http:", "https:", "mailto:", "#")), href
    # after a reload the stored messages render the same way
    cid = chat.conversation_id()
    page.reload()
    page.locator(f'#conversations .conversation[data-id="{cid}"]').click()
    expect(chat.replies.nth(0).locator(".content")).to_contain_text("<script>window.__xss = 2")
    assert page.locator(DANGEROUS).count() == 0
    assert page.evaluate("window.__xss") == 0
    assert page.evaluate("window.__violations") == []


def test_a_payload_in_a_conversation_title_is_text(page: Page, web: WebService) -> None:
    page.context.add_init_script(GUARD)
    chat = ChatPage(page, web).login("alice").new_chat()
    chat.send("title check")
    cid = chat.conversation_id()
    csrf = chat.api("/v1/auth/session")["csrf_token"]
    title = '<img src=x onerror="window.__xss = 10">'
    answer = page.context.request.patch(f"{web.url}/v1/conversations/{cid}",
                                        data={"title": title},
                                        headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert answer.ok, answer.text()
    page.reload()
    item = page.locator(f'#conversations .conversation[data-id="{cid}"]')
    expect(item).to_contain_text(title)
    assert page.locator("#conversations img, #conversations [onerror]").count() == 0
    assert page.evaluate("window.__xss") == 0
    assert page.evaluate("window.__violations") == []
