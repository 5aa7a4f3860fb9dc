"""The Store contract, run against MemoryStore, SQLiteStore and PostgresStore."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from claudechat.errors import ConcurrentUpdate, ConversationNotFound, StoreError
from claudechat.messages import Message, assistant, user
from claudechat.models import model_prices
from claudechat.store import MemoryStore, SQLiteStore, Store, Summary
from claudechat.store.export import export_conversation, import_conversation
from claudechat.usage import Usage

PRICED = "claude-sonnet-4-6"
UNPRICED = "claude-imaginary-9"


def _clock() -> Callable[[], float]:
    ticks = itertools.count()
    return lambda: 1_800_000_000.0 + next(ticks)


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    """A fresh, empty store of ``kind`` with a ticking clock."""
    if kind == "memory":
        return MemoryStore(clock=_clock())
    if kind == "sqlite":
        return SQLiteStore(tmp_path / f"chat-{next(_names)}.db", clock=_clock())
    from claudechat.store.postgres import PostgresStore

    return PostgresStore(request.getfixturevalue("pg_new_database")(), clock=_clock(), max_size=4)


_names = itertools.count()
KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = make_store(request.param, tmp_path, request)
    yield s
    s.close()


def reply(
    text: str, parent: Message, *, model: str = PRICED, tokens: int = 100, **kw: object
) -> Message:
    usage = Usage(input_tokens=tokens, output_tokens=tokens // 10, requests=1)
    return assistant(text, parent_id=parent.id, model=model, usage=usage, stop_reason="end_turn",
                     **kw)  # fmt: skip


def chat(store: Store, *texts: str, title: str = "t") -> tuple[str, list[Message]]:
    """A conversation of user/assistant pairs; returns its id and messages."""
    conv = store.create_conversation(title=title)
    out: list[Message] = []
    for text in texts:
        u = user(text, parent_id=out[-1].id if out else None)
        store.append(conv.id, u)
        a = reply(f"answer to {text}", u)
        store.append(conv.id, a)
        out += [u, a]
    return conv.id, out


# --- conversations ---------------------------------------------------------------------------


def test_create_get_update(store: Store) -> None:
    assert isinstance(store, Store)
    conv = store.create_conversation(title="Hi", model=PRICED, system="Be brief.",
                                     metadata={"k": [1, "é"]})  # fmt: skip
    got = store.get_conversation(conv.id)
    assert got == conv
    assert (got.head_id, got.version, got.metadata) == (None, 0, {"k": [1, "é"]})
    updated = store.update_conversation(conv.id, title="New")
    assert (updated.title, updated.model, updated.system) == ("New", PRICED, "Be brief.")
    assert updated.updated_at > conv.updated_at
    assert store.update_conversation(conv.id, metadata={"x": 1}).metadata == {"x": 1}
    assert store.get_conversation(conv.id).title == "New"


def test_explicit_id_and_duplicates(store: Store) -> None:
    assert store.create_conversation(id="c-1").id == "c-1"
    with pytest.raises(StoreError, match="exists"):
        store.create_conversation(id="c-1")


def test_unknown_conversation(store: Store) -> None:
    for call in (
        lambda: store.get_conversation("nope"),
        lambda: store.update_conversation("nope", title="x"),
        lambda: store.delete_conversation("nope"),
        lambda: store.append("nope", user("hi")),
        lambda: store.set_head("nope", None),
        lambda: store.branch("nope"),
        lambda: store.children("nope", None),
        lambda: store.leaves("nope"),
        lambda: store.all_messages("nope"),
        lambda: store.summaries("nope"),
        lambda: store.get_message("nope"),
    ):
        with pytest.raises(ConversationNotFound):
            call()
    with pytest.raises(KeyError):  # ConversationNotFound is a KeyError too
        store.get_conversation("nope")


def test_list_latest_and_figures(store: Store) -> None:
    assert store.list_conversations() == [] and store.latest_conversation() is None
    empty = store.create_conversation(title="empty")
    cid, msgs = chat(store, "one", "two")
    tool_conv = store.create_conversation(title="tools")
    u = user("weather?")
    call = assistant([{"type": "tool_use", "id": "t1", "name": "weather", "input": {}}],
                     parent_id=u.id, model=PRICED,
                     usage=Usage(input_tokens=50, output_tokens=5, requests=1))  # fmt: skip
    result = user([{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}],
                  parent_id=call.id)  # fmt: skip
    final = reply("It is sunny.", result, model=UNPRICED, tokens=70)
    for m in (u, call, result, final):
        store.append(tool_conv.id, m)

    infos = store.list_conversations()
    assert [i.conversation.id for i in infos] == [tool_conv.id, cid, empty.id]
    by_id = {i.conversation.id: i for i in infos}
    e = by_id[empty.id]
    assert (e.messages, e.turns, e.tokens, e.cost_usd) == (0, 0, 0, 0.0)
    c = by_id[cid]
    assert (c.messages, c.turns, c.tokens) == (4, 2, 2 * 110)
    expected = sum(m.usage.cost_usd(PRICED, model_prices) for m in msgs if m.usage)  # type: ignore[misc]
    assert c.cost_usd == pytest.approx(expected)
    t = by_id[tool_conv.id]
    assert (t.messages, t.turns, t.tokens) == (4, 1, 55 + 77)
    assert t.cost_usd is None  # one reply came from a model with no known price
    assert store.latest_conversation() == store.get_conversation(tool_conv.id)
    assert [i.conversation.id for i in store.list_conversations(limit=1, offset=1)] == [cid]
    store.append(cid, user("three", parent_id=msgs[-1].id))
    assert store.latest_conversation().id == cid  # type: ignore[union-attr]


def test_iter_conversations_yields_every_conversation_newest_first(store: Store) -> None:
    assert list(store.iter_conversations()) == []
    ids = [store.create_conversation(title=f"c{n}").id for n in range(7)]
    cid, _ = chat(store, "one", "two")  # the newest, and it has figures
    store.update_conversation(ids[2], title="touched")  # moves ahead of the others
    listed = store.list_conversations(limit=100)
    assert [i.conversation.id for i in listed][:2] == [ids[2], cid]
    for page in (1, 3, 500):
        assert list(store.iter_conversations(page=page)) == listed
    assert len({i.conversation.id for i in store.iter_conversations(page=2)}) == 8


def test_figures_follow_the_head(store: Store) -> None:
    cid, msgs = chat(store, "one", "two")
    store.set_head(cid, msgs[1].id)
    info = next(i for i in store.list_conversations() if i.conversation.id == cid)
    assert (info.messages, info.turns, info.tokens) == (2, 1, 110)


def test_delete_cascades(store: Store) -> None:
    cid, msgs = chat(store, "alpha", "beta")
    keep, kept = chat(store, "alpha kept")
    store.add_summary(Summary("s1", cid, "summary", msgs[0].id, msgs[1].id, 1.0))
    store.delete_conversation(cid)
    with pytest.raises(ConversationNotFound):
        store.get_conversation(cid)
    with pytest.raises(ConversationNotFound):
        store.get_message(msgs[0].id)
    assert {h.conversation_id for h in store.search("alpha")} == {keep}
    assert [i.conversation.id for i in store.list_conversations()] == [keep]
    assert store.all_messages(keep) == kept


# --- messages ------------------------------------------------------------------------------------


def test_append_moves_head_and_version(store: Store) -> None:
    conv = store.create_conversation()
    u = user("hello")
    after = store.append(conv.id, u, expect_version=0)
    assert (after.head_id, after.version) == (u.id, 1)
    a = reply("hi", u)
    after = store.append(conv.id, a, expect_version=1)
    assert (after.head_id, after.version) == (a.id, 2)
    assert after.updated_at > conv.updated_at
    assert store.branch(conv.id) == [u, a]
    side = reply("other", u)
    after = store.append(conv.id, side, move_head=False)
    assert (after.head_id, after.version) == (a.id, 2)
    assert store.get_conversation(conv.id) == after


def test_append_needs_parent_in_the_conversation(store: Store) -> None:
    cid, msgs = chat(store, "one")
    other = store.create_conversation()
    with pytest.raises(ConversationNotFound):
        store.append(other.id, user("x", parent_id=msgs[0].id))
    with pytest.raises(ConversationNotFound):
        store.append(cid, user("x", parent_id="missing"))
    assert store.all_messages(other.id) == [] and len(store.all_messages(cid)) == 2


def test_bad_messages_are_refused(store: Store) -> None:
    conv = store.create_conversation()
    for bad in (
        Message("system", [{"type": "text", "text": "x"}]),  # type: ignore[arg-type]
        Message("user", [{"text": "no type"}]),
        Message("user", [{"type": "text", "text": "x"}], status="weird"),  # type: ignore[arg-type]
    ):
        with pytest.raises(StoreError):
            store.append(conv.id, bad)
    assert store.all_messages(conv.id) == []


def test_cas_conflict_changes_nothing(store: Store) -> None:
    cid, msgs = chat(store, "one")
    before = store.get_conversation(cid)
    with pytest.raises(ConcurrentUpdate):
        store.append(cid, user("late", parent_id=msgs[-1].id), expect_version=before.version - 1)
    with pytest.raises(ConcurrentUpdate):
        store.set_head(cid, msgs[0].id, expect_version=before.version + 5)
    assert store.get_conversation(cid) == before
    assert store.all_messages(cid) == msgs
    assert store.search("late") == []
    moved = store.set_head(cid, msgs[0].id, expect_version=before.version)
    assert (moved.head_id, moved.version) == (msgs[0].id, before.version + 1)


def test_message_round_trip_is_lossless(store: Store) -> None:
    conv = store.create_conversation()
    u = user([{"type": "text", "text": "Ünïcode ✓ and \"quotes\"", "cache_control": {"type": "ephemeral"}}],
             metadata={"documents": [{"id": "d1"}]}, created_at=1_700_000_000.123456789)  # fmt: skip
    tool_input = {"zeta": 1, "alpha": {"b": 2, "a": [1.5, None, True]}, "mid": "x"}
    a = assistant(
        [
            {"type": "thinking", "thinking": "hmm", "signature": "EqQBCkYIARgCKkB=="},
            {"type": "redacted_thinking", "data": "opaque=="},
            {"type": "text", "text": "calling", "citations": None},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": tool_input},
        ],
        parent_id=u.id,
        model=PRICED,
        usage=Usage(1, 2, 3, 4, 5, 6, 7, 1),
        stop_reason="tool_use",
        metadata={"request_id": "req_1"},
    )
    store.append(conv.id, u)
    store.append(conv.id, a)
    for got, want in zip(store.branch(conv.id), [u, a], strict=True):
        assert got == want
    got_input = store.get_message(a.id).content[3]["input"]
    assert list(got_input) == ["zeta", "alpha", "mid"]  # key order kept (prompt caching)
    assert list(got_input["alpha"]) == ["b", "a"]


def test_partial_is_replaced_complete_is_not(store: Store) -> None:
    conv = store.create_conversation()
    u = user("tell me")
    store.append(conv.id, u)
    part = assistant("Once upon", parent_id=u.id, status="partial")
    store.append(conv.id, part)
    done = reply("Once upon a time, a dragon.", u).with_(id=part.id)
    after = store.append(conv.id, done, move_head=False)
    assert after.head_id == part.id
    assert store.all_messages(conv.id) == [u, done]
    assert [h.message_id for h in store.search("dragon")] == [part.id]
    with pytest.raises(StoreError, match="exists"):
        store.append(conv.id, done.with_(content=[{"type": "text", "text": "again"}]))
    part2 = assistant("Half", parent_id=u.id, status="partial")
    store.append(conv.id, part2)
    with pytest.raises(StoreError):
        store.append(conv.id, part2.with_(parent_id=None, status="complete"))
    store.append(conv.id, user("go on", parent_id=part2.id))
    with pytest.raises(StoreError, match="replies"):
        store.append(conv.id, part2.with_(status="complete"))
    assert store.get_message(part2.id) == part2
    assert store.get_message(done.id) == done


def test_branches_siblings_leaves_checkout(store: Store) -> None:
    cid, msgs = chat(store, "root question", "follow up")
    u0, a0, u1, a1 = msgs
    edited = user("follow up, edited", parent_id=a0.id)
    store.append(cid, edited)
    retry = reply("another answer", u1)
    store.append(cid, retry, move_head=False)
    assert store.children(cid, a0.id) == [u1, edited]
    assert store.children(cid, u1.id) == [a1, retry]
    assert store.children(cid, None) == [u0]
    assert store.children(cid, a1.id) == []
    assert store.leaves(cid) == [a1, edited, retry]
    assert store.branch(cid) == [u0, a0, edited]
    assert store.branch(cid, retry.id) == [u0, a0, u1, retry]
    store.set_head(cid, a1.id)
    assert store.branch(cid) == [u0, a0, u1, a1]
    new_root = user("start over")
    store.append(cid, new_root)
    assert store.children(cid, None) == [u0, new_root]
    assert store.branch(cid) == [new_root]
    assert store.all_messages(cid) == [*msgs, edited, retry, new_root]
    cleared = store.set_head(cid, None)
    assert cleared.head_id is None and store.branch(cid) == []
    other, _ = chat(store, "elsewhere")
    with pytest.raises(ConversationNotFound):
        store.branch(other, a1.id)
    with pytest.raises(ConversationNotFound):
        store.set_head(other, a1.id)


# --- summaries and search ------------------------------------------------------------------------


def test_summaries(store: Store) -> None:
    cid, msgs = chat(store, "one", "two")
    s1 = Summary("s1", cid, "They said one.", msgs[0].id, msgs[1].id, 10.0, model="claude-haiku-4-5",
                 tokens=12, metadata={"policy": "rolling"})  # fmt: skip
    s2 = Summary("s2", cid, "Then two.", msgs[0].id, msgs[3].id, 5.0)
    store.add_summary(s1)
    store.add_summary(s2)
    assert store.summaries(cid) == [s1, s2]
    assert store.branch(cid) == msgs  # beside the transcript, never instead of it
    with pytest.raises(StoreError):
        store.add_summary(s1)
    other, _ = chat(store, "x")
    with pytest.raises(ConversationNotFound):
        store.add_summary(Summary("s3", other, "bad", msgs[0].id, msgs[1].id, 1.0))
    with pytest.raises(ConversationNotFound):
        store.add_summary(Summary("s4", "nope", "bad", msgs[0].id, msgs[1].id, 1.0))
    assert store.summaries(other) == []


def test_search(store: Store) -> None:
    c1, m1 = chat(store, "How do I bake sourdough bread?", "What about rye bread?")
    c2, m2 = chat(store, "Tell me about quantum computing")
    u = user([{"type": "tool_result", "tool_use_id": "t", "content": "grep found zebrafish"}])
    c3 = store.create_conversation()
    store.append(c3.id, u)
    hits = store.search("bread")
    assert {h.message_id for h in hits} == {m.id for m in m1}
    assert all(h.conversation_id == c1 for h in hits)
    assert all("«bread»" in h.snippet.lower() for h in hits)
    assert hits == sorted(hits, key=lambda h: -h.score)
    assert [h.message_id for h in store.search("RYE bread")] == [m1[2].id, m1[3].id]
    assert store.search("rye quantum") == []
    assert [h.message_id for h in store.search("quantum", conversation_id=c2)] == [m2[0].id,
                                                                                  m2[1].id]  # fmt: skip
    assert store.search("quantum", conversation_id=c1) == []
    assert [h.role for h in store.search("zebrafish")] == ["user"]
    assert store.search("?!  ") == [] and store.search("") == []
    assert len(store.search("bread", limit=1)) == 1
    hit = store.search("sourdough")[0]
    assert (hit.role, hit.created_at) == ("user", m1[0].created_at)
    assert store.search('"; DROP TABLE messages; --') == []


# --- bulk ----------------------------------------------------------------------------------------


def _rich_conversation(store: Store) -> str:
    cid, msgs = chat(store, "first", "second")
    conv = store.update_conversation(cid, model=PRICED, system="sys", metadata={"tag": "x"})
    think = assistant(
        [{"type": "thinking", "thinking": "t", "signature": "sig=="}, {"type": "text", "text": "b"}],
        parent_id=msgs[2].id, model=PRICED, usage=Usage(10, 20, 30, 40, 50, requests=1),
    )  # fmt: skip
    store.append(cid, think)
    store.append(cid, assistant("cut", parent_id=msgs[2].id, status="partial"), move_head=False)
    store.add_summary(Summary("sum-1", cid, "summary", msgs[0].id, msgs[1].id, 3.0))
    store.set_head(cid, think.id, expect_version=store.get_conversation(cid).version)
    assert conv.id == cid
    return cid


def _without_time(export: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in export.items() if k != "exported_at"}


def test_export_import_round_trip(
    store: Store, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    cid = _rich_conversation(store)
    exported = export_conversation(store, cid)
    kind = request.node.callspec.params["store"]
    fresh = make_store(kind, tmp_path, request)
    try:
        got = import_conversation(fresh, exported)
        assert got == store.get_conversation(cid)
        assert _without_time(export_conversation(fresh, cid)) == _without_time(exported)
        assert fresh.list_conversations()[0].messages == 4
    finally:
        fresh.close()


def test_import_twice_makes_a_copy(store: Store) -> None:
    cid = _rich_conversation(store)
    exported = export_conversation(store, cid)
    copy = import_conversation(store, exported)
    assert copy.id != cid and copy.metadata == {"tag": "x", "imported_from": cid}
    old, new = store.all_messages(cid), store.all_messages(copy.id)
    assert [m.content for m in old] == [m.content for m in new]
    assert not {m.id for m in old} & {m.id for m in new}
    assert [m.content for m in store.branch(cid)] == [m.content for m in store.branch(copy.id)]
    assert [s.text for s in store.summaries(copy.id)] == ["summary"]
    assert len(store.list_conversations()) == 2


def test_import_is_atomic(store: Store) -> None:
    cid, msgs = chat(store, "existing")
    conv = store.get_conversation(cid)
    u = user("new")
    clash = [u, reply("a", u), msgs[0]]  # the last id exists already
    target = conv.__class__("imp-1", "t", 1.0, 1.0, u.id, 1)
    with pytest.raises(StoreError):
        store.import_messages(target, clash, [])
    unserializable = [u, assistant([{"type": "text", "text": "x", "bad": {1, 2}}], parent_id=u.id)]
    with pytest.raises(StoreError):
        store.import_messages(target, unserializable, [])
    bad_summary = [Summary("s", "imp-1", "x", "missing", "missing", 1.0)]
    with pytest.raises(StoreError):
        store.import_messages(target, [u], bad_summary)
    with pytest.raises(ConversationNotFound):
        store.get_conversation("imp-1")
    with pytest.raises(ConversationNotFound):
        store.get_message(u.id)
    assert [i.conversation.id for i in store.list_conversations()] == [cid]
    assert store.search("new") == []


def test_messages_read_back_are_copies(store: Store) -> None:
    cid, msgs = chat(store, "hello")
    first = store.branch(cid)[0]
    first.content[0]["text"] = "changed by a reader"
    first.metadata["x"] = 1
    again = store.get_message(msgs[0].id)
    assert again.content == [{"type": "text", "text": "hello"}] and again.metadata == {}


def test_metadata_json_cannot_hold_is_refused(store: Store) -> None:
    conv = store.create_conversation(title="t")
    with pytest.raises(StoreError):
        store.append(conv.id, user("hi", metadata={"bad": {1, 2}}))
    with pytest.raises(StoreError):
        store.append(conv.id, user([{"type": "text", "text": "hi", "n": float("nan")}]))
    assert store.branch(conv.id) == []
