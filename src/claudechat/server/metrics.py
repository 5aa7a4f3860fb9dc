"""The service's Prometheus metrics, in a registry of their own per app.

A registry per app (not prometheus-client's global one) lets several apps live in one
process, as tests and embedders do, without counting each other's requests.

Several worker processes (``claudechat serve --workers N``) share their figures through
prometheus-client's multiprocess mode: ``serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a
fresh directory before the workers start, each worker writes its values to files there, and
a scrape of any worker reads them all, so ``/metrics`` gives the service's totals whichever
worker answers. ``claudechat_active_streams`` is then the sum over the live workers and
``claudechat_cache_hit_ratio`` the last turn's of any worker.
"""

from __future__ import annotations

import atexit
import os
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from ..usage import Usage

__all__ = ["MULTIPROCESS_ENV", "ServiceMetrics", "TurnOutcome", "shared_directory"]

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def shared_directory() -> str | None:
    """The directory of multiprocess mode, when the environment names one and named it
    already when prometheus-client was imported (which picks then how values are kept)."""
    directory = os.environ.get(MULTIPROCESS_ENV) or None
    return directory if values.ValueClass is not values.MutexValue else None


TurnOutcome = Literal["ok", "partial", "error"]

# seconds: a turn opens in milliseconds; its first token waits for the upstream API too
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServiceMetrics:
    """The counters and gauges of api13's metrics list; the app calls one method per event."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.shared = shared_directory()
        if self.shared is not None:  # this worker's live gauges leave the sum when it exits
            atexit.register(mark_process_dead, os.getpid(), self.shared)
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
            multiprocess_mode="mostrecent",
        )
        self._streams = Gauge(
            "claudechat_active_streams", "Turns running in the service's workers.",
            registry=reg, multiprocess_mode="livesum",
        )  # fmt: skip
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
        self._opened = Histogram(
            "claudechat_turn_open_seconds",
            "From a turn's request to the turn running, its upstream call next: the spend "
            "check, the lease, the user message stored and the context fitted.",
            buckets=LATENCY_BUCKETS, registry=reg,
        )  # fmt: skip
        self._first_token = Histogram(
            "claudechat_first_token_seconds",
            "From a turn's request to the first text of its reply, ready for the client (the "
            "upstream API's time to first token included).",
            buckets=LATENCY_BUCKETS, registry=reg,
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

    def turn_opened(self, seconds: float) -> None:
        """A turn was opened ``seconds`` after its request arrived."""
        self._opened.observe(seconds)

    def first_token(self, seconds: float) -> None:
        """A turn's first text was ready ``seconds`` after its request arrived."""
        self._first_token.observe(seconds)

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
        """The Prometheus text exposition of every metric, and its content type: of every
        worker's values in multiprocess mode, else of this app's."""
        if self.shared is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        every_worker = CollectorRegistry()
        MultiProcessCollector(every_worker, path=self.shared)  # type: ignore[no-untyped-call]
        return generate_latest(every_worker), CONTENT_TYPE_LATEST
