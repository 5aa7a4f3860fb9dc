"""Web chat benchmark: page weight, time to interactive on a long conversation, and
smoothness while a reply streams — in Debian's Chromium (Playwright), against
``claudechat serve`` on 127.0.0.1 with the emulator server upstream.

- Page weight: the bytes of HTML, JavaScript and CSS of the first load (an empty cache), as
  sent and gzip-compressed (level 6, as a reverse proxy would send them).
- Time to interactive: a conversation of ``--turns`` turns seeded straight into the store;
  from navigation start until its last message is on screen and the prompt can take focus
  (``performance.now()`` in the page); the median of ``--loads`` loads, each in a new
  signed-in browser context (cold page, warm server).
- Streaming: a reply of ``--words`` words at ``--token-delay`` seconds a word (0.01: 100
  tokens/s); the page's requestAnimationFrame intervals while it streams: frames, median
  and p95 interval, the longest, and long frames (> 50 ms).

Run: .venv/bin/python bench/web.py [--turns 1000] [--loads 5] [--words 600]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from claudechat.messages import Message
from claudechat.store import SQLiteStore
from claudechat.store.base import Conversation
from claudechat.testing import Emulator, EmuRequest, serve
from claudechat.testing._service import ServiceProcess
from claudechat.usage import Usage

SRC = Path(__file__).resolve().parents[1] / "src"
USER, PASSWORD = "bench", "bench correct horse"
MODEL = "claude-sonnet-4-5"
LAST_WORDS = "the very last words of the seeded conversation"
STREAM_PROMPT = "stream a long answer"
WAIT_MS = 60_000

# In the page: every requestAnimationFrame interval (ms) from start() until stop().
FRAMES_JS = """
window.__frames = { intervals: [], running: true, last: null };
(function tick(now) {
  const f = window.__frames;
  if (!f.running) return;
  if (f.last !== null) f.intervals.push(now - f.last);
  f.last = now;
  requestAnimationFrame(tick);
})(performance.now());
"""

# In the page: the time since navigation start once the conversation's last message is on
# screen and the prompt is there and enabled (null until then).
READY_JS = """(words) => {
  const all = document.querySelectorAll('#messages .message');
  const last = all.length ? all[all.length - 1] : null;
  const prompt = document.querySelector('textarea#prompt');
  if (!last || !prompt || prompt.disabled || prompt.offsetParent === null) return null;
  if (!last.textContent.includes(words)) return null;
  const box = last.getBoundingClientRect();
  if (box.bottom <= 0 || box.top >= window.innerHeight || box.height === 0) return null;
  return performance.now();
}"""


def find_chromium() -> str:
    """$CLAUDECHAT_CHROMIUM, /usr/bin/chromium, or chromium on PATH."""
    found = os.environ.get("CLAUDECHAT_CHROMIUM") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )
    found = found or shutil.which("chromium")
    if not found:
        sys.exit("no Chromium: install Debian's chromium or set CLAUDECHAT_CHROMIUM")
    return found


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDECHAT_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
        CLAUDECHAT_CONFIG=str(home / "config.toml"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        CLAUDECHAT_SERVE_GRACE_SECONDS="1",
    )
    return env


def seed(store_path: Path, turns: int) -> str:
    """A conversation of `turns` turns of the bench user, written straight into the store
    (one transaction); its id. Each reply carries usage, as a real one does."""
    with SQLiteStore(store_path) as store:
        owner = store.user_by_name(USER).id
        now = time.time() - 2 * turns
        messages: list[Message] = []
        parent: str | None = None
        for n in range(turns):
            question = f"Question {n}: what about point {n} of the plan, in a sentence or two?"
            answer = (f"Answer {n}: point {n} is **settled**; here is why, in a short "
                      f"paragraph of text that wraps over a line or two on a wide screen.")  # fmt: skip
            if n == turns - 1:
                answer = f"Answer {n}: {LAST_WORDS}."
            user = Message(role="user", content=[{"type": "text", "text": question}],
                           parent_id=parent, created_at=now + 2 * n)  # fmt: skip
            reply = Message(role="assistant", content=[{"type": "text", "text": answer}],
                            parent_id=user.id, model=MODEL, stop_reason="end_turn",
                            usage=Usage(input_tokens=40, output_tokens=30,
                                        cache_read_tokens=60 * n, requests=1),
                            created_at=now + 2 * n + 1)  # fmt: skip
            messages += [user, reply]
            parent = reply.id
        conv = Conversation(id=f"bench{turns}", title=f"A {turns}-turn conversation",
                            created_at=now, updated_at=now + 2 * turns, head_id=parent,
                            version=1, model=MODEL, owner=owner)  # fmt: skip
        return store.import_messages(conv, messages, []).id


def add_user(store: str, env: dict[str, str]) -> None:
    """The bench user, made as an operator makes one."""
    subprocess.run([sys.executable, "-m", "claudechat", "users", "add", USER, "--password-stdin",
                    "--store", store], input=f"{PASSWORD}\n", text=True, env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


@dataclass
class Bench:
    """The running pieces: the service's URL, the browser, the emulator."""

    url: str
    browser: Browser
    emulator: Emulator
    conversation: str

    def signed_in(self, **options: Any) -> BrowserContext:
        """A new browser context holding a session of the bench user."""
        context = self.browser.new_context(viewport={"width": 1280, "height": 800}, **options)
        answer = context.request.post(self.url + "/v1/auth/login",
                                      data={"username": USER, "password": PASSWORD})  # fmt: skip
        assert answer.ok, answer.text()
        return context


def page_weight(bench: Bench) -> dict[str, int]:
    """Bytes of HTML, JS and CSS of the first load, as sent and gzip-compressed."""
    bodies: list[bytes] = []
    context = bench.browser.new_context()
    try:
        page = context.new_page()
        kinds = ("document", "script", "stylesheet")
        page.on("response", lambda r: bodies.append(r.body())
                if r.request.resource_type in kinds and r.ok else None)  # fmt: skip
        page.goto(bench.url + "/", wait_until="networkidle")
        page.locator("form#login").wait_for()
    finally:
        context.close()
    return {"files": len(bodies), "raw": sum(len(b) for b in bodies),
            "gzip": sum(len(gzip.compress(b, 6)) for b in bodies)}  # fmt: skip


# In the page: when (ms from navigation start) the answer of the first request for the
# conversation's messages had arrived.
MESSAGES_ANSWERED_JS = """() => {
  const e = performance.getEntriesByType('resource').find((r) => r.name.includes('/messages'));
  return e ? e.responseEnd : null;
}"""


def open_conversation(page: Page, bench: Bench) -> tuple[float, float]:
    """Load the page, open the long conversation (the newest, or click it); ms from
    navigation start to the last message on screen with the prompt ready, and to the
    arrival of the messages the page asked for."""
    page.goto(bench.url + "/", wait_until="commit")
    item = page.locator(f'#conversations .conversation[data-id="{bench.conversation}"]')
    item.wait_for(timeout=WAIT_MS)
    if item.get_attribute("aria-current") != "page":
        item.click()
    ready = page.wait_for_function(READY_JS, arg=LAST_WORDS, polling="raf", timeout=WAIT_MS)
    answered = page.evaluate(MESSAGES_ANSWERED_JS)
    return float(ready.json_value()), float(answered or "nan")


def time_to_interactive(bench: Bench, loads: int) -> list[tuple[float, float]]:
    """`loads` cold loads of the long conversation, each in a new context (ms)."""
    times = []
    for _ in range(loads):
        context = bench.signed_in()
        try:
            times.append(open_conversation(context.new_page(), bench))
        finally:
            context.close()
    return times


def streaming_frames(bench: Bench, words: int) -> list[float]:
    """rAF intervals (ms) while a reply of `words` words streams into a new conversation."""
    context = bench.signed_in()
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(bench.url + "/")
        page.locator("#new-chat").click()
        prompt = page.locator("textarea#prompt")
        prompt.fill(STREAM_PROMPT)
        page.evaluate(FRAMES_JS)
        prompt.press("Enter")
        page.locator("button#stop").wait_for(state="visible")
        page.locator("button#stop").wait_for(state="hidden", timeout=WAIT_MS + 1000 * words)
        page.evaluate("window.__frames.running = false")
        intervals: list[float] = page.evaluate("window.__frames.intervals")
        page.screenshot(path=str(Path(tempfile.gettempdir()) / "claudechat-web-stream.png"))
    finally:
        context.close()
    return intervals


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@contextmanager
def running(turns: int, words: int, token_delay: float) -> Iterator[Bench]:
    """The service over a seeded store, its emulator upstream, and a browser."""
    with tempfile.TemporaryDirectory(prefix="claudechat-web-") as tmp:
        home = Path(tmp)
        store = f"sqlite:///{home / 'chats.db'}"
        env = _env(home)
        add_user(store, env)
        conversation = seed(home / "chats.db", turns)
        story = " ".join(f"word{i}" for i in range(words))

        def reply(request: EmuRequest) -> str:
            return story if request.last_user_text == STREAM_PROMPT else "Fine."

        emulator = Emulator(reply=reply)
        upstream = serve(emulator, token_delay=token_delay)
        env["CLAUDECHAT_TEST_UPSTREAM_KEY"] = "bench-key"
        server = ServiceProcess(store=store, upstream=upstream.url, src=SRC, env=env)
        try:
            server.wait_ready()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=find_chromium(),
                                                     args=["--disable-gpu", "--disable-quic"])  # fmt: skip
                try:
                    yield Bench(server.url, browser, emulator, conversation)
                finally:
                    browser.close()
        finally:
            server.stop()
            upstream.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--words", type=int, default=600)
    parser.add_argument("--token-delay", type=float, default=0.01)
    args = parser.parse_args()
    with running(args.turns, args.words, args.token_delay) as bench:
        weight = page_weight(bench)
        loads = time_to_interactive(bench, args.loads)
        frames = streaming_frames(bench, args.words)
    rate = 1 / args.token_delay if args.token_delay else float("inf")
    times = [ready for ready, _ in loads]
    answered = statistics.median(at for _, at in loads)
    rows = [
        ("page weight, first load", f"{weight['raw'] / 1024:.1f} KiB raw, "
         f"{weight['gzip'] / 1024:.1f} KiB gzip ({weight['files']} files: HTML, JS, CSS)"),
        (f"time to interactive, {args.turns} turns", f"median {statistics.median(times):.0f} ms "
         f"of {len(times)} loads (min {min(times):.0f}, max {max(times):.0f}); "
         f"the messages had arrived at {answered:.0f} ms"),
        (f"streaming {args.words} words at {rate:.0f} tokens/s",
         f"{len(frames)} frames, interval median {statistics.median(frames):.1f} ms, "
         f"p95 {percentile(frames, 0.95):.1f} ms, max {max(frames):.1f} ms, "
         f"long frames (> 50 ms): {sum(1 for f in frames if f > 50)}"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  result")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
