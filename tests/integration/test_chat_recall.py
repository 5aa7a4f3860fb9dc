"""Recall through Chat, the real SDK and the emulator: an evicted fact brought back for
one request, after the cache breakpoints, never stored and never duplicated."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from chats import ChatMaker, assert_valid_request, message_requests

from claudechat import Chat, ContextEngine, TokenWindow
from claudechat.context.recall import RECALL_TAG, Recall
from claudechat.search import MemoryIndex, SearchIndex, SQLiteIndex
from claudechat.store.base import Store
from claudechat.store.memory import MemoryStore
from claudechat.store.sqlite import SQLiteStore
from claudechat.testing import Emulator, EmuRequest, count_tokens_text

MODEL = "claude-sonnet-4-6"
FACT = "Note for later: the deploy command is `make ship-prod`. Please remember it."
QUESTION = "Which command do we use to deploy?"
CAP = 400
TOPICS = ["gardening", "sailing", "chess openings", "bread baking", "bird watching", "pottery"]


def filler(i: int) -> str:
    topic = TOPICS[i % len(TOPICS)]
    return f"Chat {i} about {topic}. " + " ".join(
        f"Point {j} on {topic}: patience, practice and good tools matter for step {j}."
        for j in range(12)
    )


def recall_chat(make_chat: ChatMaker, emu: Emulator, store: Store, index: SearchIndex) -> Chat:
    engine = ContextEngine([TokenWindow(), Recall(index, k=3, max_tokens=CAP)], budget=3_000)
    return make_chat(emu, MODEL, store=store, context=engine)


def sent_text(message: dict[str, Any]) -> str:
    return "\n".join(b.get("text", "") for b in message["content"] if b.get("type") == "text")


def recalled(request: Any) -> tuple[int, dict[str, Any]] | None:
    """(index in the last message, block) of the recalled-turns block, if sent."""
    for i, block in enumerate(request.body["messages"][-1]["content"]):
        if block.get("type") == "text" and block["text"].startswith(f"<{RECALL_TAG}>"):
            return i, block
    return None


def has_control(value: Any) -> bool:
    if isinstance(value, dict):
        return "cache_control" in value or any(has_control(v) for v in value.values())
    if isinstance(value, list):
        return any(has_control(v) for v in value)
    return False


def short_answer(request: EmuRequest) -> str:
    return f"Noted ({request.number})."  # no echo: the replies never quote what was sent


def run_recall(make_chat: ChatMaker, store: Store, index: SearchIndex) -> None:
    emu = Emulator(reply=short_answer)
    chat = recall_chat(make_chat, emu, store, index)
    chat.send(FACT)
    for i in range(12):
        chat.send(filler(i))
    before = len(message_requests(emu))
    reply = chat.send(QUESTION)
    request = message_requests(emu)[before]
    assert_valid_request(request)
    messages = request.body["messages"]
    # The fact left the window long ago ...
    assert all("make ship-prod" not in sent_text(m) for m in messages[:-1])
    found = recalled(request)
    assert found is not None, "the evicted fact is recalled"
    position, block = found
    text = block["text"]
    assert "make ship-prod" in text
    assert re.search(r'<turn date="\d{4}-\d\d-\d\d \d\d:\d\d UTC"', text)
    # ... and comes back after the last cache breakpoint, in the last user message.
    last = messages[-1]
    assert last["role"] == "user"
    assert last["content"][0]["text"] == QUESTION
    controlled = [i for i, b in enumerate(last["content"]) if "cache_control" in b]
    assert controlled and max(controlled) < position
    assert not has_control(last["content"][position:])
    # Never a turn the window still holds.
    for m in messages[:-1]:
        head = sent_text(m)[:80]
        assert head and head not in text
    # Within its cap: by the engine's own count, and close to it by the server's.
    assert chat.context.last is not None
    assert chat.context.last.candidate.injected == [
        {k: v for k, v in block.items() if k != "cache_control"}
    ]
    assert chat.context.counter.text_tokens(text) <= CAP
    assert count_tokens_text(text, MODEL) <= CAP * 1.05  # offline estimates are within a few %
    # Not stored: the user message holds only the user's words.
    assert chat.conversation is not None
    branch = store.branch(chat.conversation.id)
    question = branch[-2]
    assert question.role == "user"
    assert question.content == [{"type": "text", "text": QUESTION}]
    assert all(RECALL_TAG not in str(m.content) for m in branch)
    assert reply.text
    # The next request does not replay it (the next question has nothing to recall).
    chat.send("Thanks, that is all.")
    nxt = message_requests(emu)[-1]
    assert_valid_request(nxt)
    assert all(RECALL_TAG not in sent_text(m) for m in nxt.body["messages"][:-1])


def test_recall_brings_back_an_evicted_fact_with_a_memory_index(make_chat: ChatMaker) -> None:
    run_recall(make_chat, MemoryStore(), MemoryIndex())


def test_recall_with_an_sqlite_index_in_the_store_database(
    make_chat: ChatMaker, tmp_path: Path
) -> None:
    path = tmp_path / "c.db"
    run_recall(make_chat, SQLiteStore(path), SQLiteIndex(path))


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_fact_still_in_the_window_is_not_recalled(
    make_chat: ChatMaker, tmp_path: Path, kind: str
) -> None:
    emu = Emulator()
    path = tmp_path / "c.db"
    store: Store = MemoryStore() if kind == "memory" else SQLiteStore(path)
    index: SearchIndex = MemoryIndex() if kind == "memory" else SQLiteIndex(path)
    chat = recall_chat(make_chat, emu, store, index)
    chat.send(FACT)
    chat.send(filler(0))
    chat.send(QUESTION)
    request = message_requests(emu)[-1]
    assert "make ship-prod" in sent_text(request.body["messages"][0])
    found = recalled(request)
    assert found is None or "make ship-prod" not in found[1]["text"]


def test_remember_policies_bring_the_fact_back_wherever_the_window_is_in_its_cycle(
    make_chat: ChatMaker,
) -> None:
    """The window trims early enough that recall always has its share: the evicted fact
    comes back whether the window was just trimmed or is at its fullest (one question
    after each number of turns)."""
    from claudechat.context.recall import remember_policies

    budget, past = 3_000, 0
    for turns in range(4, 15):
        emu = Emulator(reply=short_answer)
        engine = ContextEngine(remember_policies("window", MemoryIndex(), budget=budget),
                               budget=budget)  # fmt: skip
        chat = make_chat(emu, MODEL, store=MemoryStore(), context=engine)
        chat.send(FACT)
        for i in range(turns):
            chat.send(filler(i))
        before = len(message_requests(emu))
        chat.send(QUESTION)
        request = message_requests(emu)[before]
        assert_valid_request(request)
        assert emu.count_request_tokens(request.body) <= budget
        if any("make ship-prod" in sent_text(m) for m in request.body["messages"][:-1]):
            continue  # still in the window
        past += 1
        found = recalled(request)
        assert found is not None and "make ship-prod" in found[1]["text"], turns
    assert past >= 7  # more than one trim of the window, and the turns between them
