"""``claudechat demo``: a scripted conversation on the emulator, narrated step by step.

A small budget makes the machinery visible in a few turns: the window filling, the
oldest turns folded into a rolling summary, the cached prefix read back at a tenth of the
price, and the bill against the naive approach (whole history resent, no caching, the
oldest pair dropped when a characters/4 estimate exceeds the budget).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..models.capabilities import Prices, model_info
from ..usage import Usage

if TYPE_CHECKING:
    from rich.console import Console

    from ..chat import Chat
    from ..context import WindowFill
    from ..testing import Emulator, EmuRequest

__all__ = ["DemoResult", "run_demo"]

MODEL = "claude-sonnet-4-6"
SYSTEM = """\
You are the planning assistant of Heron, a four-person team shipping a note-taking app.

Team: Priya (sync engine, Rust), Marco (product and pricing), Lena (search and quality),
Sam (design and the app-store listings). The team meets on Mondays at 10:00 CET.

How to answer:
- Keep every number, date, amount, name and decision exactly as the team wrote it.
- Answer in short paragraphs; use a list only for steps or options.
- When something is not known, say so plainly and name who can find out.
- Show shell commands in fenced code blocks, ready to paste.
- Money is in EUR; dates are in 2027 unless said otherwise.
- When a decision is made, restate it in one sentence that starts with "Recorded:".
- Prefer the smallest change that ships on time over the best change that ships late.
- Point out risks early: sync conflicts, search speed, store review, pricing, privacy.

Product facts:
- Heron stores notes locally in SQLite and syncs them through a small relay service.
- Version 1 runs on macOS, Windows and iOS; Android follows in version 1.2.
- Attachments up to 25 MB are supported; larger files are linked, not copied.
- The relay keeps no note content longer than 30 days and never reads it.
- The public beta is invite-only; testers sign a two-page agreement.

Process facts:
- Every change goes through a pull request with one review; the main branch always builds.
- Releases are tagged vX.Y.Z; the CI workflow release.yml builds installers from tags.
- Bugs that corrupt or lose notes are priority zero and stop every other work.
- The project log in docs/log.md holds every decision with its date and reason.
- Costs above 500 EUR need two people to agree; the reserve needs the whole team.
"""

_TOPICS = [
    (
        "Our launch date is 14 March and the budget is 42,000 EUR. What should we plan first?",
        "Start from the date: 14 March leaves ten weeks. Freeze features by 21 February, run the "
        "beta from 24 February, and keep 6,000 of the 42,000 EUR as a reserve for surprises.",
    ),
    (
        "Priya owns the sync engine. What are the risks there?",
        "Sync is the riskiest part: conflicts when two devices edit one note offline, and large "
        "attachments. Priya should ship last-writer-wins first and log every conflict.",
    ),
    (
        "Marco wants end-to-end encryption in version 1. Is that realistic?",
        "Not by 14 March. Encrypting notes is easy; key recovery and sharing are not. Decide: "
        "encryption in 1.1, with the data format ready for it now so no migration is needed.",
    ),
    (
        "We agreed: encryption moves to 1.1. What does the beta need?",
        "Decision recorded: encryption in 1.1. The beta needs 200 testers, a crash reporter, a "
        "feedback button, and a rollback plan if sync corrupts notes.",
    ),
    (
        "The crash reporter costs 300 EUR a month. Which budget line?",
        "Put it under operations: 300 EUR a month for four months is 1,200 EUR, leaving 4,800 EUR "
        "of the reserve.",
    ),
    (
        "Write the command to tag the beta release.",
        "Tag and push it like this:\n\n```sh\ngit tag -a v0.9.0-beta -m 'Heron beta'\ngit push "
        "origin v0.9.0-beta\n```\n\nThe CI job `release.yml` builds the installers from the tag.",
    ),
    (
        "Lena found that search is slow on 10,000 notes. Ideas?",
        "Index titles and bodies with SQLite FTS5, search as the user types with a 150 ms "
        "debounce, and measure on Lena's 10,000-note file before and after.",
    ),
    (
        "What did we decide about encryption, and why?",
        "Encryption moved to version 1.1 because key recovery and sharing cannot be done well "
        "by 14 March; the data format gets ready now so 1.1 needs no migration.",
    ),
    (
        "List the open questions.",
        "Open: the pricing tier (Marco proposes 4 EUR a month), the Android beta date, and "
        "whether Priya's conflict log is shown to users.",
    ),
    (
        "Pricing: we settle on 4 EUR a month, 40 EUR a year.",
        "Recorded: 4 EUR a month or 40 EUR a year. At 2,000 paying users by June that is about "
        "8,000 EUR a month before store fees.",
    ),
]


_STEPS = [
    "Write the decision into the project log with today's date so nobody re-opens it.",
    "Give every open task one owner and one due date; unowned tasks slip first.",
    "Check the change against the 42,000 EUR budget and the 14 March date before agreeing.",
    "Ask Lena to add a regression test so the problem cannot come back unnoticed.",
    "Tell the beta testers what changed in the next release notes, in two sentences.",
    "Keep the reserve untouched unless two people agree the spend is unavoidable.",
    "Review the risk list on Monday: sync, search speed, store approval, pricing.",
]


def _question(turn: int) -> tuple[str, str]:
    """The user's line and the scripted answer for turn ``turn`` (1-based)."""
    base, answer = _TOPICS[(turn - 1) % len(_TOPICS)]
    steps = "\n".join(f"- {_STEPS[(turn + i) % len(_STEPS)]}" for i in range(4))
    answer = f"{answer}\n\nNext steps:\n{steps}"
    if turn <= len(_TOPICS):
        return base, answer
    round_ = (turn - 1) // len(_TOPICS) + 1
    return f"(week {round_}) {base}", f"Update for week {round_}: {answer}"


def _summary_reply(request: EmuRequest) -> str:
    """What the emulated summariser writes: the previous summary plus the new user lines."""
    prompt = request.last_user_text
    previous = re.search(r"<previous_summary>\n(.*?)\n</previous_summary>", prompt, re.S)
    turns = re.search(r"<new_turns>\n(.*?)\n</new_turns>", prompt, re.S)
    bullets = [] if not previous or previous.group(1) == "(none yet)" else [previous.group(1)]
    for line in (turns.group(1) if turns else "").splitlines():
        if line.startswith("Assistant: "):
            sentence = line.removeprefix("Assistant: ").split(". ")[0]
            bullets.append(f"- {sentence[:140]}")
    return "\n".join(bullets[-14:]) or "- (nothing yet)"


@dataclass
class DemoResult:
    """What the demo measured."""

    turns: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    naive_usd: float = 0.0
    summaries: int = 0
    stored_messages: int = 0
    sent_messages: int = 0
    events: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """claudechat's bill over the naive one."""
        return self.cost_usd / self.naive_usd if self.naive_usd else 0.0

    @property
    def cache_hit_ratio(self) -> float:
        """Share of all input tokens read from the prompt cache."""
        return self.usage.cache_hit_ratio or 0.0

    def add_turn(self, usage: Usage, cost_usd: float, naive_usd: float) -> None:
        """Count one turn's bill, and what the naive approach would have paid for it."""
        self.turns += 1
        self.usage += usage
        self.cost_usd += cost_usd
        self.naive_usd += naive_usd


def _naive_trim(messages: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """The seed tutorial's trimming: drop the oldest pair while chars/4 exceeds the budget."""
    out = list(messages)
    while sum(len(str(m["content"])) for m in out) // 4 > budget and len(out) > 2:
        del out[:2]
    return out


@dataclass
class _NaiveBill:
    """What the naive approach pays: the whole history resent (trimmed by a characters/4
    estimate), no caching, the same replies."""

    emulator: Emulator
    budget: int
    prices: Prices
    history: list[dict[str, Any]] = field(default_factory=list)

    def turn(self, question: str, answer: str, output_tokens: int) -> float:
        """The cost of one turn: its trimmed request in, the same reply out."""
        self.history.append({"role": "user", "content": question})
        sent = _naive_trim(self.history, self.budget)
        tokens = self.emulator.count_request_tokens(
            {"model": MODEL, "system": SYSTEM, "messages": sent}
        )
        self.history.append({"role": "assistant", "content": answer})
        return (tokens * self.prices.input + output_tokens * self.prices.output) / 1_000_000


def _bar(ratio: float, width: int = 20) -> str:
    full = max(0, min(width, round(ratio * width)))
    return "█" * full + "░" * (width - full)


@dataclass
class _Script:
    """The emulated model: the scripted answer of the current turn, or a summary."""

    turn: int = 0

    def __call__(self, request: EmuRequest) -> str:
        if any("running summary" in str(b.get("text", "")) for b in request.system):
            return _summary_reply(request)
        return _question(self.turn)[1]


def _demo_chat(budget: int) -> tuple[Chat, Emulator, _Script]:
    """A chat on the emulator, in memory, with the summary strategy and a small budget."""
    from ..chat import Chat
    from ..context import ContextEngine, strategy_policies
    from ..models.anthropic import make_client
    from ..store.memory import MemoryStore
    from ..testing import Emulator

    script = _Script()
    emulator = Emulator(reply=script)
    chat = Chat(
        MODEL,
        system=SYSTEM,
        max_tokens=512,
        store=MemoryStore(),
        context=ContextEngine(strategy_policies("summary"), budget=budget),
        client=make_client(api_key="emulator", http_client=emulator.http_client()),
    )
    return chat, emulator, script


class _Narrator:
    """Prints the demo, and explains each piece of the machinery the first time it shows."""

    def __init__(self, console: Console, result: DemoResult, *, plain: bool) -> None:
        self.console = console
        self.result = result
        self.plain = plain
        self.seen: set[str] = set()

    def say(self, text: str, style: str | None = None) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True,
                           style=None if self.plain else style)  # fmt: skip

    def event(self, key: str, text: str) -> None:
        if key not in self.seen:
            self.seen.add(key)
            self.result.events.append(key)
            self.say(f"    {text}", "yellow")

    def intro(self, turns: int, budget: int) -> None:
        self.say(f"claudechat demo — {turns} turns on the built-in emulator, {MODEL} prices, "
                 f"a {budget:,}-token budget so the window fills fast.", "bold")  # fmt: skip
        self.say("Every request must carry the conversation; watch what claudechat sends.\n",
                 "dim")  # fmt: skip

    def turn(self, turn: int, question: str, text: str, fill: WindowFill, usage: Usage,
             costs: tuple[float, float]) -> None:  # fmt: skip
        """The question, the start of the answer, and what the request held and cost."""
        from .render import usd

        cost, naive = costs
        preview = " ".join(text.split())
        self.say(f"turn {turn:>2} › {question}", "bold green")
        self.say(f"         Claude: {preview[:90]}{'…' if len(preview) > 90 else ''}", "magenta")
        hit = usage.cache_hit_ratio or 0.0
        self.say(
            f"         window {_bar(fill.ratio)} {fill.tokens:,}/{fill.budget:,} · sent "
            f"{fill.messages_sent}/{fill.messages_total} messages · cache read "
            f"{usage.cache_read_tokens:,} ({hit:.0%}) · {usd(cost)} vs naive {usd(naive)}",
            "dim",
        )

    def explain(self, turn: int, usage: Usage, fill: WindowFill, summary_model: str) -> None:
        """What this turn showed for the first time: caching, then the summary."""
        if turn == 1:
            minimum = model_info(MODEL).cache_min_tokens
            self.event("full", "↳ the whole history fits: every message is sent. Below the "
                       f"model's {minimum:,}-token minimum nothing can be cached yet.")  # fmt: skip
        if usage.cache_write_tokens and not usage.cache_read_tokens:
            self.event("write", "↳ the prefix passed the cache minimum: it is written to the "
                       "prompt cache once (at 1.25x the input price).")  # fmt: skip
        if usage.cache_read_tokens:
            self.event("cache", "↳ cache hit: the unchanged prefix is read back from the "
                       "prompt cache at a tenth of the input price.")  # fmt: skip
        folded = fill.notes.get("summarized_messages")
        if folded:
            self.result.summaries += 1
            self.say(f"    ✂ the window hit its budget: {folded} old messages folded into the "
                     f"rolling summary ({fill.summary_tokens:,} tokens, written by "
                     f"{summary_model}).", "yellow")  # fmt: skip
            self.event("summary", "↳ the window dropped to about half in one step, so the new "
                       "prefix stays cached for many turns; the transcript stays whole in the "
                       "store.")  # fmt: skip
        if turn > 1 and not usage.cache_read_tokens and folded:
            self.event("rewrite", "↳ this request re-wrote the cache once; the next ones read it.")

    def outcome(self) -> None:
        """The totals against the naive approach."""
        from .render import usd

        result = self.result
        self.say("")
        self.say("Result", "bold")
        self.say(f"  stored {result.stored_messages} messages; the last request sent "
                 f"{result.sent_messages} of them plus a summary ({result.summaries} folds).")  # fmt: skip
        self.say(f"  cache hit ratio {result.cache_hit_ratio:.0%} of all input tokens.")
        self.say(f"  claudechat billed {usd(result.cost_usd)} (summaries included); the naive "
                 f"approach {usd(result.naive_usd)}: {result.ratio:.2f}x.", "bold")  # fmt: skip
        self.say("  Try it yourself: claudechat chat --budget 3000 --strategy summary, then "
                 "/tokens and /cost.", "dim")  # fmt: skip


def run_demo(
    console: Console,
    *,
    turns: int = 24,
    pause: float = 0.6,
    budget: int = 3000,
    plain: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> DemoResult:
    """Run the narrated conversation and return its figures."""
    chat, emulator, script = _demo_chat(budget)
    prices = model_info(MODEL).prices
    assert prices is not None
    naive = _NaiveBill(emulator, budget, prices)
    result = DemoResult()
    narrator = _Narrator(console, result, plain=plain)
    narrator.intro(turns, budget)
    for turn in range(1, turns + 1):
        script.turn = turn
        question, _ = _question(turn)
        text = chat.send(question).text
        usage, cost = chat.ledger.turn_usage, chat.ledger.turn_cost_usd or 0.0
        output = chat.last_reply.usage.output_tokens if chat.last_reply else 0
        naive_cost = naive.turn(question, text, output)
        result.add_turn(usage, cost, naive_cost)
        fill = chat.window_fill()
        narrator.turn(turn, question, text, fill, usage, (cost, naive_cost))
        narrator.explain(turn, usage, fill, chat.summary_model)
        sleep(pause)
    assert chat.id is not None
    result.stored_messages = len(chat.store.all_messages(chat.id))
    result.sent_messages = chat.window_fill().messages_sent
    narrator.outcome()
    return result
