"""The Recall policy on hand-built conversations: the old turn holding the fact comes back
with its date, turns in the window are never injected twice, the block keeps to its cap."""

from __future__ import annotations

import re
from typing import Any

import pytest

from claudechat.context import ContextEngine, ContextRequest, TokenWindow
from claudechat.context.base import Candidate, ContextState
from claudechat.context.recall import RECALL_TAG, Recall, recall_block
from claudechat.errors import UserError
from claudechat.messages import Message, assistant, group_turns, user
from claudechat.models.capabilities import model_info
from claudechat.search import HashingEmbedder, MemoryIndex, SearchUnit, SQLiteIndex, TurnKeys
from claudechat.search.turns import index_turns, reindex_conversation, turn_text, turn_units
from claudechat.store.memory import MemoryStore
from claudechat.tokens import TokenAccountant

INFO = model_info("claude-sonnet-4-6")
DAY = 86_400.0
T0 = 1_700_000_000.0  # 2023-11-14 22:13 UTC

FACTS = [
    ("Where did I put the spare house key?", "Under the blue flowerpot by the back door."),
    ("What's the wifi password at the cabin?", "It is larch-otter-42, written on the fridge."),
    ("Which dentist did I book?", "Dr. Okafor on Friday at 10:30."),
    ("What was the name of the deploy script?", "scripts/ship_it.sh with the --canary flag."),
]


def by_words(text: str, family: str) -> int:
    return len(text.split())


def counter() -> TokenAccountant:
    return TokenAccountant(estimator=by_words)


def filler(i: int) -> tuple[str, str]:
    return f"Tell me something about topic {i}.", f"Topic {i} is " + " ".join(["fine"] * 30)


def history(*, fillers: int = 8) -> list[Message]:
    """Fact turns first (days ago), then filler turns, then a new question."""
    pairs = FACTS + [filler(i) for i in range(fillers)]
    out: list[Message] = []
    parent = None
    for n, (q, a) in enumerate(pairs):
        when = T0 + n * DAY
        q_msg = user(q, parent_id=parent, created_at=when)
        a_msg = assistant(a, parent_id=q_msg.id, created_at=when + 5)
        out += [q_msg, a_msg]
        parent = a_msg.id
    return out


def stored(messages: list[Message], new: str) -> tuple[MemoryStore, str, list[Message]]:
    store = MemoryStore()
    conv = store.create_conversation(title="t")
    for m in messages:
        store.append(conv.id, m)
    question = user(new, parent_id=messages[-1].id, created_at=T0 + 100 * DAY)
    store.append(conv.id, question)
    return store, conv.id, [*messages, question]


def state(store: Any, conversation_id: str, query: str, budget: int = 100_000) -> ContextState:
    return ContextState(
        budget=budget,
        counter=counter(),
        model=INFO,
        conversation_id=conversation_id,
        history=store.branch(conversation_id),
        query=query,
    )


def recalled_text(candidate: Candidate) -> str:
    blocks = [b for b in candidate.injected if RECALL_TAG in str(b.get("text", ""))]
    assert len(blocks) <= 1
    return str(blocks[0]["text"]) if blocks else ""


def test_the_old_turn_holding_the_fact_is_recalled_with_its_date() -> None:
    store, cid, branch = stored(history(), "what was the cabin wifi password again?")
    window = branch[-5:]  # the window kept only the newest turns
    recall = Recall(MemoryIndex(), k=2)
    out = recall.apply(
        Candidate(system=[], tools=[], history=window), state(store, cid, branch[-1].text)
    )
    text = recalled_text(out)
    assert text.startswith(f"<{RECALL_TAG}>") and text.endswith(f"</{RECALL_TAG}>")
    assert "larch-otter-42" in text
    assert 'date="2023-11-15 22:13 UTC"' in text  # the turn's own day, not today
    assert 'speaker="user"' in text
    assert out.history == window  # the history itself is untouched
    assert out.notes["recall"][0]["id"] == branch[2].id


def test_dense_and_hybrid_indexes_recall_too() -> None:
    store, cid, branch = stored(history(), "Which deploy script do we use?")
    for index in (
        MemoryIndex(embedder=HashingEmbedder(), mode="dense"),
        SQLiteIndex(":memory:", embedder=HashingEmbedder()),
    ):
        out = Recall(index, k=1).apply(
            Candidate(system=[], tools=[], history=branch[-3:]), state(store, cid, "deploy script")
        )
        assert "ship_it.sh" in recalled_text(out)


def test_turns_in_the_window_are_not_injected_twice() -> None:
    store, cid, branch = stored(history(fillers=2), "Remind me of the wifi password")
    # the wifi turn is still in the window: nothing about it may be injected
    window = branch[2:]
    out = Recall(MemoryIndex(), k=10).apply(
        Candidate(system=[], tools=[], history=window), state(store, cid, branch[-1].text)
    )
    text = recalled_text(out)
    assert "larch-otter-42" not in text
    in_window = {m.id for m in window}
    assert all(n["id"] not in in_window for n in out.notes["recall"])
    # the whole history in the window: nothing to recall at all
    everything = Recall(MemoryIndex(), k=10).apply(
        Candidate(system=[], tools=[], history=branch), state(store, cid, branch[-1].text)
    )
    assert everything.injected == [] and everything.notes["recall"] == []


class _Watched(MemoryIndex):
    """A MemoryIndex that counts its searches."""

    searches = 0

    def search(self, *args: Any, **kwargs: Any) -> Any:
        self.searches += 1
        return super().search(*args, **kwargs)


class _Counted(TokenAccountant):
    """An accountant that counts the messages it is asked about."""

    asked = 0

    def message_tokens(self, message: Message) -> int:
        self.asked += 1
        return super().message_tokens(message)


def test_a_window_holding_the_whole_branch_is_neither_searched_nor_counted() -> None:
    store, cid, branch = stored(history(fillers=2), "Remind me of the wifi password")
    index, accountant = _Watched(), _Counted(estimator=by_words)
    st = state(store, cid, branch[-1].text)
    st.counter = accountant
    everything = Recall(index, k=10).apply(Candidate(system=[], tools=[], history=branch), st)
    assert everything.injected == [] and everything.notes["recall"] == []
    assert (index.searches, accountant.asked) == (0, 0)
    assert index  # the turns were indexed all the same, for when they leave the window
    trimmed = Recall(index, k=10).apply(Candidate(system=[], tools=[], history=branch[4:]), st)
    assert "larch-otter-42" in recalled_text(trimmed)
    assert index.searches == 1 and accountant.asked >= len(branch[4:])  # counted for room
    across = Recall(index, k=10, across_conversations=True)
    across.apply(Candidate(system=[], tools=[], history=branch), st)
    assert index.searches == 2  # other conversations may hold turns the window lacks


class _Read(MemoryIndex):
    """A MemoryIndex that counts the reads of a conversation's indexed turns."""

    reads = 0

    def indexed(self, conversation_id: str) -> dict[str, tuple[str, ...]]:
        self.reads += 1
        return super().indexed(conversation_id)


def test_a_branch_indexed_to_its_end_is_not_read_again_before_its_next_turn() -> None:
    store, cid, branch = stored(history(fillers=3), "what is the cabin wifi password?")
    index = _Read()
    recall = Recall(index, k=2)
    assert recall.index_branch(cid, branch[:-1], include_last=True) == 7  # at a turn's end
    reads = index.reads
    out = recall.apply(Candidate(system=[], tools=[], history=branch[-3:]),
                       state(store, cid, branch[-1].text))  # fmt: skip
    assert "larch-otter-42" in recalled_text(out)
    assert index.reads == reads  # the index is known up to date: not read before the request
    # the next turn without indexing at the end of this one: the finished turn is indexed
    reply = assistant("It is written on the fridge.", parent_id=branch[-1].id)
    question = user("and the spare key?", parent_id=reply.id)
    for m in (reply, question):
        store.append(cid, m)
    recall.apply(Candidate(system=[], tools=[], history=[reply, question]),
                 state(store, cid, question.text))  # fmt: skip
    assert index.reads == reads + 1 and branch[-1].id in index.indexed(cid)
    # another branch as long (a retried reply, then a question): read and indexed again
    other = assistant("No idea, sorry.", parent_id=branch[-1].id)
    again = user("the wifi password, please", parent_id=other.id)
    for m in (other, again):
        store.append(cid, m)
    reads = index.reads
    recall.apply(Candidate(system=[], tools=[], history=[other, again]),
                 state(store, cid, again.text))  # fmt: skip
    assert index.reads == reads + 1
    assert index.indexed(cid)[branch[-1].id] == (branch[-1].id, other.id)


@pytest.mark.parametrize("cap", [100, 150, 400])
def test_the_block_respects_its_token_cap(cap: int) -> None:
    long_facts = history(fillers=12)
    store, cid, branch = stored(long_facts, "Tell me about topic and fine things")
    out = Recall(MemoryIndex(), k=10, max_tokens=cap).apply(
        Candidate(system=[], tools=[], history=branch[-1:]), state(store, cid, branch[-1].text)
    )
    text = recalled_text(out)
    assert text, "something fits in every cap tried"
    assert by_words(text, "") <= cap
    assert text.endswith(f"</{RECALL_TAG}>")
    assert len(out.notes["recall"]) < 10 or cap >= 400


def test_a_cap_too_small_for_any_turn_injects_nothing() -> None:
    store, cid, branch = stored(history(), "wifi password")
    out = Recall(MemoryIndex(), max_tokens=40).apply(
        Candidate(system=[], tools=[], history=branch[-1:]), state(store, cid, "wifi password")
    )
    assert out.injected == [] and out.notes["recall"] == []


def test_the_block_never_exceeds_the_room_left_in_the_budget() -> None:
    store, cid, branch = stored(history(), "wifi password")
    window = branch[-3:]
    used = sum(counter().message_tokens(m) for m in window)
    out = Recall(MemoryIndex(), max_tokens=1500).apply(
        Candidate(system=[], tools=[], history=window),
        state(store, cid, "wifi password", budget=used + 40),
    )
    assert out.injected == []


def test_a_turn_too_long_for_the_cap_is_cut_visibly() -> None:
    hits_source = MemoryIndex()
    long_answer = "The recipe: " + " ".join(f"step{i}" for i in range(400))
    msgs = [user("How do I bake rye bread?", created_at=T0), assistant(long_answer)]
    hits_source.add(turn_units("c", msgs))
    hits = hits_source.search("rye bread recipe", k=1)
    text, kept = recall_block(hits, max_tokens=150, count=lambda s: by_words(s, ""))
    assert kept == hits
    assert "[… cut to fit the recall budget …]" in text
    assert by_words(text, "") <= 150


def test_recall_reads_only_the_active_branch() -> None:
    store, cid, branch = stored(history(fillers=3), "what is the wifi password?")
    index = MemoryIndex()
    recall = Recall(index, k=3)
    recall.apply(Candidate(system=[], tools=[], history=branch[-1:]), state(store, cid, "wifi"))
    # fork before the wifi turn: that turn is no longer on the branch
    fork_parent = branch[1]
    other = user("What is the wifi password?", parent_id=fork_parent.id, created_at=T0 + 50 * DAY)
    store.append(cid, other)
    out = recall.apply(
        Candidate(system=[], tools=[], history=[*branch[:2], other]),
        state(store, cid, other.text),
    )
    assert "larch-otter-42" not in recalled_text(out)


def test_across_conversations_brings_back_other_conversations_turns() -> None:
    index = MemoryIndex()
    index_turns(index, "older-chat", history(fillers=0), include_last=True)
    question = "What did I say about the dentist appointment?"
    local = Recall(index, k=3, sync=False).preview(question, conversation_id="new-chat")
    assert local.hits == []
    wide = Recall(index, k=3, across_conversations=True, sync=False).preview(
        question, conversation_id="new-chat"
    )
    assert "Dr. Okafor" in wide.text
    assert 'conversation="older-chat"' in wide.text


def test_preview_shows_what_would_be_injected() -> None:
    store, cid, _ = stored(history(), "where is the spare key")
    recall = Recall(MemoryIndex(), k=1)
    shown = recall.preview("where is the spare key", conversation_id=cid, branch=store.branch(cid))
    assert "blue flowerpot" in shown.text
    assert shown.tokens > 0 and len(shown.hits) == 1
    assert recall.preview("   ", conversation_id=cid, branch=store.branch(cid)).blocks == []


def test_index_turns_skips_the_unfinished_turn_and_updates_grown_turns() -> None:
    msgs = history(fillers=0)
    index = MemoryIndex()
    assert index_turns(index, "c", msgs[:3]) == 1  # the third message opens an unfinished turn
    assert index_turns(index, "c", msgs[:3]) == 0
    assert index_turns(index, "c", msgs) == 2
    assert index_turns(index, "c", msgs, include_last=True) == 1
    assert len(index) == 4
    assert turn_text(group_turns(msgs)[0]) == (
        "user: Where did I put the spare house key?\n"
        "assistant: Under the blue flowerpot by the back door."
    )
    [unit] = turn_units("c", msgs[:2], keys=None)
    assert unit.id == msgs[0].id and unit.message_ids == (msgs[0].id, msgs[1].id)
    assert unit.key == "" and unit.created_at is not None


class _NoKeys(TurnKeys):
    """Keys that must not be made: the index already holds every turn."""

    def apply(self, units: list[SearchUnit]) -> list[SearchUnit]:
        raise AssertionError("keyed every turn again")


def test_index_turns_keys_nothing_when_the_index_holds_every_turn() -> None:
    msgs = history(fillers=3)
    index = MemoryIndex()
    assert index_turns(index, "c", msgs, include_last=True) == len(msgs) // 2
    assert index_turns(index, "c", msgs, include_last=True, keys=_NoKeys()) == 0
    assert index_turns(index, "c", msgs, keys=_NoKeys()) == 0
    grown = [*msgs, user("and the shed key?")]
    with pytest.raises(AssertionError, match="keyed"):  # a new finished turn is keyed
        index_turns(index, "c", [*grown, assistant("On the hook.")], include_last=True,
                    keys=_NoKeys())  # fmt: skip


def test_bad_settings_are_refused() -> None:
    with pytest.raises(UserError):
        Recall(MemoryIndex(), k=0)
    with pytest.raises(UserError):
        Recall(MemoryIndex(), max_tokens=0)


def test_in_the_engine_the_block_goes_to_the_new_user_message_after_the_cache() -> None:
    _, cid, branch = stored(history(fillers=30), "what is the cabin wifi password")
    engine = ContextEngine(
        [TokenWindow(), Recall(MemoryIndex(), k=2, max_tokens=300)],
        budget=400,
        counter=counter(),
    )
    prepared = engine.prepare(
        ContextRequest(
            model=INFO,
            max_tokens=1000,
            system=[{"type": "text", "text": "Be brief."}],
            tools=[],
            history=branch,
            query=branch[-1].text,
            conversation_id=cid,
        )
    )
    messages = prepared.request.messages
    kept_ids = {m.id for m in prepared.candidate.history}
    assert branch[2].id not in kept_ids  # the wifi turn left the window...
    last = messages[-1]
    assert last["role"] == "user"
    recalled = [b for b in last["content"] if RECALL_TAG in str(b.get("text", ""))]
    assert len(recalled) == 1 and "larch-otter-42" in recalled[0]["text"]  # ...and came back
    assert "cache_control" not in recalled[0]
    # no cache breakpoint after the recalled block
    idx = last["content"].index(recalled[0])
    assert not any("cache_control" in b for b in last["content"][idx:])
    assert len(re.findall(f"<{RECALL_TAG}>", str(messages))) == 1


def test_reindex_rebuilds_a_conversation_from_its_branch() -> None:
    store, cid, branch = stored(history(fillers=1), "last question")
    index = MemoryIndex()
    index.add(turn_units(cid, [user("stale turn", created_at=T0), assistant("gone")]))
    assert reindex_conversation(index, store, cid) == 6  # 5 finished turns + the open one
    assert set(index.indexed(cid)) == {m.id for m in branch if m.role == "user"}
