#!/usr/bin/env python
"""The memory frontier on LoCoMo: what a request remembers, against what it costs.

Each conversation of the data file is replayed through ``Chat`` against the emulator
(speaker A's turns as user messages, speaker B's as the assistant's scripted replies, each
session opened by a line with its date). Then every QA question is asked as the next user
message in dry-run mode: the request that would be sent is built, not sent, and the
scorer checks which of the question's evidence turns have their text in it.

For each strategy and budget it reports the evidence-in-context rate (overall and per
category), the mean input tokens per question (the emulator's count of the dry-run
request) and the USD the replay was billed (the emulator's cache simulation, summaries
included). Two peers' documented history recipes are replicated on the same histories:

* pydantic-ai, "Keep Only Recent Messages" (docs/message-history.md, the
  ``history_processors`` example): ``messages[-N:] if len(messages) > N else messages``.
* LangChain, ``trim_messages(strategy="last", max_tokens=B, start_on="human",
  include_system=True, allow_partial=False)`` (langchain_core/messages/utils.py,
  ``_last_max_tokens``): the newest messages whose tokens fit B (the system message
  counted first), then leading messages dropped until the first is a human one.

Neither recipe turns prompt caching on, so their replay is billed at the uncached input
price. Server compaction is left out: its smallest trigger (50,000 input tokens) is above
the length of every LoCoMo conversation, so it would never fire.

The replay and the requests never read answers, evidence or categories; only `score`
does. The data is read from ../shared/benchdata and never copied.

    python bench/memory.py [--data PATH] [--json] [--quick] [--jobs 2] [--png PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import anthropic  # noqa: E402
from locomo import CATEGORIES, DEFAULT_DATA, normalize_evidence  # noqa: E402

from claudechat import Chat  # noqa: E402
from claudechat.context import (  # noqa: E402
    ContextEngine,
    ContextPolicy,
    ContextRequest,
    Recall,
    strategy_policies,
)
from claudechat.context.recall import remember_policies  # noqa: E402
from claudechat.context.summary import SUMMARY_SYSTEM  # noqa: E402
from claudechat.messages import user  # noqa: E402
from claudechat.models.base import Request  # noqa: E402
from claudechat.search import MemoryIndex  # noqa: E402
from claudechat.store.memory import MemoryStore  # noqa: E402
from claudechat.testing import Emulator, EmuRequest  # noqa: E402
from claudechat.tokens import TokenAccountant  # noqa: E402

MODEL = "claude-sonnet-4-6"
SYSTEM = "You are one of two friends chatting over many weeks. Answer as yourself, briefly."
MAX_TOKENS = 256
BUDGETS: list[int | None] = [2_000, 2_500, 3_000, 4_000, 8_000, 16_000, None]  # None: all
QUICK_BUDGETS: list[int | None] = [2_000, 8_000, None]
PEER_MESSAGES = [4, 8, 16, 32, 64]  # pydantic-ai's N

# ---------------------------------------------------------------- reading (no gold here)


@dataclass
class Script:
    """One conversation as alternating user / assistant texts, and its questions."""

    sample_id: str
    messages: list[tuple[str, str]]  # (role, text), user first, alternating
    questions: list[str]


def _sessions(conversation: dict[str, Any]) -> list[int]:
    return sorted(int(k.split("_")[1]) for k in conversation if re.fullmatch(r"session_\d+", k))


def _utterance(turn: dict[str, Any]) -> str:
    text = f"{turn['speaker']}: {turn['text']}"
    if turn.get("blip_caption"):
        text += f" [shares a photo: {turn['blip_caption']}]"
    return text


def read_script(sample: dict[str, Any]) -> Script:
    """The conversation as messages (reads ``conversation`` and ``qa[].question`` only)."""
    conversation = sample["conversation"]
    first = conversation["speaker_a"]
    lines: list[tuple[str, str]] = []
    for n in _sessions(conversation):
        date = conversation.get(f"session_{n}_date_time") or "date unknown"
        header = f"[Session {n}, {date}]"
        for i, turn in enumerate(conversation[f"session_{n}"]):
            role = "user" if turn["speaker"] == first else "assistant"
            text = _utterance(turn)
            lines.append((role, f"{header}\n{text}" if i == 0 else text))
    merged: list[tuple[str, str]] = []
    for role, text in lines:
        if merged and merged[-1][0] == role:
            merged[-1] = (role, merged[-1][1] + "\n" + text)
        else:
            merged.append((role, text))
    if merged and merged[0][0] == "assistant":
        merged.insert(0, ("user", "(Hi!)"))
    if merged and merged[-1][0] == "user":
        merged.append(("assistant", "(listening)"))
    questions = [str(qa["question"]) for qa in sample["qa"]]
    return Script(sample["sample_id"], merged, questions)


# ---------------------------------------------------------------- gold (scorer only)


@dataclass(frozen=True)
class Gold:
    """The evidence turns' texts of one question, and its category."""

    texts: list[str]
    category: int


def read_gold(sample: dict[str, Any]) -> list[Gold]:
    """Evidence texts and categories, in question order."""
    conversation = sample["conversation"]
    by_id = {
        t["dia_id"]: t["text"]
        for n in _sessions(conversation)
        for t in conversation[f"session_{n}"]
    }
    out = []
    for qa in sample["qa"]:
        ids = normalize_evidence(qa.get("evidence") or [])
        out.append(Gold([by_id[i] for i in ids if i in by_id], int(qa["category"])))
    return out


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def score(texts: list[str], gold: list[Gold]) -> tuple[list[float | None], list[int]]:
    """Per question: the share of its evidence texts present in its request text (None
    without evidence), and its category."""
    shares: list[float | None] = []
    for text, g in zip(texts, gold, strict=True):
        if not g.texts:
            shares.append(None)
            continue
        haystack = _norm(text)
        shares.append(sum(_norm(t) in haystack for t in g.texts) / len(g.texts))
    return shares, [g.category for g in gold]


# ---------------------------------------------------------------- strategies


Policies = Callable[[int | None], list[ContextPolicy]]


def _recall(budget: int | None, share: float) -> Recall:
    cap = int((budget or 200_000) * share)
    return Recall(MemoryIndex(), k=25, max_tokens=max(200, min(cap, 6_000)))


STRATEGIES: dict[str, Policies] = {
    "window": lambda b: strategy_policies("window"),
    # what the CLI and the service run by default (recall_sizes: 45% of the budget, at
    # most 6,000 tokens, for recall; the window trims at what is left)
    "window+recall": lambda b: remember_policies("window", MemoryIndex(), budget=b or "max"),
    "window+ledger+recall": lambda b: [
        *strategy_policies("window", high_water=0.45, low_water=0.3, facts=True),
        _recall(b, 0.4),
    ],
    "summary+ledger+recall": lambda b: [
        *strategy_policies("summary", high_water=0.45, low_water=0.3, facts=True),
        _recall(b, 0.4),
    ],
}


# ---------------------------------------------------------------- replay


def _scripted_replies(script: Script) -> Callable[[EmuRequest], str]:
    """The emulator's answers: speaker B's next turn; for a summary request a crude
    extractive summary (the facts it is asked to keep and each turn's first words)."""
    replies = iter(text for role, text in script.messages if role == "assistant")

    def reply(request: EmuRequest) -> str:
        if any(b.get("text") == SUMMARY_SYSTEM for b in request.system):
            return _extractive_summary(request)
        return next(replies, "(listening)")

    return reply


def _extractive_summary(request: EmuRequest) -> str:
    prompt = request.last_user_text
    previous = prompt.split("<previous_summary>")[-1].split("</previous_summary>")[0].strip()
    turns = prompt.split("<new_turns>")[-1].split("</new_turns>")[0]
    facts = prompt.split("<facts_to_keep>")[-1].split("</facts_to_keep>")[0]
    facts = facts if "<facts_to_keep>" in prompt else ""
    gist = [" ".join(line.split()[:10]) for line in turns.splitlines() if line.strip()]
    words = " ".join([previous if previous != "(none yet)" else "", *gist, facts]).split()
    limit = int(request.body.get("max_tokens", 500) * 0.6)
    return " ".join(words[-limit:])


@dataclass
class Point:
    """One strategy at one budget: what its requests held and what the replay cost."""

    strategy: str
    budget: int | str | None
    shares: list[float | None] = field(default_factory=list)
    categories: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    usd: float = 0.0
    by_conversation: dict[str, list[float]] = field(default_factory=dict)

    def add(self, other: Point) -> None:
        """Fold in ``other``'s questions and cost (the same point on other conversations)."""
        self.shares.extend(other.shares)
        self.categories.extend(other.categories)
        self.tokens.extend(other.tokens)
        self.usd += other.usd
        self.by_conversation.update(other.by_conversation)

    def to_dict(self) -> dict[str, Any]:
        """The point as the ``--json`` output has it."""
        scored = [
            (s, c) for s, c in zip(self.shares, self.categories, strict=True) if s is not None
        ]
        per = {
            CATEGORIES[c]: round(statistics.mean(s for s, k in scored if k == c), 4)
            for c in sorted({c for _, c in scored})
        }
        return {
            "strategy": self.strategy,
            "budget": self.budget if self.budget is not None else "full",
            "evidence_in_context": round(statistics.mean(s for s, _ in scored), 4) if scored else 0,
            "per_category": per,
            "tokens_per_question": round(statistics.mean(self.tokens)) if self.tokens else 0,
            "usd": round(self.usd, 4),
            "questions": len(scored),
            "per_conversation": {
                sid: round(statistics.mean(v), 4) for sid, v in self.by_conversation.items() if v
            },
        }


def request_text(request: Request) -> str:
    """Every text a request carries: system blocks and message text blocks."""
    parts = [str(b.get("text", "")) for b in request.system or []]
    for message in request.messages:
        content = message["content"]
        if isinstance(content, str):
            parts.append(content)
            continue
        parts.extend(str(b.get("text", "")) for b in content if b.get("type") == "text")
    return "\n".join(parts)


def replay(
    script: Script, policies: list[ContextPolicy], budget: int | None
) -> tuple[Chat, Emulator, ContextEngine]:
    """The conversation sent turn by turn through Chat over the emulator."""
    emu = Emulator(reply=_scripted_replies(script))
    client = anthropic.Anthropic(api_key="bench", http_client=emu.http_client(), max_retries=0)
    # The offline estimate without ctok: ctok is exact but slow for the thousands of texts
    # recall sizes; every request's exact total still comes back in its usage.
    engine = ContextEngine(policies, budget=budget if budget is not None else "max",
                           counter=TokenAccountant(use_ctok=False))  # fmt: skip
    chat = Chat(MODEL, client=client, store=MemoryStore(), system=SYSTEM, context=engine,
                max_tokens=MAX_TOKENS)  # fmt: skip
    for role, text in script.messages:
        if role == "user":
            chat.send(text)
    return chat, emu, engine


def ask(chat: Chat, engine: ContextEngine, question: str) -> Request:
    """The request the question would be sent in (built, not sent, nothing stored)."""
    history = chat.history
    cid = chat.id
    conv = chat.conversation
    hint = conv.metadata.get("window_start") if conv is not None else None
    request = ContextRequest(
        model=chat.info,
        max_tokens=MAX_TOKENS,
        system=[{"type": "text", "text": SYSTEM}],
        tools=[],
        history=[*history, user(question, parent_id=history[-1].id if history else None)],
        query=question,
        conversation_id=cid,
        window_start=hint if isinstance(hint, str) else None,
        summaries=(lambda: chat.store.summaries(cid)) if cid else None,
        dry_run=True,
    )
    return engine.prepare(request).request


def run_strategy(
    name: str, budget: int | None, scripts: Sequence[Script], golds: Sequence[list[Gold]],
    questions: int | None,
) -> Point:  # fmt: skip
    """One point of the frontier over every conversation."""
    point = Point(name, budget)
    for script, gold in zip(scripts, golds, strict=True):
        chat, emu, engine = replay(script, STRATEGIES[name](budget), budget)
        cost = chat.ledger.cost_usd
        point.usd += cost or 0.0
        picked = _picked(len(script.questions), questions)
        texts = []
        for q in (script.questions[i] for i in picked):
            request = ask(chat, engine, q)
            texts.append(request_text(request))
            point.tokens.append(emu.count_request_tokens(request.to_api()))
        shares, cats = score(texts, [gold[i] for i in picked])
        point.shares.extend(shares)
        point.categories.extend(cats)
        point.by_conversation[script.sample_id] = [s for s in shares if s is not None]
    return point


def _one_conversation(task: tuple[str, int | None, Script, list[Gold], int | None]) -> Point:
    """One strategy at one budget on one conversation (a worker process's unit of work)."""
    name, budget, script, gold, questions = task
    return run_strategy(name, budget, [script], [gold], questions)


def run_points(
    names: Sequence[str], budgets: Sequence[int | None], scripts: Sequence[Script],
    golds: Sequence[list[Gold]], questions: int | None, jobs: int,
) -> list[Point]:  # fmt: skip
    """Every strategy at every budget, each conversation replayed on its own (in ``jobs``
    processes), the conversations' questions then pooled per point. The whole conversation
    ("full", None) is measured for the first strategy only: when no turn leaves the
    request, no policy has anything to do, and every strategy sends the same requests."""
    pairs = [(n, b) for n in names for b in budgets if b is not None or n == names[0]]
    tasks = [(n, b, s, g, questions) for n, b in pairs
             for s, g in zip(scripts, golds, strict=True)]  # fmt: skip
    points = {(n, b): Point(n, b) for n, b in pairs}
    if jobs > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            done = pool.imap(_one_conversation, tasks)
            _fold(points, tasks, done)
    else:
        _fold(points, tasks, map(_one_conversation, tasks))
    return list(points.values())


def _fold(points: dict[tuple[str, int | None], Point], tasks: list[Any], done: Any) -> None:
    for (name, budget, script, _, _), part in zip(tasks, done, strict=True):
        point = points[(name, budget)]
        point.add(part)
        evidence = statistics.mean(part.by_conversation[script.sample_id] or [0.0])
        print(f"  {name} @ {budget or 'full'} on {script.sample_id}: {evidence:.3f}, "
              f"{round(statistics.mean(part.tokens or [0]))} tok, ${part.usd:.3f}",
              file=sys.stderr, flush=True)  # fmt: skip


def _picked(total: int, wanted: int | None) -> list[int]:
    """Indices of the questions asked: all, or ``wanted`` spread evenly over them."""
    if wanted is None or wanted >= total:
        return list(range(total))
    return sorted({round(i * total / wanted) for i in range(wanted)})


# ---------------------------------------------------------------- the peers' recipes


Turn = dict[str, Any]


def _api(script: Script) -> list[Turn]:
    return [{"role": r, "content": [{"type": "text", "text": t}]} for r, t in script.messages]


def pydantic_ai_recent(messages: list[Turn], n: int) -> list[Turn]:
    """pydantic-ai's "Keep Only Recent Messages" processor (docs/message-history.md)."""
    return messages[-n:] if len(messages) > n else messages


def langchain_trim_last(
    messages: list[Turn], max_tokens: int, sizes: list[int], system: int
) -> list[Turn]:
    """LangChain ``trim_messages(strategy="last", start_on="human", include_system=True,
    allow_partial=False)`` over messages of known ``sizes``: the system prompt's tokens
    counted first, then the newest whole messages that fit, then leading non-human ones
    dropped."""
    room = max_tokens - system
    start = len(messages)
    while start > 0 and sizes[start - 1] <= room:
        room -= sizes[start - 1]
        start -= 1
    while start < len(messages) and messages[start]["role"] != "user":
        start += 1
    return messages[start:]


@dataclass
class _Sized:
    """A script's messages in the API form with each one's tokens, counted once."""

    api: list[Turn]
    sizes: list[int]
    system: int  # the request frame and system prompt


def _sized(script: Script, count: Callable[[list[Turn]], int]) -> _Sized:
    api = _api(script)
    dot = {"role": "user", "content": [{"type": "text", "text": "."}]}
    system = 2 * count([dot]) - count([dot, dot])  # the frame and system prompt alone
    return _Sized(api, [count([m]) - system for m in api], system)


def run_peer(
    name: str, setting: int, scripts: Sequence[Script], golds: Sequence[list[Gold]],
    questions: int | None, sized: dict[str, _Sized],
) -> Point:  # fmt: skip
    """A peer recipe over the same replay: its replay billed uncached, its requests scored."""
    from claudechat.models import model_info

    prices = model_info(MODEL).prices
    assert prices is not None
    emu = Emulator()
    label: int | str = f"last {setting} messages" if name.startswith("pydantic") else setting
    point = Point(name, label)
    system = [{"type": "text", "text": SYSTEM}]

    def count(messages: list[Turn]) -> int:
        body = {"model": MODEL, "system": system, "messages": messages or [
            {"role": "user", "content": [{"type": "text", "text": "."}]}]}  # fmt: skip
        return emu.count_request_tokens(body)

    for script, gold in zip(scripts, golds, strict=True):
        if script.sample_id not in sized:
            sized[script.sample_id] = _sized(script, count)
        known = sized[script.sample_id]
        api, sizes = known.api, known.sizes

        def select(history: list[Turn], sizes: list[int], known: _Sized = known) -> list[Turn]:
            if name.startswith("pydantic"):
                return pydantic_ai_recent(history, setting)
            return langchain_trim_last(history, setting, sizes, known.system)

        for i in range(0, len(api), 2):  # each user message is a request, its reply the next
            sent = select(api[: i + 1], sizes[: i + 1])
            point.usd += (known.system + sum(sizes[i + 1 - len(sent) : i + 1])) * prices.input / 1e6
            point.usd += sizes[i + 1] * prices.output / 1e6
        picked = _picked(len(script.questions), questions)
        texts = []
        for q in (script.questions[i] for i in picked):
            ask_msg = {"role": "user", "content": [{"type": "text", "text": q}]}
            sent = select([*api, ask_msg], [*sizes, count([ask_msg]) - known.system])
            texts.append(SYSTEM + "\n" + "\n".join(m["content"][0]["text"] for m in sent))
            point.tokens.append(count(sent))
        shares, cats = score(texts, [gold[i] for i in picked])
        point.shares.extend(shares)
        point.categories.extend(cats)
        point.by_conversation[script.sample_id] = [s for s in shares if s is not None]
    return point


# ---------------------------------------------------------------- output


def draw(points: list[dict[str, Any]], path: Path) -> None:
    """The frontier: evidence in context against tokens per question and replay USD."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    names = list(dict.fromkeys(p["strategy"] for p in points))
    for ax, key, label in ((axes[0], "tokens_per_question", "input tokens per question"),
                           (axes[1], "usd", "USD billed for the replay")):  # fmt: skip
        for name in names:
            mine = [p for p in points if p["strategy"] == name]  # in budget order
            style = "--" if "peer" in name or "pydantic" in name or "LangChain" in name else "-"
            ax.plot([p[key] for p in mine], [p["evidence_in_context"] for p in mine],
                    style, marker="o", label=name)  # fmt: skip
        if key == "tokens_per_question":
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("evidence turns in the request")
        ax.grid(True, alpha=0.3)
    axes[1].legend(fontsize=8, loc="lower right")
    fig.suptitle("What a request remembers against what it costs (LoCoMo, emulator); "
                 "lines join one strategy's budgets")  # fmt: skip
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def print_table(points: list[dict[str, Any]]) -> None:
    """The points as a Markdown table."""
    cats = list(CATEGORIES.values())
    print("| strategy | budget | evidence in context | " + " | ".join(cats)
          + " | tokens / question | replay USD |")  # fmt: skip
    print("| --- | --- | --- | " + " | ".join("---" for _ in cats) + " | --- | --- |")
    for p in points:
        per = " | ".join(
            f"{p['per_category'][c]:.2f}" if c in p["per_category"] else "–" for c in cats
        )
        budget = p["budget"] if isinstance(p["budget"], str) else f"{p['budget']:,}"
        print(f"| {p['strategy']} | {budget} | {p['evidence_in_context']:.3f} | {per} | "
              f"{p['tokens_per_question']:,} | {p['usd']:.3f} |")  # fmt: skip


def _budget(text: str) -> int | None:
    text = text.strip().lower()
    if text == "full":
        return None
    return round(float(text[:-1]) * 1000) if text.endswith("k") else int(text)


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every point the arguments ask for."""
    samples = json.loads(args.data.read_text(encoding="utf-8"))
    samples = samples[: 1 if args.quick else args.conversations]
    scripts = [read_script(s) for s in samples]
    golds = [read_gold(s) for s in samples]
    budgets = QUICK_BUDGETS if args.quick else [_budget(b) for b in args.budgets.split(",")]
    questions = 60 if args.quick else None
    names = [n for n in args.strategies.split(",") if n]
    done = run_points(names, budgets, scripts, golds, questions, args.jobs)
    points: list[dict[str, Any]] = [p.to_dict() for p in done]
    if args.no_peers:
        return points
    sized: dict[str, _Sized] = {}
    for n in PEER_MESSAGES if not args.quick else PEER_MESSAGES[::2]:
        peer = run_peer("pydantic-ai recent N", n, scripts, golds, questions, sized)
        points.append(peer.to_dict())
    for budget in [b for b in budgets if b is not None]:
        peer = run_peer("LangChain trim_messages", budget, scripts, golds, questions, sized)
        points.append(peer.to_dict())
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true",
                        help="one conversation, 60 questions, three budgets")  # fmt: skip
    parser.add_argument("--conversations", type=int, default=None, help="the first N only")
    parser.add_argument("--budgets", default="2k,2.5k,3k,4k,8k,16k,full")
    parser.add_argument("--jobs", type=int, default=1,
                        help="replay conversations in this many processes")  # fmt: skip
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--no-peers", action="store_true", help="skip the peers' recipes")
    parser.add_argument(
        "--load",
        type=Path,
        nargs="*",
        default=[],
        help="draw and tabulate the points of earlier --json outputs instead",
    )
    parser.add_argument("--png", type=Path, default=None,
                        help="the figure (default bench/figures/memory.png; with --quick, "
                        "bench/results/memory-quick.png)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.png is None:
        where = ("results", "memory-quick.png") if args.quick else ("figures", "memory.png")
        args.png = ROOT / "bench" / where[0] / where[1]

    started = time.perf_counter()
    if args.load:
        points = [p for f in args.load for p in json.loads(f.read_text())["points"]]
    else:
        points = measure(args)
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps({"points": points, "seconds": round(elapsed, 1)}, indent=1))
    if args.png and str(args.png) not in ("", "."):
        draw(points, args.png)
    if args.json:
        return 0
    print_table(points)
    print(f"\n{elapsed:.0f} s; figure: {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
