"""The service's operations plugged into the app: spend limits, metrics, the request log.

`install_operations` is called once by `create_app`. It gives the turns their spend check
(`SpendGuard` and `upper_bound_usd`, server/limits.py: 402 / 429 before a turn stores or sends
anything, the exact cost settled after) and their metrics (`ServiceMetrics`), serves
``GET /metrics``, and puts the request log, which counts every request, around the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Response

from .limits import SpendGuard, upper_bound_usd
from .metrics import ServiceMetrics
from .request_log import RequestLog

if TYPE_CHECKING:
    from .state import ServerState

__all__ = ["install_operations"]


def install_operations(app: FastAPI, state: ServerState) -> ServiceMetrics:
    """Plug the spend check and the metrics into ``state``, serve ``GET /metrics`` and log
    every request. Call it after the app's other middleware, so that the log sees every
    answer (a 413 of the body limit included)."""
    metrics = ServiceMetrics()
    state.spend = SpendGuard(state.store, clock=state.settings.clock)
    state.upper_bound = upper_bound_usd
    state.runs.metrics = metrics

    async def metrics_text() -> Response:
        """Prometheus text format; no authentication (keep it off the public address)."""
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app.add_api_route("/metrics", metrics_text, methods=["GET"], include_in_schema=False)
    app.add_middleware(RequestLog, metrics=metrics)
    return metrics
