"""The LoCoMo benchmark's scoring side: evidence normalisation and recall@k, on made-up data."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "locomo.py"


@pytest.fixture(scope="module")
def locomo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_locomo", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_locomo"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["D1:3"], ["D1:3"]),
        (["D30:05"], ["D30:5"]),
        (["D8:6; D9:17"], ["D8:6", "D9:17"]),
        (["D2:1 D2:4", "D2:1"], ["D2:1", "D2:4"]),
        ([""], []),
        ([], []),
        (["D", "session 3", "D4"], []),
        (["D07:011;"], ["D7:11"]),
    ],
)
def test_normalize_evidence(locomo: ModuleType, raw: list[str], expected: list[str]) -> None:
    assert locomo.normalize_evidence(raw) == expected


SAMPLE = {
    "sample_id": "s1",
    "conversation": {
        "speaker_a": "Ann",
        "speaker_b": "Bo",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Ann", "dia_id": "D1:1", "text": "I bought a red kayak."},
            {"speaker": "Bo", "dia_id": "D1:2", "text": "Nice!", "blip_caption": "a kayak"},
        ],
        "session_3_date_time": "9:00 am on 1 June, 2023",
    },
    "qa": [
        {"question": "What did Ann buy?", "answer": "a kayak", "evidence": ["D1:01"],
         "category": 4},
        {"question": "Anything?", "adversarial_answer": "no", "evidence": [], "category": 5},
        {"question": "Both?", "answer": "x", "evidence": ["D1:1; D1:2"], "category": 1},
    ],
}  # fmt: skip


def test_reading_keeps_turns_and_questions_apart_from_gold(locomo: ModuleType) -> None:
    [transcript] = locomo.read_transcripts([SAMPLE])
    assert [u.id for u in transcript.units] == ["D1:1", "D1:2"]  # no phantom session 3
    assert transcript.units[1].text == 'Bo said, "Nice!" and shared a kayak'
    assert transcript.units[0].created_at.day == 8
    assert locomo.read_questions([SAMPLE]) == [["What did Ann buy?", "Anything?", "Both?"]]
    [gold] = locomo.read_gold([SAMPLE])
    assert [g.evidence for g in gold] == [["D1:1"], [], ["D1:1", "D1:2"]]


def test_score_is_recall_of_evidence_in_the_top_k(locomo: ModuleType) -> None:
    gold = locomo.read_gold([SAMPLE])
    rankings = [[["D1:1"] + [f"x{i}" for i in range(60)], [], ["D1:2"] + ["y"] * 20 + ["D1:1"]]]
    result = locomo.score(rankings, gold)
    assert result["skipped_no_evidence"] == 1 and result["questions"] == 2
    assert result["recall@5"] == pytest.approx((1.0 + 0.5) / 2)
    assert result["recall@25"] == pytest.approx(1.0)
    assert result["per_category"]["multi-hop"]["recall@10"] == pytest.approx(0.5)
    assert result["per_category"]["single-hop"]["questions"] == 1


def test_retrieval_never_sees_gold(locomo: ModuleType) -> None:
    from claudechat.search import MemoryIndex

    stripped = {"sample_id": "s1", "conversation": SAMPLE["conversation"],
                "qa": [{"question": q["question"]} for q in SAMPLE["qa"]]}  # fmt: skip
    run = locomo.retrieve(
        locomo.read_transcripts([stripped]),
        locomo.read_questions([stripped]),
        make_index=lambda _sid: MemoryIndex(),
        keys=locomo.protocol_keys,
        mode="lexical",
    )
    assert run.rankings[0][0][0] == "D1:1"
    assert len(run.query_ms) == 3


def test_query_timing_embeds_every_question_for_real(locomo: ModuleType) -> None:
    from claudechat.search import HashingEmbedder, MemoryIndex

    class Counting(HashingEmbedder):
        calls = 0

        def embed(self, texts: list[str]) -> object:  # type: ignore[override]
            type(self).calls += 1
            return super().embed(texts)

    cached = locomo.CachingEmbedder(HashingEmbedder(64))
    timing = locomo.time_queries(
        locomo.read_transcripts([SAMPLE]),
        locomo.read_questions([SAMPLE]),
        make_index=lambda _sid: MemoryIndex(embedder=cached),
        keys=locomo.protocol_keys,
        query_embedder=Counting(64),
    )
    assert timing["queries"] == 3
    assert Counting.calls == 3 + 1  # each question, and the warm-up query
    assert timing["median_cpu_ms"] >= 0 and timing["median_wall_ms"] >= 0
    assert len(timing["load_average_before"]) == 3


def test_the_variant_sweep_runs_every_variant(locomo: ModuleType) -> None:
    from claudechat.search import HashingEmbedder, MemoryIndex

    def factory(emb: object, **kw: object) -> object:
        return lambda _sid: MemoryIndex(embedder=emb, **kw)  # type: ignore[arg-type]

    results: dict[str, dict[str, object]] = {"bm25": {}, "dense": {}, "hybrid": {}}
    locomo.sweep(
        results,
        locomo.read_transcripts([SAMPLE]),
        locomo.read_questions([SAMPLE]),
        locomo.read_gold([SAMPLE]),
        HashingEmbedder(64),
        factory,
    )
    hybrid = results["hybrid"]["variants"]
    assert {"speaker weight 0.0", "speaker weight 0.3", "bm25 k1=0.9 b=0.75"} <= set(hybrid)
    assert "speaker weight 0.1" in results["bm25"]["variants"]
    assert all(0.0 <= v["recall@5"] <= 1.0 for v in hybrid.values())


def test_mpnet_without_a_model_directory_says_what_is_missing(
    locomo: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "sample.json"
    data.write_text(json.dumps([SAMPLE]), encoding="utf-8")
    assert locomo.main(["--data", str(data), "--engine", "mpnet"]) == 2
    assert "needs --model-dir" in capsys.readouterr().err
    empty = tmp_path / "all-mpnet-base-v2"
    empty.mkdir()
    assert locomo.main(["--data", str(data), "--engine", "mpnet", "--model-dir", str(empty)]) == 2
    assert f"no sentence-transformers model in {empty}" in capsys.readouterr().err
    with pytest.raises(locomo.EmbedderUnavailable, match=r"modules\.json"):
        locomo.SentenceTransformerEmbedder(str(empty))
