"""The service benchmark's check of the store: it must see a lost or interleaved message."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from claudechat.messages import Message, assistant, user
from claudechat.store.sqlite import SQLiteStore

BENCH = Path(__file__).resolve().parents[2] / "bench" / "serve.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_serve", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_serve"] = module
    spec.loader.exec_module(module)
    return module


def store_turns(store: SQLiteStore, messages: list[Message]) -> str:
    """A conversation holding ``messages`` in a chain, in that order."""
    cid = store.create_conversation(title="bench").id
    parent = None
    for message in messages:
        chained = replace(message, parent_id=parent)
        store.append(cid, chained)
        parent = chained.id
    return cid


def test_whole_conversations_pass_and_lost_or_interleaved_messages_are_counted(
    bench: ModuleType, tmp_path: Path
) -> None:
    q, reply = bench.question, bench.expected_reply
    spec = str(tmp_path / "chat.db")
    with SQLiteStore(spec) as store:
        whole = store_turns(store, [m for t in range(3)
                                    for m in (user(q(0, t)), assistant(reply(q(0, t))))])  # fmt: skip
        cut = store_turns(store, [user(q(1, 0)), assistant(reply(q(1, 0))), user(q(1, 1)),
                                  assistant(reply(q(1, 1))[:20], status="partial")])  # fmt: skip
        mixed = store_turns(store, [user(q(2, 0)), assistant(reply(q(3, 0))), user(q(2, 1)),
                                    assistant(reply(q(2, 1))), user(q(2, 2)),
                                    assistant(reply(q(2, 2)))])  # fmt: skip
    answered = {q(u, t) for u in range(3) for t in range(3)}
    assert bench.check_store(spec, {0: whole}, answered) == bench.Check(lost=0, interleaved=0)
    assert bench.check_store(spec, {1: cut}, answered) == bench.Check(lost=2, interleaved=0)
    assert bench.check_store(spec, {2: mixed}, answered) == bench.Check(lost=1, interleaved=1)
    # a turn the client saw fail was not stored: not lost, and the next ones are in place
    gap = store_turns_after(spec, [user(q(2, 0)), assistant(reply(q(2, 0))), user(q(2, 2)),
                                   assistant(reply(q(2, 2)))])  # fmt: skip
    answered_gap = {q(2, 0), q(2, 2)}
    assert bench.check_store(spec, {2: gap}, answered_gap) == bench.Check(lost=0, interleaved=0)
    swapped = store_turns_after(spec, [user(q(2, 1)), assistant(reply(q(2, 1))), user(q(2, 0)),
                                       assistant(reply(q(2, 0)))])  # fmt: skip
    assert bench.check_store(spec, {2: swapped}, {q(2, 0), q(2, 1)}).interleaved == 1
    unanswered = store_turns_after(spec, [user(q(2, 0)), user(q(2, 1)),
                                          assistant(reply(q(2, 1)))])  # fmt: skip
    assert bench.check_store(spec, {2: unanswered}, {q(2, 1)}) == bench.Check(0, 0)
    twice = store_turns_after(spec, [user(q(2, 0)), assistant(reply(q(2, 0))),
                                     assistant(reply(q(2, 0)))])  # fmt: skip
    assert bench.check_store(spec, {2: twice}, {q(2, 0)}).interleaved == 1


def store_turns_after(spec: str, messages: list[Message]) -> str:
    with SQLiteStore(spec) as store:
        return store_turns(store, messages)
