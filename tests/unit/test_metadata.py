"""The metadata keys claudechat writes are named once, each a different key."""

from __future__ import annotations

from claudechat import metadata
from claudechat.store import MemoryStore, import_conversation
from claudechat.store.export import export_conversation


def test_every_key_is_exported_once_with_a_value_of_its_own() -> None:
    names = [name for name in vars(metadata) if name.isupper()]
    assert sorted(names) == sorted(metadata.__all__)
    values = [getattr(metadata, name) for name in names]
    assert len(values) == len(set(values))
    assert all(isinstance(v, str) and v == v.lower() for v in values)


def test_an_import_under_a_new_id_names_the_conversation_it_came_from() -> None:
    store = MemoryStore()
    conv = store.create_conversation(title="t", metadata={"mine": 1})
    copy = import_conversation(store, export_conversation(store, conv.id))  # the id is taken
    assert copy.id != conv.id
    assert copy.metadata == {"mine": 1, metadata.IMPORTED_FROM: conv.id}
