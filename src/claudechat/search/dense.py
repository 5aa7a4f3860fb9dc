"""Exact cosine search over unit-length float32 vectors, and their byte encoding for storage.

Exact search is one matrix-vector product: at 384 dimensions, 100k turns are 150 MB and a
query takes a few milliseconds; around 1M vectors (1.5 GB, a full memory scan of ~100 ms
per query) it stops scaling, and an approximate index (HNSW: pgvector, sqlite-vec, FAISS,
hnswlib) should take over.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from claudechat.search.embedders import Embedder, Vectors

__all__ = ["embed_query", "from_blob", "to_blob", "top_k"]


def to_blob(vector: npt.ArrayLike) -> bytes:
    """Little-endian float32 bytes of one vector (SQLite BLOB / PostgreSQL bytea)."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes, dim: int | None = None) -> Vectors:
    """The float32 vector stored by `to_blob`; checks its length when ``dim`` is given."""
    vector = np.frombuffer(blob, dtype="<f4").astype(np.float32)
    if dim is not None and vector.size != dim:
        raise ValueError(f"stored vector has {vector.size} dims, expected {dim}")
    return vector


def embed_query(embedder: Embedder, text: str) -> Vectors:
    """The query vector: the embedder's ``embed_query`` when it has one, else ``embed``."""
    special = getattr(embedder, "embed_query", None)
    vectors: Vectors = special(text) if callable(special) else embedder.embed([text])
    return vectors.reshape(-1).astype(np.float32, copy=False)


def top_k(
    matrix: Vectors, query: Vectors, k: int | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Row positions and cosine scores of the ``k`` best rows (all rows when ``k`` is None).

    Rows and query must be unit length, so the dot product is the cosine.
    """
    if matrix.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    scores = matrix @ query
    n = scores.shape[0]
    if k is None or k >= n:
        order = np.argsort(-scores, kind="stable")
    else:
        part = np.argpartition(-scores, k)[:k]
        order = part[np.argsort(-scores[part], kind="stable")]
    return order.astype(np.int64), scores[order].astype(np.float32)
