"""What the browser tests share: the users, the emulator's scripted replies, the running
service, and `ChatPage`, the web chat as a user drives it (selectors of the DOM contract)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Locator, Page, expect

from claudechat.testing import Emulator, EmuReply, EmuRequest, RecordedRequest
from claudechat.testing._service import ServiceProcess

SRC = Path(__file__).resolve().parents[2] / "src"
WAIT_MS = 20_000  # the longest a test waits for something that should happen soon
expect.set_options(timeout=WAIT_MS)  # assertions too (a loaded machine is slow, not wrong)

# alice for most tests (each starts a new conversation of its own); ivan and judy for the
# test that two users never see each other's conversations; zoe for the screenshots.
USERS = {name: f"{name} correct horse" for name in ("alice", "ivan", "judy", "zoe")}


ReplyResult = str | list[dict[str, Any]] | EmuReply  # what the emulator takes as a reply
Scripted = str | Callable[[EmuRequest], ReplyResult]


class Replies:
    """The emulated model: a scripted reply for a prompt given by `script`, else
    "Answer N to: PROMPT" (N the request's number, so a retry says something new; the prompt
    last, so a reply is whole once the prompt shows at its end)."""

    def __init__(self) -> None:
        self._scripted: dict[str, Scripted] = {}
        self._lock = threading.Lock()

    def script(self, prompt: str, reply: Scripted) -> None:
        """Answer `prompt` (the last user text, exactly) with `reply`, every time: a text,
        or a function of the request giving the reply (blocks, an EmuReply)."""
        with self._lock:
            self._scripted[prompt] = reply

    def __call__(self, request: EmuRequest) -> ReplyResult:
        said = request.last_user_text
        with self._lock:
            scripted = self._scripted.get(said)
        if callable(scripted):
            return scripted(request)
        return scripted if scripted is not None else default_reply(request.number, said)


def default_reply(number: int, prompt: str) -> str:
    """The reply to `prompt` when nothing was scripted for it."""
    return f"Answer {number} to: {prompt}"


def word(letter: str, n: int) -> str:
    """The `n`-th word of a long reply: `letter` and `n` in four letters (aaaa, aaab, ...),
    letters only, so that each word is one output token to the emulator and a long reply
    streams for long before it reaches the request's max_tokens."""
    letters = ""
    for _ in range(4):
        n, digit = divmod(n, 26)
        letters = "abcdefghijklmnopqrstuvwxyz"[digit] + letters
    return letter + letters


def long_reply(letter: str, count: int) -> str:
    """`count` words (see `word`), streamed in `count` times the emulator's token delay."""
    return " ".join(word(letter, n) for n in range(count))


def replies_for() -> Replies:
    """A fresh reply script."""
    return Replies()


@dataclass
class WebService:
    """The running service: its URL, the emulator behind it and the emulator's replies."""

    url: str
    emulator: Emulator
    replies: Replies
    server: ServiceProcess

    def requests_with_prompt(self, prompt: str) -> list[RecordedRequest]:
        """The /v1/messages requests whose last user text is `prompt`."""
        found = []
        for record in list(self.emulator.requests):
            if record.path.split("?")[0] != "/v1/messages" or not isinstance(record.body, dict):
                continue
            if EmuRequest(body=record.body, number=0, input_tokens=0).last_user_text == prompt:
                found.append(record)
        return found


def text_of(message: dict[str, Any]) -> str:
    """The text blocks of a message of a request, joined."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if b.get("type") == "text")


def squash(text: str) -> str:
    """Whitespace runs as one space, ends trimmed (how rendered text compares to source)."""
    return re.sub(r"\s+", " ", text).strip()


class ChatPage:
    """The web chat in one page, driven the way a user drives it."""

    def __init__(self, page: Page, web: WebService) -> None:
        self.page = page
        self.web = web
        page.set_default_timeout(WAIT_MS)

    @property
    def context(self) -> BrowserContext:
        return self.page.context

    # signing in ---------------------------------------------------------------------------

    def open(self) -> ChatPage:
        """Load the page (it asks the session whether someone is signed in)."""
        self.page.goto(self.web.url + "/")
        return self

    def login(self, name: str, password: str | None = None) -> ChatPage:
        """Open the page and sign in through the login form."""
        self.open()
        form = self.page.locator("form#login")
        form.locator("input[name=username]").fill(name)
        form.locator("input[name=password]").fill(USERS[name] if password is None else password)
        form.locator("button[type=submit]").click()
        if password is None:
            expect(self.page.locator("#app")).to_be_visible()
        return self

    # the conversation ---------------------------------------------------------------------

    @property
    def messages(self) -> Locator:
        return self.page.locator("#messages .message")

    @property
    def replies(self) -> Locator:
        return self.page.locator("#messages .message[data-role=assistant]")

    @property
    def prompts(self) -> Locator:
        return self.page.locator("#messages .message[data-role=user]")

    @property
    def prompt_texts(self) -> Locator:
        """The rendered text of the user's messages."""
        return self.page.locator("#messages .message[data-role=user] .content")

    def sidebar(self) -> ChatPage:
        """Show the sidebar: on a narrow screen it is behind the menu button."""
        menu = self.page.locator("button#menu")
        if menu.is_visible() and menu.get_attribute("aria-expanded") != "true":
            menu.click()
        expect(self.page.locator("#new-chat")).to_be_in_viewport()
        return self

    def new_chat(self) -> ChatPage:
        """Start a new, empty conversation."""
        self.sidebar().page.locator("#new-chat").click()
        expect(self.messages).to_have_count(0)
        return self

    def type_and_send(self, text: str) -> None:
        """Type `text` into the composer and press Enter."""
        prompt = self.page.locator("textarea#prompt")
        prompt.fill(text)
        prompt.press("Enter")

    def send(self, text: str, *, reply: str | None = None) -> Locator:
        """Send `text` and wait until the whole reply is shown (`reply`: its expected text,
        when it was scripted); returns the reply's message."""
        before = self.replies.count()
        self.type_and_send(text)
        return self.wait_reply(before + 1, reply if reply is not None else f"to: {text}")

    def wait_reply(self, count: int, ending: str) -> Locator:
        """Wait for the `count`-th reply to show `ending` and the turn to be over."""
        expect(self.replies).to_have_count(count)
        last = self.replies.nth(count - 1)
        expect(last.locator(".content")).to_contain_text(squash(ending))
        expect(self.page.locator("button#stop")).to_be_hidden()
        expect(last).to_have_attribute("data-message-id", re.compile(r"\S"))
        return last

    def conversation_id(self) -> str:
        """The id of the open conversation (the sidebar's current item)."""
        current = self.page.locator('#conversations .conversation[aria-current="page"]')
        expect(current).to_have_count(1)
        found = current.get_attribute("data-id")
        assert found, "the current conversation has no data-id"
        return found

    # the API, with the page's session -------------------------------------------------------

    def api(self, path: str) -> Any:
        """GET `path` of the service with the page's cookies; the JSON answer."""
        answer = self.context.request.get(self.web.url + path)
        assert answer.ok, f"GET {path}: {answer.status} {answer.text()[:300]}"
        return answer.json()

    def api_send(self, cid: str, text: str) -> None:
        """A turn through the API with the page's session (as another tab would send it)."""
        csrf = self.api("/v1/auth/session")["csrf_token"]
        answer = self.context.request.post(
            f"{self.web.url}/v1/conversations/{cid}/messages",
            data={"content": text},
            headers={"X-CSRF-Token": csrf},
        )
        assert answer.ok and "event: done" in answer.text(), answer.text()[-300:]

    def stored(self, cid: str) -> list[dict[str, Any]]:
        """The active branch of conversation `cid`, as the API gives it."""
        data: list[dict[str, Any]] = self.api(f"/v1/conversations/{cid}/messages")["data"]
        return data
