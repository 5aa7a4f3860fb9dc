"""PostgresIndex against a real server: full-text ranking, vectors in bytea, deletion."""

from __future__ import annotations

from datetime import datetime

import pytest

from claudechat.errors import StoreError
from claudechat.search import HashingEmbedder, SearchUnit, TurnKeys
from claudechat.search.keys import protocol_text

pytestmark = pytest.mark.postgres

CHAT = [
    ("Ana", "I finally moved into the new flat on Elm Street last weekend."),
    ("Ben", "Congrats! How big is it?"),
    ("Ana", "Two bedrooms, and the rent is 1450 euros a month."),
    ("Ben", "My sister Clara just started her job as a marine biologist in Lisbon."),
    ("Ana", "That sounds wonderful, she always loved the ocean."),
    ("Ben", "I have been training for the Berlin marathon in September."),
    ("Ana", "My cat Pixel knocked the vase off the shelf again."),
]


def units(conversation_id: str = "c1") -> list[SearchUnit]:
    return TurnKeys(before=0).apply(
        [
            SearchUnit(
                id=f"{conversation_id}-t{i}",
                conversation_id=conversation_id,
                message_ids=(f"{conversation_id}-m{i}",),
                speaker=speaker,
                created_at=datetime(2024, 3, 2, 9, i),
                text=protocol_text(speaker, text),
            )
            for i, (speaker, text) in enumerate(CHAT)
        ]
    )


@pytest.fixture
def index(pg_database: str):  # type: ignore[no-untyped-def]
    from claudechat.search.postgres import PostgresIndex

    idx = PostgresIndex(pg_database, embedder=HashingEmbedder())
    yield idx
    idx.close()


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
@pytest.mark.parametrize(
    ("query", "expected"),
    [("How much rent does Ana pay?", "c1-t2"), ("Which marathon is Ben training for?", "c1-t5"),
     ("What job does Clara have?", "c1-t3")],
)  # fmt: skip
def test_the_turn_holding_the_fact_is_found(index, mode: str, query: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    index.add(units())
    assert [h.unit.id for h in index.search(query, k=1, mode=mode)] == [expected]


def test_round_trip_scope_exclusion_and_deletion(index, pg_database: str) -> None:  # type: ignore[no-untyped-def]
    from claudechat.search.postgres import PostgresIndex

    index.add(units("c1") + units("c2"))
    assert len(index) == 14
    assert index.units("c2") == units("c2")
    hits = index.search("rent euros", k=3, conversation_id="c2", exclude_message_ids={"c2-m2"})
    assert hits and all(h.unit.conversation_id == "c2" for h in hits)
    assert "c2-t2" not in [h.unit.id for h in hits]
    assert index.delete(["c1-t2", "missing"]) == 1
    assert "c1-t2" not in [h.unit.id for h in index.search("rent", k=10, conversation_id="c1")]
    assert index.delete_conversation("c2") == 7
    # a second index on the same database sees the same rows and leaves the schema alone
    again = PostgresIndex(pg_database, embedder=HashingEmbedder())
    assert len(again) == 6
    assert [h.unit.id for h in again.search("marathon", k=1, mode="dense")] == ["c1-t5"]
    again.close()


def test_replacing_a_unit_updates_its_terms(index) -> None:  # type: ignore[no-untyped-def]
    index.add(units())
    index.add([units()[3].with_key("Clara now works as an astronaut")])
    assert len(index) == 7
    assert [h.unit.id for h in index.search("astronaut", k=1, mode="lexical")] == ["c1-t3"]


def test_a_newer_schema_is_refused(index, pg_database: str) -> None:  # type: ignore[no-untyped-def]
    from claudechat.search.postgres import PostgresIndex

    index.connection.execute("INSERT INTO search_migrations VALUES (7, 'future', 0)")
    index.connection.commit()
    with pytest.raises(StoreError, match="search tables are at schema version 7"):
        PostgresIndex(pg_database)


def test_postgres_own_ranking_is_available(pg_database: str) -> None:
    from claudechat.search.postgres import PostgresIndex

    index = PostgresIndex(pg_database, ranking="ts_rank_cd")
    index.add(units())
    assert [h.unit.id for h in index.search("Berlin marathon", k=1)] == ["c1-t5"]
    index.close()


# The search tables as PostgresIndex made them before numbered migrations (schema version 1).
OLD_LAYOUT = [
    "CREATE TABLE search_meta (name text PRIMARY KEY, value text NOT NULL)",
    "INSERT INTO search_meta VALUES ('schema_version', '1')",
    """CREATE TABLE search_units (
        seq bigserial UNIQUE, id text PRIMARY KEY, conversation_id text NOT NULL,
        message_ids text NOT NULL, speaker text NOT NULL DEFAULT '', created_at text,
        text text NOT NULL, key text NOT NULL, terms tsvector NOT NULL,
        length integer NOT NULL DEFAULT 0, embedding_model text, embedding bytea
    )""",
    "CREATE INDEX search_units_terms ON search_units USING GIN (terms)",
    "CREATE INDEX search_units_conversation ON search_units (conversation_id)",
    "INSERT INTO search_units (id, conversation_id, message_ids, text, key, terms, length) "
    "VALUES ('old-t1', 'old', '[\"old-m1\"]', 'The boat is called Marlin.', '', "
    "to_tsvector('simple', 'boat call marlin'), 3)",
]


def test_a_database_from_before_numbered_migrations_is_migrated_and_searchable(
    pg_database: str,
) -> None:
    import psycopg

    from claudechat.search.postgres import PostgresIndex

    with psycopg.connect(pg_database) as conn:
        for statement in OLD_LAYOUT:
            conn.execute(statement)
    index = PostgresIndex(pg_database, embedder=HashingEmbedder())
    try:
        hits = index.search("what is the boat called?", k=1, mode="lexical")
        assert [h.unit.id for h in hits] == ["old-t1"]
        assert index.embed_missing() == 1  # the old row gets its vector
        assert [h.unit.id for h in index.search("boat Marlin", k=1, mode="dense")] == ["old-t1"]
        index.add(units())
        assert len(index) == 8
        history = index.connection.execute("SELECT version FROM search_migrations ORDER BY 1")
        assert history.fetchall() == [(1,), (2,), (3,)]
        gone = index.connection.execute("SELECT to_regclass('search_meta')").fetchone()
        assert gone == (None,)
        index.connection.commit()
    finally:
        index.close()
    again = PostgresIndex(pg_database)  # nothing left to apply; the rows are all there
    assert len(again) == 8
    again.close()


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_a_search_over_several_conversations_retrieves_theirs_only(index, mode: str) -> None:  # type: ignore[no-untyped-def]
    index.add(units("a") + units("b") + units("c"))
    hits = index.search("How much rent does Ana pay?", k=30, mode=mode, conversation_ids=["a", "c"])
    assert {h.unit.conversation_id for h in hits} == {"a", "c"}
    assert hits[0].unit.id in ("a-t2", "c-t2")
    assert index.search("rent", k=5, mode=mode, conversation_ids=[]) == []
