"""The service's Prometheus metrics, in a registry of their own per app.

A registry per app (not prometheus-client's global one) lets several apps live in one
process, as tests and embedders do, without counting each other's requests. Each worker
keeps its own counters; a scraper sums the workers (see the README's deployment section).
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from ..usage import Usage

__all__ = ["ServiceMetrics", "TurnOutcome"]

TurnOutcome = Literal["ok", "partial", "error"]


class ServiceMetrics:
    """The counters and gauges of api13's metrics list; the app calls one method per event."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self._requests = Counter(
            "claudechat_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=reg,
        )
        self._tokens = Counter(
            "claudechat_tokens",
            "Tokens billed by the upstream API, by kind (input, output, cache_read, cache_write).",
            ["kind"],
            registry=reg,
        )
        self._cost = Counter("claudechat_cost_usd", "USD billed by the upstream API.", registry=reg)
        self._cache_hit = Gauge(
            "claudechat_cache_hit_ratio",
            "Share of the last turn's prompt tokens read from the prompt cache.",
            registry=reg,
        )
        self._streams = Gauge(
            "claudechat_active_streams", "Turns running in this worker.", registry=reg
        )
        self._upstream_errors = Counter(
            "claudechat_upstream_errors",
            "Failed upstream API calls, by error type.",
            ["type"],
            registry=reg,
        )
        self._turns = Counter(
            "claudechat_turns", "Turns ended, by outcome (ok, partial, error).", ["outcome"],
            registry=reg,
        )  # fmt: skip
        for kind in ("input", "output", "cache_read", "cache_write"):
            self._tokens.labels(kind=kind)
        for outcome in ("ok", "partial", "error"):
            self._turns.labels(outcome=outcome)

    def observe_request(self, route: str, method: str, status: int) -> None:
        """Count one answered request; ``route`` is the template (``/v1/conversations/{cid}``),
        never the raw path, so ids do not make a new series each."""
        self._requests.labels(route=route, method=method.upper(), status=str(status)).inc()

    def observe_turn(self, usage: Usage, cost_usd: float | None, outcome: TurnOutcome) -> None:
        """Count an ended turn, the tokens it billed (server-side iterations included) and its
        cost (None when the model's price is unknown: tokens are counted, USD is not)."""
        self._turns.labels(outcome=outcome).inc()
        self._tokens.labels(kind="input").inc(usage.input_tokens + usage.iteration_input_tokens)
        self._tokens.labels(kind="output").inc(usage.output_tokens + usage.iteration_output_tokens)
        self._tokens.labels(kind="cache_read").inc(usage.cache_read_tokens)
        self._tokens.labels(kind="cache_write").inc(usage.cache_write_tokens)
        if cost_usd is not None:
            self._cost.inc(cost_usd)
        ratio = usage.cache_hit_ratio
        if ratio is not None:
            self._cache_hit.set(ratio)

    def stream_opened(self) -> None:
        """A turn started running in this worker."""
        self._streams.inc()

    def stream_closed(self) -> None:
        """A turn of this worker ended (whole, partial or failed)."""
        self._streams.dec()

    def upstream_error(self, error_type: str) -> None:
        """Count a failed upstream call; ``error_type`` is the error class or API error type
        (``overloaded_error``, ``RateLimited``...)."""
        self._upstream_errors.labels(type=error_type).inc()

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
