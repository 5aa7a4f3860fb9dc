"""ScopedStore: user B's view of a store never reads or changes user A's conversations.

Table-driven over every method of the ``Store`` protocol (a method added to the protocol
without a row here fails ``test_every_store_method_has_a_row``), on MemoryStore, SQLite and
PostgreSQL.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from claudechat.errors import ConversationNotFound, StoreError
from claudechat.messages import Message, assistant, new_id, user
from claudechat.store import (
    LOCAL_USER,
    MemoryStore,
    ScopedStore,
    ServiceStore,
    SQLiteStore,
    Store,
    Summary,
)
from claudechat.store.export import export_conversation, import_conversation

_names = itertools.count()
KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
UNKNOWN = "0" * 32


def _clock() -> Callable[[], float]:
    ticks = itertools.count()
    return lambda: 1_800_000_000.0 + next(ticks)


@dataclass
class World:
    """A store with user A's conversation (two messages, a summary, A's turn held) and
    user B's view of it."""

    store: ServiceStore
    a: str
    b: str
    conv_id: str
    first: Message
    second: Message

    @property
    def view_b(self) -> ScopedStore:
        return ScopedStore(self.store, self.b)

    def snapshot(self) -> Any:
        """Everything of A's that B could change."""
        export = export_conversation(self.store, self.conv_id)
        del export["exported_at"]
        convs = [i.conversation for i in self.store.list_conversations(owner=self.a)]
        return export, convs, self.store.active_turns(self.a), self.store.list_users()


@pytest.fixture(params=KINDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    store: ServiceStore
    if request.param == "memory":
        store = MemoryStore(clock=_clock())
    elif request.param == "sqlite":
        store = SQLiteStore(tmp_path / f"scoped-{next(_names)}.db", clock=_clock())
    else:
        from claudechat.store.postgres import PostgresStore

        conninfo = request.getfixturevalue("pg_new_database")()
        store = PostgresStore(conninfo, clock=_clock(), max_size=4)
    a, b = store.add_user("alice").id, store.add_user("bob").id
    view_a = ScopedStore(store, a)
    conv = view_a.create_conversation(title="A's secret plans", system="be A")
    first = user("the aardvark password is swordfish")
    second = assistant("noted aardvark", parent_id=first.id)
    view_a.append(conv.id, first)
    view_a.append(conv.id, second)
    view_a.add_summary(Summary(new_id(), conv.id, "aardvark summary", first.id, second.id, 1.0))
    view_a.claim_turn(conv.id, "worker-a", ttl=3600)
    yield World(store, a, b, conv.id, first, second)
    store.close()


def _summary(w: World, conversation_id: str) -> Summary:
    return Summary(new_id(), conversation_id, "s", w.first.id, w.second.id, 2.0)


# Each row: how B's view is called on A's ids (``w``), with ``cid`` / ``mid`` standing for
# A's conversation / message id, so the same call can be made on an unknown id.
Call = Callable[[Store, World, str, str], Any]
REFUSED: dict[str, Call] = {
    "get_conversation": lambda s, w, cid, mid: s.get_conversation(cid),
    "update_conversation": lambda s, w, cid, mid: s.update_conversation(cid, title="taken"),
    "delete_conversation": lambda s, w, cid, mid: s.delete_conversation(cid),
    "append": lambda s, w, cid, mid: s.append(cid, user("hi", parent_id=w.second.id)),
    "set_head": lambda s, w, cid, mid: s.set_head(cid, w.first.id),
    "claim_turn": lambda s, w, cid, mid: s.claim_turn(cid, "worker-b", ttl=30),
    "release_turn": lambda s, w, cid, mid: s.release_turn(cid, "worker-a"),
    "get_message": lambda s, w, cid, mid: s.get_message(mid),
    "branch": lambda s, w, cid, mid: s.branch(cid),
    "children": lambda s, w, cid, mid: s.children(cid, None),
    "leaves": lambda s, w, cid, mid: s.leaves(cid),
    "all_messages": lambda s, w, cid, mid: s.all_messages(cid),
    "add_summary": lambda s, w, cid, mid: s.add_summary(_summary(w, cid)),
    "summaries": lambda s, w, cid, mid: s.summaries(cid),
    "search": lambda s, w, cid, mid: s.search("aardvark", conversation_id=cid),
    "turn_held": lambda s, w, cid, mid: s.turn_held(cid),  # type: ignore[attr-defined]
}
OPTIONAL = {"turn_held"}  # methods a store may offer beyond the protocol (store.base.turn_held)


def _sees_nothing(s: Store, w: World) -> None:
    assert s.list_conversations() == []
    assert s.list_conversations(owner=w.a) == []


def _iter_sees_nothing(s: Store, w: World) -> None:
    assert list(s.iter_conversations()) == []
    assert list(s.iter_conversations(owner=w.a, page=1)) == []


def _latest_is_none(s: Store, w: World) -> None:
    assert s.latest_conversation() is None
    assert s.latest_conversation(owner=w.a) is None


def _search_finds_nothing(s: Store, w: World) -> None:
    assert w.store.search("aardvark") != []  # the words are there, for the whole store
    assert s.search("aardvark") == []
    assert s.search("aardvark", owner=w.a) == []


def _create_is_owned_by_b(s: Store, w: World) -> None:
    made = s.create_conversation(title="mine", owner=w.a)  # the view sets the owner
    assert made.owner == w.b and w.store.get_conversation(made.id).owner == w.b
    assert [i.conversation.id for i in s.list_conversations()] == [made.id]


def _import_is_owned_by_b(s: Store, w: World) -> None:
    conv = replace(w.store.get_conversation(w.conv_id), id=new_id(), head_id=None)
    made = s.import_messages(conv, [], [])
    assert made.owner == w.b and w.store.get_conversation(made.id).owner == w.b
    again = import_conversation(s, export_conversation(w.store, w.conv_id))  # B's copy
    assert again.owner == w.b and again.id != w.conv_id


def _close_leaves_the_store_open(s: Store, w: World) -> None:
    s.close()
    assert w.store.get_conversation(w.conv_id).owner == w.a


FILTERED: dict[str, Callable[[Store, World], None]] = {
    "list_conversations": _sees_nothing,
    "iter_conversations": _iter_sees_nothing,
    "latest_conversation": _latest_is_none,
    "search": _search_finds_nothing,
    "create_conversation": _create_is_owned_by_b,
    "import_messages": _import_is_owned_by_b,
    "close": _close_leaves_the_store_open,
}


def _protocol_methods() -> set[str]:
    return {n for n, v in vars(Store).items() if callable(v) and not n.startswith("_")}


def test_every_store_method_has_a_row() -> None:
    assert _protocol_methods() | OPTIONAL == set(REFUSED) | set(FILTERED)
    assert all(hasattr(ScopedStore, name) for name in OPTIONAL)
    assert len(_protocol_methods()) > 15


def test_a_scoped_store_is_a_store(world: World) -> None:
    assert isinstance(world.view_b, Store)


@pytest.mark.parametrize("method", sorted(REFUSED))
def test_b_on_a_s_ids_is_told_they_do_not_exist(world: World, method: str) -> None:
    before = world.snapshot()
    call = REFUSED[method]
    with pytest.raises(ConversationNotFound) as theirs:
        call(world.view_b, world, world.conv_id, world.first.id)
    with pytest.raises(ConversationNotFound) as unknown:
        call(world.view_b, world, UNKNOWN, UNKNOWN)
    shape = str(theirs.value).replace(world.conv_id, UNKNOWN).replace(world.first.id, UNKNOWN)
    assert shape == str(unknown.value)  # the same answer as for an id that does not exist
    assert world.snapshot() == before


@pytest.mark.parametrize("method", sorted(FILTERED))
def test_b_s_reads_and_creations_see_and_touch_only_b_s(world: World, method: str) -> None:
    before = world.snapshot()
    FILTERED[method](world.view_b, world)
    assert world.snapshot() == before


def test_b_works_on_b_s_own_conversations(world: World) -> None:
    b = world.view_b
    conv = b.create_conversation(title="bob's")
    u = user("bob's aardvark")
    b.append(conv.id, u)
    assert b.get_message(u.id) == u and [m.id for m in b.branch(conv.id)] == [u.id]
    assert [h.conversation_id for h in b.search("aardvark")] == [conv.id]
    b.claim_turn(conv.id, "worker-b", ttl=30)
    assert world.store.active_turns(world.b) == 1
    b.release_turn(conv.id, "worker-b")
    with pytest.raises(ConversationNotFound):  # A's parent in B's conversation
        b.append(conv.id, user("x", parent_id=world.second.id))
    b.delete_conversation(conv.id)
    assert b.list_conversations() == []


def test_a_clashing_id_is_refused_without_touching_a(world: World) -> None:
    before = world.snapshot()
    with pytest.raises(StoreError, match="exists already"):
        world.view_b.create_conversation(id=world.conv_id)
    assert world.snapshot() == before
    assert world.store.get_conversation(world.conv_id).owner != LOCAL_USER


def test_a_turn_s_writes_read_the_conversation_once(world: World) -> None:
    """Once A's view has found the conversation A's, the turn's writes (claim, append, set
    the head, release) do not read its row again; a conversation deleted meanwhile is still
    refused by the write itself, and B's view still finds nothing of A's."""
    view = ScopedStore(world.store, world.a)
    reads = 0
    real = world.store.get_conversation

    def counted(conversation_id: str) -> Any:
        nonlocal reads
        reads += 1
        return real(conversation_id)

    world.store.get_conversation = counted  # type: ignore[method-assign]
    view.release_turn(world.conv_id, "worker-a")
    view.claim_turn(world.conv_id, "worker-a2", ttl=30)
    reply = assistant("again", parent_id=world.second.id)
    view.append(world.conv_id, reply, lease="worker-a2")
    view.set_head(world.conv_id, world.second.id, lease="worker-a2")
    view.release_turn(world.conv_id, "worker-a2")
    assert reads == 1
    with pytest.raises(ConversationNotFound):
        world.view_b.append(world.conv_id, user("hi", parent_id=reply.id))
    world.store.delete_conversation(world.conv_id)
    with pytest.raises(ConversationNotFound):
        view.claim_turn(world.conv_id, "worker-a3", ttl=30)
    with pytest.raises(ConversationNotFound):
        view.append(world.conv_id, user("after", parent_id=reply.id))
    with pytest.raises(ConversationNotFound):
        view.set_head(world.conv_id, None)
    view.release_turn(world.conv_id, "worker-a3")  # nothing to give back: no error
