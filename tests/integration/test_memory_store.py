"""The memory tool's storage contract (``MemoryFiles``), on MemoryStore, SQLite and PostgreSQL,
and the tool's commands on each: the trees are per owner and per conversation."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from claudechat.errors import MemoryConflict, ToolRefused
from claudechat.memorytool import MemoryTool
from claudechat.store import MemoryStore, ScopedStore, SQLiteStore
from claudechat.store.memories import MemoryFiles

_names = itertools.count()
KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _clock() -> Callable[[], float]:
    ticks = itertools.count()
    return lambda: 1_800_000_000.0 + next(ticks)


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MemoryStore | SQLiteStore]:
    if request.param == "memory":
        s: MemoryStore | SQLiteStore = MemoryStore(clock=_clock())
    elif request.param == "sqlite":
        s = SQLiteStore(tmp_path / f"m-{next(_names)}.db", clock=_clock())
    else:
        from claudechat.store.postgres import PostgresStore

        conninfo = request.getfixturevalue("pg_new_database")()
        s = PostgresStore(conninfo, clock=_clock(), max_size=4)  # type: ignore[assignment]
    yield s
    s.close()


def paths(store: MemoryFiles, owner: str = "local", cid: str | None = None) -> list[str]:
    return [e.path + ("/" if e.is_dir else "") for e in store.memories(owner, cid)]


def test_a_file_is_created_with_its_directories_and_listed_in_tree_order(
    store: MemoryFiles,
) -> None:
    assert isinstance(store, MemoryFiles)
    store.write_memory("local", None, "a/b/c.md", "one")
    store.write_memory("local", None, "a-b.md", "two")
    store.write_memory("local", None, "a/z.md", "three")
    assert paths(store) == ["a/", "a/b/", "a/b/c.md", "a/z.md", "a-b.md"]
    [entry] = [e for e in store.memories("local", None, prefix="a/b/c.md")]
    assert (entry.content, entry.size, entry.is_dir) == ("one", 3, False)
    assert [e.path for e in store.memories("local", None, prefix="a/b")] == ["a/b", "a/b/c.md"]


def test_create_refuses_a_taken_path_and_a_file_used_as_a_directory(store: MemoryFiles) -> None:
    store.write_memory("local", None, "notes.md", "x")
    with pytest.raises(MemoryConflict):
        store.write_memory("local", None, "notes.md", "y")
    with pytest.raises(MemoryConflict):
        store.write_memory("local", None, "notes.md/inner.md", "y")
    assert paths(store) == ["notes.md"]
    assert store.memories("local", None)[0].content == "x"


def test_replace_only_what_is_still_expected(store: MemoryFiles) -> None:
    store.write_memory("local", None, "f.md", "v1")
    store.write_memory("local", None, "f.md", "v2", expect="v1")
    with pytest.raises(MemoryConflict):  # another writer changed it meanwhile
        store.write_memory("local", None, "f.md", "v3", expect="v1")
    with pytest.raises(MemoryConflict):
        store.write_memory("local", None, "gone.md", "v3", expect="v1")
    [entry] = store.memories("local", None)
    assert entry.content == "v2" and entry.updated_at > entry.created_at


def test_delete_and_rename_take_the_whole_subtree(store: MemoryFiles) -> None:
    for p in ("d/one.md", "d/sub/two.md", "dx.md"):
        store.write_memory("local", None, p, p)
    store.rename_memory("local", None, "d", "new/place")
    assert paths(store) == ["dx.md", "new/", "new/place/", "new/place/one.md",
                            "new/place/sub/", "new/place/sub/two.md"]  # fmt: skip
    moved = {e.path: e.content for e in store.memories("local", None)}
    assert moved["new/place/sub/two.md"] == "d/sub/two.md"
    for old, new in (("missing", "x"), ("dx.md", "new"), ("new", "new/place/inside")):
        with pytest.raises(MemoryConflict):
            store.rename_memory("local", None, old, new)
    assert store.delete_memory("local", None, "new/place") == 4
    assert store.delete_memory("local", None, "new/place") == 0
    assert paths(store) == ["dx.md", "new/"]


def test_trees_are_kept_apart_by_owner_and_conversation(store: MemoryStore | SQLiteStore) -> None:
    conv = store.create_conversation(title="t")
    store.write_memory("local", None, "shared.md", "s")
    store.write_memory("local", conv.id, "own.md", "o")
    store.write_memory("alice", None, "alice.md", "a")
    assert paths(store) == ["shared.md"]
    assert paths(store, cid=conv.id) == ["own.md"]
    assert paths(store, "alice") == ["alice.md"]
    assert [e.path for e in store.all_memories("local")] == ["shared.md", "own.md"]
    assert store.delete_memory("alice", None, "shared.md") == 0
    store.delete_conversation(conv.id)  # its own tree goes with it
    assert [e.path for e in store.all_memories("local")] == ["shared.md"]


def test_a_scoped_view_reaches_only_its_users_trees(store: MemoryStore | SQLiteStore) -> None:
    store.add_user("alice")
    alice = store.user_by_name("alice")
    bob_conv = store.create_conversation(title="bob's", owner="bob")
    view = ScopedStore(store, alice.id)
    view.write_memory("anyone", None, "mine.md", "m")  # the owner given is not used
    assert paths(store, alice.id) == ["mine.md"] and paths(store, "anyone") == []
    assert [e.path for e in view.all_memories("local")] == ["mine.md"]
    with pytest.raises(Exception, match="no conversation"):
        view.memories(alice.id, bob_conv.id)


def test_the_tool_on_each_store(store: MemoryFiles) -> None:
    tool = MemoryTool(store)
    assert tool(command="create", path="/memories/p.md", file_text="a\nb\n").startswith("File")
    tool(command="str_replace", path="/memories/p.md", old_str="b", new_str="B")
    tool(command="insert", path="/memories/p.md", insert_line=0, insert_text="top")
    assert store.memories("local", None)[0].content == "top\na\nB\n"
    with pytest.raises(ToolRefused, match="already exists"):
        tool(command="create", path="/memories/p.md", file_text="again")
