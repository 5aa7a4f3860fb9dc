"""A BERT sentence encoder in numpy: the forward pass of all-MiniLM-L6-v2 without torch.

Loading torch and sentence-transformers costs seconds before the first vector; a search
from the command line needs one query vector, so `BertEncoder` maps the same
``model.safetensors`` into memory (only the rows of the vocabulary a text uses are read)
and runs the encoder with numpy, with the ``tokenizers`` package that sentence-transformers
already brings. Its vectors match sentence-transformers' to float32 rounding (tests/search
check it).

A query is one short text: its matrices are a few rows, and waking BLAS threads for them
costs more than they save, many times more when other processes keep the cores busy
(bench/locomo.py --timing: a median of 370 ms against 14 ms on one thread on a loaded
two-core machine). Calls with few texts therefore run BLAS on one thread
(``threadpoolctl``, which the embeddings extra brings); batches keep every thread.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["SMALL_CALL", "BertEncoder", "blas_threads", "read_safetensors"]

Array = npt.NDArray[np.float32]

SMALL_CALL = 8
"""`BertEncoder.encode` runs BLAS on one thread for calls of up to this many texts."""


@functools.cache
def _controller() -> Any:
    """threadpoolctl's controller of the loaded BLAS libraries (None without the package);
    made once: limiting through it then costs microseconds."""
    try:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]
    except ImportError:
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """Run the block with BLAS limited to ``limit`` threads (None: unchanged)."""
    controller = _controller() if limit is not None else None
    if controller is None:
        yield
        return
    with controller.limit(limits=limit, user_api="blas"):
        yield


def _erf(x: Array) -> Array:
    """erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7, under float32's)."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    out: Array = (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32, copy=False)
    return out


def _gelu(x: Array) -> Array:
    """BERT's exact (erf) GELU."""
    out: Array = 0.5 * x * (1.0 + _erf(x / np.float32(math.sqrt(2.0))))
    return out


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: Array = (x - mean) / np.sqrt(var + eps) * weight + bias
    return out


_DTYPES = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}


def read_safetensors(path: Path) -> dict[str, Array]:
    """The tensors of a ``.safetensors`` file as read-only arrays mapped from the file
    (the format: an 8-byte little-endian header length, a JSON header, raw data)."""
    with path.open("rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size)
    out: dict[str, Array] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = np.dtype(_DTYPES[info["dtype"]])
        array = data[start:end].view(dtype).reshape(info["shape"])
        out[name] = array.astype(np.float32, copy=False) if dtype.kind == "f" else array
    return out


@dataclass(frozen=True)
class _Layer:
    """One transformer block's weights, as stored (``out x in``: a layer computes
    ``x @ weight.T``)."""

    query: Array
    key: Array
    value: Array
    qkv_bias: Array
    out: Array
    out_bias: Array
    norm1: tuple[Array, Array]
    up: Array
    up_bias: Array
    down: Array
    down_bias: Array
    norm2: tuple[Array, Array]

    @classmethod
    def read(cls, w: dict[str, Any], i: int) -> _Layer:
        p = f"encoder.layer.{i}."
        att = p + "attention."
        return cls(
            query=w[f"{att}self.query.weight"],
            key=w[f"{att}self.key.weight"],
            value=w[f"{att}self.value.weight"],
            qkv_bias=np.concatenate([w[f"{att}self.{n}.bias"] for n in ("query", "key", "value")]),
            out=w[f"{att}output.dense.weight"],
            out_bias=w[f"{att}output.dense.bias"],
            norm1=(w[f"{att}output.LayerNorm.weight"], w[f"{att}output.LayerNorm.bias"]),
            up=w[f"{p}intermediate.dense.weight"],
            up_bias=w[f"{p}intermediate.dense.bias"],
            down=w[f"{p}output.dense.weight"],
            down_bias=w[f"{p}output.dense.bias"],
            norm2=(w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"]),
        )


class BertEncoder:
    """Mean-pooled, unit-length sentence vectors from a BERT checkpoint directory
    (``config.json``, ``model.safetensors``, ``tokenizer.json``), as sentence-transformers
    computes them for all-MiniLM-L6-v2."""

    def __init__(self, model_dir: str | Path, *, max_length: int = 256) -> None:
        from tokenizers import Tokenizer

        root = Path(model_dir)
        config = json.loads((root / "config.json").read_text(encoding="utf-8"))
        self.heads = int(config["num_attention_heads"])
        self.dim = int(config["hidden_size"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        w = read_safetensors(root / "model.safetensors")
        w = {k.removeprefix("bert."): v for k, v in w.items()}
        self.words = w["embeddings.word_embeddings.weight"]
        self.positions = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = [_Layer.read(w, i) for i in range(int(config["num_hidden_layers"]))]
        self.tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_length)
        self.tokenizer.no_padding()

    def encode(self, texts: list[str], *, batch_size: int = 32) -> Array:
        """One unit-length vector per text; texts of similar length are batched together,
        and a call of at most `SMALL_CALL` texts (a query) runs BLAS on one thread."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        with blas_threads(1 if len(texts) <= SMALL_CALL else None):
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                out[rows] = self._encode_batch([ids[i] for i in rows])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        result: Array = out / norms
        return result

    def _encode_batch(self, batch: list[list[int]]) -> Array:
        length = max(len(ids) for ids in batch)
        tokens = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.float32)
        for row, ids in enumerate(batch):
            tokens[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1.0
        x = self.words[tokens] + self.positions[:length] + self.token_type
        x = _layer_norm(x, *self.norm, self.eps)
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in self.layers:
            x = self._block(x, layer, bias)
        pooled: Array = (x * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return pooled

    def _block(self, x: Array, layer: _Layer, bias: Array) -> Array:
        n, length, dim = x.shape
        head = dim // self.heads
        x = x.reshape(n * length, dim)
        qkv = np.concatenate([x @ layer.query.T, x @ layer.key.T, x @ layer.value.T], axis=1)
        qkv = (qkv + layer.qkv_bias).reshape(n, length, 3, self.heads, head)
        q, k, v = (qkv[:, :, j].transpose(0, 2, 1, 3) for j in range(3))
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(head)) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(n * length, dim)
        x = _layer_norm(x + context @ layer.out.T + layer.out_bias, *layer.norm1, self.eps)
        hidden = _gelu(x @ layer.up.T + layer.up_bias)
        x = _layer_norm(x + hidden @ layer.down.T + layer.down_bias, *layer.norm2, self.eps)
        return x.reshape(n, length, dim)
