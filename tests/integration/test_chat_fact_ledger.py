"""The fact ledger through Chat over the emulator: seeded identifiers stay in the request
after summary folds and window trims, across resume, fork, and export / import."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from chats import ChatMaker, message_requests

from claudechat.context import ContextEngine, strategy_policies
from claudechat.context.summary import SUMMARY_SYSTEM
from claudechat.metadata import FACTS_FOLDED, FACTS_LOST, MESSAGES_FOLDED
from claudechat.store.export import export_json, import_conversation
from claudechat.store.sqlite import SQLiteStore
from claudechat.testing import Emulator, EmuRequest

SEEDS = [
    ("The staging database lives at /srv/pg/staging-17.conf", "/srv/pg/staging-17.conf"),
    ("Our incident ticket is INC-48213", "INC-48213"),
    ("The cache timeout must be 275 ms", "275 ms"),
    ("We ship on 2026-03-14", "2026-03-14"),
    ("Deploy with `kubectl rollout restart deploy/ledger-api`",
     "kubectl rollout restart deploy/ledger-api"),
    ("The dashboard is https://grafana.example.net/d/ab12", "https://grafana.example.net/d/ab12"),
    ("The retry helper is called backoff_with_jitter()", "backoff_with_jitter()"),
    ("The vendor contact is Ingrid Halvorsen", "Ingrid Halvorsen"),
]  # fmt: skip
VALUES = [value for _, value in SEEDS]
QUESTION = "Remind me of the ticket, path, timeout, date, command, dashboard, helper and contact."


_PROSE = [
    "the",
    "a",
    "river",
    "stone",
    "moves",
    "slowly",
    "over",
    "quiet",
    "water",
    "and",
    "then",
    "we",
    "talk",
    "about",
    "lunch",
    "plans",
    "weather",
    "garden",
    "music",
    "books",
    "travel",
    "coffee",
    "evening",
    "morning",
    "friends",
    "family",
    "walk",
    "bike",
    "tea",
    "bread",
    "soup",
    "window",
    "door",
    "table",
    "chair",
    "lamp",
    "paper",
    "letter",
    "story",
    "song",
    "dance",
    "game",
]


def prose(n: int, seed: int) -> str:
    """``n`` lower-case words that hold no fact."""
    rnd = random.Random(seed)
    return " ".join(rnd.choice(_PROSE) for _ in range(n))


def _is_summary(request: EmuRequest) -> bool:
    return any(b.get("text") == SUMMARY_SYSTEM for b in request.system)


def lossy_summaries(request: EmuRequest) -> str:
    """A summary model that keeps the first two facts it is asked to keep and loses the
    rest (the loss users report); short answers otherwise."""
    if not _is_summary(request):
        return "noted."
    prompt = request.last_user_text
    listed = prompt.split("<facts_to_keep>")[-1].split("</facts_to_keep>")[0]
    kept = [line[2:] for line in listed.strip().splitlines() if line.startswith("- ")][:2]
    return "- The user shared some project details. " + " ".join(kept)


def _engine(strategy: str, budget: int = 1_500, *, facts: bool = True) -> ContextEngine:
    return ContextEngine(strategy_policies(strategy, facts=facts), budget=budget)


def _seed_and_fill(chat: Any, fillers: int) -> None:
    for text, _ in SEEDS:
        chat.send(text + ".")
    for i in range(fillers):
        chat.send(f"next {i}: " + prose(110, i))


def _last_request_text(emu: Emulator) -> str:
    requests = [r for r in message_requests(emu) if not _is_summary_body(r.body)]
    return json.dumps(requests[-1].body, ensure_ascii=False)


def _is_summary_body(body: dict[str, Any]) -> bool:
    return any(b.get("text") == SUMMARY_SYSTEM for b in body.get("system") or [])


def _missing(emu: Emulator) -> list[str]:
    sent = _last_request_text(emu)
    return [v for v in VALUES if json.dumps(v)[1:-1] not in sent]


def test_seeded_facts_survive_two_lossy_summary_folds(make_chat: ChatMaker) -> None:
    emu = Emulator(reply=lossy_summaries)
    chat = make_chat(emu, context=_engine("summary"))
    _seed_and_fill(chat, 12)
    chat.send(QUESTION)
    summaries = chat.store.summaries(chat.id or "")
    assert len(summaries) >= 2
    assert _missing(emu) == []
    first = summaries[0].metadata
    assert first[MESSAGES_FOLDED] > 0 and first[FACTS_FOLDED] >= 1
    lost = {f["value"] for s in summaries for f in s.metadata[FACTS_LOST]}
    assert lost & set(VALUES)  # the summary lost some, and the fold record says which
    asked = [r.body for r in message_requests(emu) if _is_summary_body(r.body)]
    assert any("<facts_to_keep>" in json.dumps(body) for body in asked)


def test_seeded_facts_survive_window_trimming(make_chat: ChatMaker) -> None:
    emu = Emulator(reply=lossy_summaries)
    chat = make_chat(emu, context=_engine("window"))
    _seed_and_fill(chat, 10)
    chat.send(QUESTION)
    sent = message_requests(emu)[-1].body
    assert "Our incident ticket" not in json.dumps(sent["messages"][0])  # trimmed
    assert _missing(emu) == []
    fill = chat.window_fill()
    assert fill.notes["ledger"]["messages"] > 0 and fill.notes["ledger"]["facts"] >= 8


def test_without_the_ledger_the_window_loses_the_seeded_facts(make_chat: ChatMaker) -> None:
    emu = Emulator(reply=lossy_summaries)
    chat = make_chat(emu, context=_engine("window", facts=False))
    _seed_and_fill(chat, 10)
    chat.send(QUESTION)
    assert _missing(emu) == VALUES


def test_the_ledger_survives_resume_in_a_new_chat_over_sqlite(
    make_chat: ChatMaker, tmp_path: Path
) -> None:
    emu = Emulator(reply=lossy_summaries)
    store = SQLiteStore(tmp_path / "c.db")
    chat = make_chat(emu, store=store, context=_engine("summary"))
    _seed_and_fill(chat, 12)
    cid = chat.id or ""
    store.close()

    again = SQLiteStore(tmp_path / "c.db")
    resumed = make_chat(emu, store=again, context=_engine("summary"),
                        _conversation=again.get_conversation(cid))  # fmt: skip
    resumed.send(QUESTION)
    assert _missing(emu) == []


def test_fork_and_export_import_keep_the_ledger_and_the_fold_records(
    make_sync_chat: ChatMaker, tmp_path: Path
) -> None:
    emu = Emulator(reply=lossy_summaries)
    store = SQLiteStore(tmp_path / "c.db")
    chat = make_sync_chat(emu, store=store, context=_engine("summary"))
    _seed_and_fill(chat, 12)
    lost = [s.metadata[FACTS_LOST] for s in store.summaries(chat.id or "")]

    fork = chat.fork()
    fork.send(QUESTION)
    assert _missing(emu) == []
    copied = [len(s.metadata[FACTS_LOST]) for s in store.summaries(fork.id or "")]
    assert copied == [len(x) for x in lost]

    imported = import_conversation(store, json.loads(export_json(store, chat.id or "")))
    back = store.summaries(imported.id)
    assert [len(s.metadata[FACTS_LOST]) for s in back] == [len(x) for x in lost]
    other = make_sync_chat(emu, store=store, context=_engine("summary"), _conversation=imported)
    other.send(QUESTION)
    assert _missing(emu) == []
