"""Cache diagnostics: the request field and beta that make the API say why a cache missed.

With the ``cache-diagnosis-2026-04-07`` beta, a request carrying ``diagnostics:
{"previous_message_id": <the last reply's id>}`` (null on the first turn, to opt in) gets
back ``diagnostics.cache_miss_reason``: its type and the input tokens the miss cost. The
chat stores both with each reply (``metadata.CACHE_MISS_REASON`` / ``CACHE_MISSED_TOKENS``)
and ``claudechat cost ID --misses`` lists them.
"""

from __future__ import annotations

from typing import Any

from ..models.capabilities import ModelInfo

__all__ = ["CACHE_DIAGNOSIS_BETA", "diagnosis_fields"]

CACHE_DIAGNOSIS_BETA = "cache-diagnosis-2026-04-07"


def diagnosis_fields(
    model: ModelInfo, previous_id: str | None
) -> tuple[dict[str, Any] | None, list[str]]:
    """The ``diagnostics`` field and the betas for a request to ``model`` after the reply
    ``previous_id``: opted in on every turn where the model supports it; elsewhere (models
    unknown to the table, other servers) only after a reply, without the beta."""
    if model.cache_diagnosis:
        return {"previous_message_id": previous_id}, [CACHE_DIAGNOSIS_BETA]
    if previous_id:
        return {"previous_message_id": previous_id}, []
    return None, []
