"""The service's metrics, read back through Prometheus' own text parser."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from claudechat.server.metrics import ServiceMetrics
from claudechat.usage import Usage


def samples(metrics: ServiceMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, keyed by name and sorted labels."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=")
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_requests_are_counted_by_route_template_method_and_status() -> None:
    metrics = ServiceMetrics()
    metrics.observe_request("/v1/conversations/{cid}", "get", 200)
    metrics.observe_request("/v1/conversations/{cid}", "GET", 200)
    metrics.observe_request("/v1/conversations/{cid}", "GET", 404)
    got = samples(metrics)
    key = "claudechat_http_requests_total"
    labels = (("method", "GET"), ("route", "/v1/conversations/{cid}"))
    assert got[(key, (*labels, ("status", "200")))] == 2
    assert got[(key, (*labels, ("status", "404")))] == 1


def test_a_turn_adds_its_tokens_cost_outcome_and_cache_ratio() -> None:
    metrics = ServiceMetrics()
    usage = Usage(input_tokens=10, output_tokens=20, cache_write_5m_tokens=30,
                  cache_write_1h_tokens=5, cache_read_tokens=55, iteration_input_tokens=100,
                  iteration_output_tokens=7, requests=1)  # fmt: skip
    metrics.observe_turn(usage, 0.25, "ok")
    metrics.observe_turn(Usage(output_tokens=3, cache_read_tokens=9, input_tokens=1), None,
                         "partial")  # fmt: skip
    got = samples(metrics)
    tokens = {kind: got[("claudechat_tokens_total", (("kind", kind),))]
              for kind in ("input", "output", "cache_read", "cache_write")}  # fmt: skip
    assert tokens == {"input": 111, "output": 30, "cache_read": 64, "cache_write": 35}
    assert got[("claudechat_cost_usd_total", ())] == pytest.approx(0.25)
    assert got[("claudechat_cache_hit_ratio", ())] == pytest.approx(0.9)
    turns = {o: got[("claudechat_turns_total", (("outcome", o),))]
             for o in ("ok", "partial", "error")}  # fmt: skip
    assert turns == {"ok": 1, "partial": 1, "error": 0}


def test_active_streams_go_up_and_down_and_upstream_errors_by_type() -> None:
    metrics = ServiceMetrics()
    metrics.stream_opened()
    metrics.stream_opened()
    metrics.stream_closed()
    metrics.upstream_error("overloaded_error")
    metrics.upstream_error("overloaded_error")
    metrics.upstream_error("RateLimited")
    got = samples(metrics)
    assert got[("claudechat_active_streams", ())] == 1
    assert got[("claudechat_upstream_errors_total", (("type", "overloaded_error"),))] == 2
    assert got[("claudechat_upstream_errors_total", (("type", "RateLimited"),))] == 1


def test_two_apps_in_one_process_keep_separate_counts() -> None:
    first, second = ServiceMetrics(), ServiceMetrics()
    first.observe_request("/healthz", "GET", 200)
    assert ("claudechat_http_requests_total",
            (("method", "GET"), ("route", "/healthz"), ("status", "200"))) in samples(first)  # fmt: skip
    assert not any(name == "claudechat_http_requests_total" for name, _ in samples(second))
