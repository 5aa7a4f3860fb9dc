"""Routes about the service rather than a conversation: health, models, search."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ..models.capabilities import known_models, model_info
from .auth import ScopedStoreDep
from .errors import ApiError
from .semantic import semantic_hits
from .state import State
from .views import hit_json, model_json

__all__ = ["display_name", "router"]

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness, without auth."""
    return {"status": "ok"}


@router.get("/v1/models")
async def models() -> dict[str, Any]:
    """The models conversations may use: window, output cap, prices (retired ones left out)."""
    data = []
    today = datetime.now(UTC).date()
    for name in known_models():
        info = model_info(name, warn=False)
        if info.retires is not None and today >= info.retires:
            continue
        data.append(model_json(info, display_name(name)))
    return {"data": data}


def display_name(name: str) -> str:
    """The name people read: claude-sonnet-4-6 is Claude Sonnet 4.6."""
    words = name.split("-")
    numbers = [w for w in words if w.isdigit()]
    names = [w.capitalize() for w in words if not w.isdigit()]
    return " ".join([*names, ".".join(numbers)]) if numbers else " ".join(names)


@router.get("/v1/search")
def search(
    state: State,
    store: ScopedStoreDep,
    q: Annotated[str, Query(min_length=1, max_length=1000)],
    conversation_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    semantic: bool = False,
) -> dict[str, Any]:
    """Full-text search over the user's messages, best first; with ``semantic``, their
    turns by meaning (hybrid), when the service is configured for it (else 501)."""
    if semantic and state.embedder is None:
        raise ApiError(501, "semantic search is not enabled on this server (its administrator "
                            "turns it on with CLAUDECHAT_SERVE_SEMANTIC=on)")  # fmt: skip
    if conversation_id is not None:
        store.get_conversation(conversation_id)  # 404 for an id that is not the user's
    if semantic:
        found = semantic_hits(store, state.embedder, q, conversation_id=conversation_id,
                              limit=limit)  # fmt: skip
        return {"data": found}
    hits = store.search(q, conversation_id=conversation_id, limit=limit)
    return {"data": [hit_json(h) for h in hits]}
