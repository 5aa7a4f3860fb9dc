"""Retrieval on small hand-built conversations: tokenizer, BM25, hashing embedder, fusion,
turn keys, and the in-memory and SQLite FTS5 indexes."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from claudechat.errors import ConfigError, StoreError
from claudechat.search import (
    HashingEmbedder,
    MemoryIndex,
    ReciprocalRankFusion,
    SearchUnit,
    SQLiteIndex,
    Tokenizer,
    TurnKeys,
    WeightedScoreFusion,
)
from claudechat.search.base import RankedIndex
from claudechat.search.bm25 import BM25
from claudechat.search.dense import from_blob, to_blob, top_k
from claudechat.search.fusion import reciprocal_rank_fusion, weighted_score_fusion
from claudechat.search.keys import format_date, protocol_text
from claudechat.search.porter import porter_stem
from claudechat.search.tokenize import light_stem
from claudechat.store import SQLiteStore

DAY1 = datetime(2024, 3, 2, 9, 0)
DAY2 = datetime(2024, 4, 20, 18, 30)

CHAT = [
    ("Ana", "I finally moved into the new flat on Elm Street last weekend.", DAY1),
    ("Ben", "Congrats! How big is it?", DAY1),
    ("Ana", "Two bedrooms, and the rent is 1450 euros a month.", DAY1),
    ("Ben", "My sister Clara just started her job as a marine biologist in Lisbon.", DAY1),
    ("Ana", "That sounds wonderful, she always loved the ocean.", DAY1),
    ("Ben", "I have been training for the Berlin marathon in September.", DAY2),
    ("Ana", "How many kilometres are you running each week?", DAY2),
    ("Ben", "About sixty, with a long run of thirty on Sundays.", DAY2),
    ("Ana", "My cat Pixel knocked the vase off the shelf again.", DAY2),
    ("Ben", "Cats and vases never mix.", DAY2),
]


def units(conversation_id: str = "c1") -> list[SearchUnit]:
    return [
        SearchUnit(
            id=f"{conversation_id}-t{i}",
            conversation_id=conversation_id,
            message_ids=(f"{conversation_id}-m{i}",),
            speaker=speaker,
            created_at=when,
            text=protocol_text(speaker, text),
        )
        for i, (speaker, text, when) in enumerate(CHAT)
    ]


def keyed(conversation_id: str = "c1") -> list[SearchUnit]:
    return TurnKeys().apply(units(conversation_id))


def top_ids(index: RankedIndex, query: str, **kw: object) -> list[str]:
    return [h.unit.id for h in index.search(query, **kw)]  # type: ignore[arg-type]


# ---------------------------------------------------------------- tokenizer


def test_tokenizer_lowercases_drops_stopwords_and_stems() -> None:
    assert Tokenizer()("What did Ana's cats knock OFF the shelves?") == [
        "ana",
        "cat",
        "knock",
        "shelve",
    ]


def test_tokenizer_without_stopwords_or_stemming_keeps_words_whole() -> None:
    assert Tokenizer(stopwords=frozenset(), stem=None)("The cats") == ["the", "cats"]


@pytest.mark.parametrize(
    ("word", "stem"),
    [("running", "run"), ("cats", "cat"), ("studies", "study"), ("walked", "walk"),
     ("class", "class"), ("news", "news"), ("bus", "bus"), ("2023", "2023")],
)  # fmt: skip
def test_light_stem(word: str, stem: str) -> None:
    assert light_stem(word) == stem


@pytest.mark.parametrize(
    ("word", "stem"),
    [("caresses", "caress"), ("ponies", "poni"), ("hopping", "hop"), ("hiking", "hike"),
     ("relational", "relat"), ("generalization", "gener"), ("adoption", "adopt"),
     ("filing", "file"), ("agreed", "agre"), ("sky", "sky")],
)  # fmt: skip
def test_porter_stem_matches_the_reference_algorithm(word: str, stem: str) -> None:
    assert porter_stem(word) == stem


# ---------------------------------------------------------------- BM25


def test_bm25_ranks_the_document_with_the_rare_term_first() -> None:
    bm25 = BM25()
    bm25.add(["the cat sat on the mat", "a dog in the fog", "cats and dogs and a marathon"])
    scores = bm25.scores("marathon dog")
    assert int(np.argmax(scores)) == 2
    assert scores[0] == 0.0


def test_bm25_removed_documents_score_zero_and_leave_statistics() -> None:
    bm25 = BM25()
    bm25.add(["apple pie", "apple tart", "pear"])
    bm25.remove([0])
    assert len(bm25) == 2
    scores = bm25.scores("apple")
    assert scores[0] == 0.0 and scores[1] > 0


def test_bm25_among_restricts_scoring_to_a_subset() -> None:
    bm25 = BM25()
    bm25.add(["apple", "apple", "pear apple"])
    scores = bm25.scores("apple", among=[2])
    assert scores[0] == scores[1] == 0.0 and scores[2] > 0


# ---------------------------------------------------------------- embedders and dense


def test_hashing_embedder_is_deterministic_unit_length_and_topical() -> None:
    emb = HashingEmbedder(dim=128)
    a, b, c = emb.embed(["marathon training plan", "training for a marathon", "cat on a shelf"])
    assert emb.embed(["marathon training plan"])[0] == pytest.approx(a)
    assert np.linalg.norm(a) == pytest.approx(1.0)
    assert float(a @ b) > float(a @ c)
    assert emb.embed([]).shape == (0, 128)
    assert emb.name == "hashing-128" and emb.dim == 128


def test_hashing_embedder_rejects_a_bad_dim() -> None:
    with pytest.raises(ConfigError):
        HashingEmbedder(dim=0)


def test_vector_blob_round_trip_and_top_k() -> None:
    vector = np.array([0.25, -1.5, 3.0], dtype=np.float32)
    assert from_blob(to_blob(vector), 3) == pytest.approx(vector)
    with pytest.raises(ValueError):
        from_blob(to_blob(vector), 4)
    matrix = np.eye(3, dtype=np.float32)
    rows, scores = top_k(matrix, np.array([0.0, 0.6, 0.8], dtype=np.float32), 2)
    assert rows.tolist() == [2, 1]
    assert scores.tolist() == pytest.approx([0.8, 0.6])


# ---------------------------------------------------------------- fusion


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    fused = reciprocal_rank_fusion(
        {"lexical": {"a": 9.0, "b": 5.0, "c": 1.0}, "dense": {"b": 0.9, "c": 0.8, "a": 0.1}}, k=1
    )
    assert max(fused, key=fused.__getitem__) == "b"
    assert ReciprocalRankFusion(k=1)({"x": {"a": 1.0}}) == {"a": 0.5}


def test_weighted_score_fusion_normalises_and_weights() -> None:
    runs = {"lexical": {"a": 30.0, "b": 10.0}, "dense": {"a": 0.1, "b": 0.9}}
    assert weighted_score_fusion(runs, weights={"lexical": 0.6, "dense": 0.4}) == {
        "a": pytest.approx(0.6),
        "b": pytest.approx(0.4),
    }
    assert WeightedScoreFusion({"lexical": 0.2, "dense": 0.8})(runs)["b"] == pytest.approx(0.8)


# ---------------------------------------------------------------- turn keys


def test_turn_keys_add_previous_turns_of_the_same_session_and_the_date() -> None:
    out = keyed()
    assert out[2].key == "\n".join([out[2].text, out[0].text, out[1].text, "2 March 2024"])
    # turn 5 opens a new session (weeks later): no context from the old one
    assert out[5].key == "\n".join([out[5].text, "20 April 2024"])
    assert out[6].key.splitlines()[1] == out[5].text


def test_turn_keys_without_context_or_date_is_the_text() -> None:
    out = TurnKeys(before=0, date=False).apply(units())
    assert [u.key for u in out] == [u.text for u in units()]


def test_format_date_and_protocol_text() -> None:
    assert format_date(datetime(2023, 5, 8, 13, 56)) == "8 May 2023"
    assert protocol_text("Ana", "hi") == 'Ana said, "hi"'
    assert protocol_text("Ana", "look", "a dog") == 'Ana said, "look" and shared a dog'


# ---------------------------------------------------------------- indexes

QUERIES = [
    ("How much rent does Ana pay?", "c1-t2"),
    ("What job does Clara have?", "c1-t3"),
    ("Which marathon is Ben training for?", "c1-t5"),
    ("What did Ana's cat knock off the shelf?", "c1-t8"),
]


def _memory(embedder: HashingEmbedder | None = None) -> RankedIndex:
    return MemoryIndex(embedder=embedder)


def _sqlite(embedder: HashingEmbedder | None = None) -> RankedIndex:
    return SQLiteIndex(":memory:", embedder=embedder)


BACKENDS = {"memory": _memory, "sqlite": _sqlite}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_the_turn_holding_the_fact_is_found(
    backend: str, mode: str, query: str, expected: str
) -> None:
    index = BACKENDS[backend](HashingEmbedder())
    index.add(units())
    assert top_ids(index, query, k=1, mode=mode) == [expected]


@pytest.mark.parametrize("backend", BACKENDS)
def test_contextual_keys_find_the_answer_to_a_question_asked_the_turn_before(
    backend: str,
) -> None:
    index = BACKENDS[backend](None)
    index.add(keyed())
    # "kilometres" is only in the question (turn 6); the answer is turn 7
    assert "c1-t7" in top_ids(index, "how many kilometres each week", k=2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_excluded_messages_are_not_returned(backend: str) -> None:
    index = BACKENDS[backend](HashingEmbedder())
    index.add(units())
    hits = index.search("Ana's cat Pixel", k=3, exclude_message_ids={"c1-m8"})
    assert "c1-t8" not in [h.unit.id for h in hits]
    assert len(hits) == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_search_is_scoped_to_a_conversation(backend: str) -> None:
    index = BACKENDS[backend](HashingEmbedder())
    index.add(units("c1") + units("c2"))
    assert len(index) == 20
    for mode in ("lexical", "dense", "hybrid"):
        hits = index.search("marathon", k=5, conversation_id="c2", mode=mode)  # type: ignore[arg-type]
        assert hits and {h.unit.conversation_id for h in hits} == {"c2"}
    assert {h.unit.conversation_id for h in index.search("marathon", k=5)} == {"c1", "c2"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_hits_carry_the_whole_unit_and_each_retrievers_score(backend: str) -> None:
    index = BACKENDS[backend](HashingEmbedder())
    index.add(keyed())
    [hit] = index.search("Berlin marathon", k=1)
    assert hit.unit == keyed()[5]
    assert set(hit.scores) == {"lexical", "dense"}
    assert hit.score > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_delete_and_replace(backend: str) -> None:
    index = BACKENDS[backend](HashingEmbedder())
    index.add(units())
    assert index.delete(["c1-t8", "nope"]) == 1
    assert len(index) == 9
    for mode in ("lexical", "dense", "hybrid"):
        assert "c1-t8" not in top_ids(index, "cat Pixel vase", k=10, mode=mode)
    changed = units()[3].with_key("Clara now works as an astronaut")
    index.add([changed])
    assert len(index) == 9
    assert top_ids(index, "astronaut", k=1, mode="lexical") == ["c1-t3"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_modes_need_what_they_use(backend: str) -> None:
    index = BACKENDS[backend](None)
    index.add(units())
    assert index.default_mode == "lexical"
    with pytest.raises(ConfigError, match="embedder"):
        index.search("cat", mode="dense")
    with pytest.raises(ConfigError, match="mode"):
        index.search("cat", mode="fuzzy")  # type: ignore[arg-type]
    assert index.search("   ") == [] and index.search("cat", k=0) == []
    assert index.search("zeppelin") == []


def test_dense_text_key_embeds_the_key() -> None:
    seen: list[str] = []

    class Recording(HashingEmbedder):
        def embed(self, texts: list[str]) -> np.ndarray:  # type: ignore[type-arg]
            seen.extend(texts)
            return super().embed(texts)

    MemoryIndex(embedder=Recording()).add(keyed()[:2])
    assert seen == [u.text for u in keyed()[:2]]
    seen.clear()
    MemoryIndex(embedder=Recording(), dense_text="key").add(keyed()[:2])
    assert seen == [u.key for u in keyed()[:2]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_embed_missing_embeds_units_indexed_without_vectors(backend: str) -> None:
    index = BACKENDS[backend](None)
    index.add(units())
    assert index.embed_missing() == 0  # no embedder: nothing to embed
    index.embedder = HashingEmbedder()
    assert index.search("rent", k=3, mode="dense") == []
    assert index.embed_missing() == 10
    assert index.embed_missing() == 0
    assert top_ids(index, "How much rent does Ana pay?", k=1, mode="dense") == ["c1-t2"]
    assert index.units() == units()
    index.close()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_a_search_over_several_conversations_retrieves_theirs_only(backend: str, mode: str) -> None:
    """``conversation_ids`` (a user's conversations in a store of many users): the units of
    others are never retrieved, however well they match."""
    index = BACKENDS[backend](HashingEmbedder())
    index.add(units("a") + units("b") + units("c"))
    hits = index.search("How much rent does Ana pay?", k=30, mode=mode,  # type: ignore[arg-type]
                        conversation_ids=["a", "c"])  # fmt: skip
    assert {h.unit.conversation_id for h in hits} == {"a", "c"}
    assert hits[0].unit.id in ("a-t2", "c-t2")
    assert index.search("rent", k=5, mode=mode, conversation_ids=[]) == []  # type: ignore[arg-type]
    index.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_embed_missing_of_some_conversations_embeds_theirs_only(backend: str) -> None:
    index = BACKENDS[backend](None)
    index.add(units("a") + units("b"))
    index.embedder = HashingEmbedder()
    assert index.embed_missing(conversation_ids=["b"]) == 10
    assert index.embed_missing(conversation_ids=["b"]) == 0
    assert index.search("rent", k=5, mode="dense", conversation_ids=["a"]) == []
    assert top_ids(index, "How much rent does Ana pay?", k=1, mode="dense") == ["b-t2"]
    assert index.embed_missing() == 10  # the rest
    index.close()


# ---------------------------------------------------------------- SQLite FTS5 storage


def test_sqlite_index_round_trips_units_through_a_file(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    first = SQLiteIndex(path, embedder=HashingEmbedder())
    first.add(keyed())
    first.close()
    again = SQLiteIndex(path, embedder=HashingEmbedder())
    assert again.units("c1") == keyed()
    assert top_ids(again, "rent euros", k=1) == ["c1-t2"]
    conn = again.connection
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"search_migrations", "search_units", "search_fts", "search_vectors"} <= tables
    assert "search_meta" not in tables
    versions = conn.execute("SELECT version, name FROM search_migrations ORDER BY version")
    assert versions.fetchall() == [
        (1, "search_tables"),
        (2, "drop_search_meta"),
        (3, "previous_turn"),
    ]


def test_sqlite_index_shares_a_connection_and_deletes_vectors_with_units() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE messages (id TEXT PRIMARY KEY)")
    index = SQLiteIndex(conn, embedder=HashingEmbedder())
    index.add(units("c1") + units("c2"))
    assert index.delete_conversation("c1") == 10
    assert conn.execute("SELECT count(*) FROM search_vectors").fetchone() == (10,)
    assert index.search("rent", k=5, conversation_id="c1") == []
    assert conn.execute("SELECT count(*) FROM messages").fetchone() == (0,)


def test_sqlite_index_sees_writes_from_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    reader = SQLiteIndex(path, embedder=HashingEmbedder(), mode="dense")
    writer = SQLiteIndex(path, embedder=HashingEmbedder())
    writer.add(units()[:3])
    assert top_ids(reader, "rent", k=1) == ["c1-t2"]
    writer.add(units()[8:9])
    assert top_ids(reader, "cat Pixel vase shelf", k=1) == ["c1-t8"]


def test_sqlite_index_ignores_vectors_of_another_embedder(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    SQLiteIndex(path, embedder=HashingEmbedder(dim=64)).add(units())
    other = SQLiteIndex(path, embedder=HashingEmbedder(dim=32))
    assert other.search("rent", k=3, mode="dense") == []
    assert top_ids(other, "rent", k=1) == ["c1-t2"]  # hybrid falls back on lexical


def test_sqlite_index_refuses_a_newer_schema(tmp_path: Path) -> None:
    from claudechat.errors import StoreError

    path = tmp_path / "new.db"
    first = SQLiteIndex(path)
    with first.connection:
        first.connection.execute("INSERT INTO search_migrations VALUES (99, 'future', 0)")
    first.close()
    with pytest.raises(StoreError, match="search tables are at schema version 99"):
        SQLiteIndex(path)


# The search tables as SQLiteIndex made them before numbered migrations (schema version 1).
OLD_LAYOUT = """
CREATE TABLE search_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO search_meta VALUES ('schema_version', '1');
CREATE TABLE search_units (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, conversation_id TEXT NOT NULL,
    message_ids TEXT NOT NULL, speaker TEXT NOT NULL DEFAULT '', created_at TEXT,
    text TEXT NOT NULL, key TEXT NOT NULL, terms TEXT NOT NULL
);
CREATE INDEX search_units_conversation ON search_units (conversation_id);
CREATE VIRTUAL TABLE search_fts USING fts5(
    terms, content='search_units', content_rowid='rowid', tokenize='unicode61'
);
CREATE TABLE search_vectors (
    unit_rowid INTEGER PRIMARY KEY, model TEXT NOT NULL, dim INTEGER NOT NULL,
    vector BLOB NOT NULL
);
CREATE TRIGGER search_units_ai AFTER INSERT ON search_units BEGIN
    INSERT INTO search_fts (rowid, terms) VALUES (new.rowid, new.terms);
END;
CREATE TRIGGER search_units_ad AFTER DELETE ON search_units BEGIN
    INSERT INTO search_fts (search_fts, rowid, terms) VALUES ('delete', old.rowid, old.terms);
    DELETE FROM search_vectors WHERE unit_rowid = old.rowid;
END;
INSERT INTO search_units (id, conversation_id, message_ids, text, key, terms)
VALUES ('old-t1', 'old', '["old-m1"]', 'The boat is called Marlin.', '', 'boat call marlin');
"""


def test_a_database_from_before_numbered_migrations_is_migrated_and_searchable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with SQLiteStore(path) as store:  # the store's tables and its FTS index, beside ours
        cid = store.create_conversation().id
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_LAYOUT)
    conn.close()
    index = SQLiteIndex(path, embedder=HashingEmbedder())
    assert top_ids(index, "what is the boat called?", k=1, mode="lexical") == ["old-t1"]
    assert index.embed_missing() == 1  # the old row gets its vector
    assert top_ids(index, "boat Marlin", k=1, mode="dense") == ["old-t1"]
    index.add(units())
    assert top_ids(index, "rent euros", k=1) == ["c1-t2"]
    conn = index.connection
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "search_meta" not in tables
    fts = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE sql LIKE '%fts5%'")}
    assert fts == {"messages_fts", "search_fts"}  # one for the store, one for the index
    history = conn.execute("SELECT version FROM search_migrations ORDER BY version")
    assert history.fetchall() == [(1,), (2,), (3,)]
    index.close()
    again = SQLiteIndex(path)  # nothing left to apply; the rows are all there
    assert len(again) == 11
    again.close()
    with SQLiteStore(path) as store:  # and the store still opens its own schema
        assert store.get_conversation(cid).id == cid


def test_session_gap_is_configurable() -> None:
    near = TurnKeys(session_gap=None).apply(units())
    assert units()[4].text in near[5].key
    assert TurnKeys(session_gap=timedelta(days=60)).apply(units())[5].key == near[5].key


def test_postgres_term_frequencies_parse_the_tsvector_text_form() -> None:
    from claudechat.search.postgres import _term_frequencies

    assert _term_frequencies("'cat':3,7 'it''s':2A 'sat':1 'bare'") == {
        "cat": 2,
        "it's": 1,
        "sat": 1,
        "bare": 1,
    }


def test_bm25_score_matches_the_in_memory_index() -> None:
    from claudechat.search.bm25 import bm25_score

    docs = ["apple pie apple", "pear tart", "apple"]
    bm25 = BM25()
    bm25.add(docs)
    tokens = [Tokenizer()(d) for d in docs]
    df = {"apple": 2, "pie": 1}
    avgdl = sum(map(len, tokens)) / 3
    for i, terms in enumerate(tokens):
        tf = {t: terms.count(t) for t in terms}
        expected = bm25.scores("apple pie")[i]
        assert bm25_score(["apple", "pie"], tf, len(terms), df, 3, avgdl) == pytest.approx(expected)


# ---------------------------------------------------------------- the turn before a match


def test_turn_keys_link_each_turn_to_the_one_before_it_in_its_session() -> None:
    out = TurnKeys().apply(units())
    assert [u.previous for u in out[:3]] == ["", "c1-t0", "c1-t1"]
    assert out[5].previous == ""  # DAY2 opens a new session
    assert out[6].previous == "c1-t5"
    assert all(u.previous == "" for u in TurnKeys(before=0).apply(units()[:1]))


def _exchange() -> list[SearchUnit]:
    texts = ["Which city did you fly to last week?", "Seattle, for the basketball game.", "Nice!"]
    plain = [SearchUnit(id=f"x{i}", conversation_id="x", text=t, message_ids=(f"m{i}",),
                        created_at=DAY1) for i, t in enumerate(texts)]  # fmt: skip
    return TurnKeys(before=0).apply(plain)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_turn_whose_reply_matches_is_lifted_with_it(backend: str) -> None:
    def index(**kw: float) -> RankedIndex:
        if backend == "memory":
            made: RankedIndex = MemoryIndex(**kw)  # type: ignore[arg-type]
        else:
            made = SQLiteIndex(sqlite3.connect(":memory:"), **kw)  # type: ignore[arg-type]
        made.add(_exchange())
        return made

    assert top_ids(index(successor_weight=0.0), "seattle basketball") == ["x1"]
    lifted = index().search("seattle basketball")
    assert [h.unit.id for h in lifted] == ["x1", "x0"]  # the question that the reply answers
    assert lifted[1].score == pytest.approx(0.3 * lifted[0].score)
    assert lifted[1].scores == {}  # no retriever matched it on its own
    # a turn the caller already holds is not brought back through its reply
    assert top_ids(index(), "seattle basketball", exclude_message_ids={"m0"}) == ["x1"]
    assert top_ids(index(), "seattle basketball", where=lambda u: u.id != "x0") == ["x1"]


def test_dense_search_does_not_lift_the_turn_before() -> None:
    lifted = MemoryIndex(embedder=HashingEmbedder(), mode="dense")
    plain = MemoryIndex(embedder=HashingEmbedder(), mode="dense", successor_weight=0.0)
    for index in (lifted, plain):
        index.add(_exchange())
    query = "seattle basketball game"
    assert [(h.unit.id, h.score) for h in lifted.search(query)] == [
        (h.unit.id, h.score) for h in plain.search(query)
    ]
    hybrid = MemoryIndex(embedder=HashingEmbedder())
    hybrid.add(_exchange())
    assert top_ids(hybrid, query)[:2] == ["x1", "x0"]


def test_a_negative_successor_weight_is_refused() -> None:
    with pytest.raises(ConfigError, match="successor_weight must be 0 or more"):
        MemoryIndex(successor_weight=-0.1)


def _said(i: int, speaker: str, text: str) -> SearchUnit:
    return SearchUnit(id=f"t{i}", conversation_id="c", speaker=speaker, text=text)


def test_a_query_naming_one_speaker_favours_that_speakers_turns() -> None:
    units = [
        _said(1, "Ann", "the pottery class was fun"),
        _said(2, "Bo", "the pottery class was fun"),
    ]
    plain, favouring = MemoryIndex(speaker_weight=0.0), MemoryIndex(speaker_weight=0.2)
    for index in (plain, favouring):
        index.add(units)
    # same text, same score: the tie goes to the smaller id without the speaker weight
    assert [h.unit.id for h in plain.search("What class did Bo take?")] == ["t1", "t2"]
    hits = favouring.search("What class did Bo take?")
    assert [h.unit.id for h in hits] == ["t2", "t1"]
    assert hits[0].score == pytest.approx(1.2 * hits[1].score)
    # both named, or a name inside another word: no speaker is favoured
    assert [h.unit.id for h in favouring.search("Did Ann and Bo take the class?")] == ["t1", "t2"]
    assert [h.unit.id for h in favouring.search("Bob's pottery class?")] == ["t1", "t2"]


def test_speaker_weight_must_not_be_negative() -> None:
    with pytest.raises(ConfigError, match="speaker_weight"):
        MemoryIndex(speaker_weight=-0.1)


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_opening_an_index_whose_tables_are_made_takes_no_write_lock(tmp_path: Path) -> None:
    """A second connection opens the index while another holds the file's write lock:
    the tables are already there, so opening only reads; a file without them still needs
    the lock to make them."""
    made, bare = tmp_path / "made.db", tmp_path / "bare.db"
    SQLiteIndex(made).close()
    sqlite3.connect(bare).close()
    holders = [_hold_write_lock(made), _hold_write_lock(bare)]
    try:
        index = SQLiteIndex(sqlite3.connect(made, timeout=0.05))
        assert len(index) == 0
        index.close()
        with pytest.raises(StoreError, match="locked"):
            SQLiteIndex(sqlite3.connect(bare, timeout=0.05))
    finally:
        for holder in holders:
            holder.execute("ROLLBACK")
            holder.close()
