"""Prometheus metrics: AWS calls and errors by operation, reconcile durations.

AWS call counts come from `aws.calls.CALLS` at scrape time, so the counter the
gateways feed is the single source for tests, benchmarks and dashboards.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from sagemeter.aws.calls import CALLS

RECONCILE_SECONDS = Histogram(
    "sagemeter_reconcile_duration_seconds",
    "Duration of one reconcile pass.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class AwsCallCollector(Collector):
    def collect(self) -> Iterator[CounterMetricFamily]:
        calls = CounterMetricFamily(
            "sagemeter_aws_calls", "AWS API calls made, by service and operation.",
            labels=["service", "operation"],
        )
        for key, count in sorted(CALLS.snapshot().items()):
            service, operation = key.split(":", 1)
            calls.add_metric([service, operation], count)
        yield calls
        errors = CounterMetricFamily(
            "sagemeter_aws_errors", "AWS API errors, by service, operation and error code.",
            labels=["service", "operation", "code"],
        )
        for key, count in sorted(CALLS.errors_snapshot().items()):
            service, operation, code = ([*key.split(":", 2), "", ""])[:3]
            errors.add_metric([service, operation, code], count)
        yield errors


_registered = False


def serve(port: int, address: str = "0.0.0.0") -> None:
    global _registered
    if not _registered:
        REGISTRY.register(AwsCallCollector())
        _registered = True
    start_http_server(port, addr=address)
