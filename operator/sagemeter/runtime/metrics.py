"""Prometheus metrics: the fleet by phase, what it costs and what parking saved, AWS calls
and errors by operation, reconcile durations.

AWS call counts come from `aws.calls.CALLS` at scrape time, so the counter the
gateways feed is the single source for tests, benchmarks and dashboards.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from prometheus_client import REGISTRY, Gauge, Histogram, start_http_server
from prometheus_client import Counter as CounterMetric
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sagemeter.aws.calls import CALLS

RECONCILE_SECONDS = Histogram(
    "sagemeter_reconcile_duration_seconds",
    "Duration of one reconcile pass.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WORKER_WAIT_SECONDS = Histogram(
    "sagemeter_worker_wait_seconds",
    'How long a blocking call (AWS, the apiserver) waited for a worker thread; urgent="true"'
    " for a deadline's pass (an expiry, a schedule edge), whose calls go first.",
    ["urgent"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WORKER_CALLS = CounterMetric(
    "sagemeter_worker_calls",
    "Blocking calls (AWS, the apiserver) a worker thread ran, by class and by what was called"
    " (the gateway or client method).",
    ["urgent", "call"],
)
WORKER_BUSY_SECONDS = CounterMetric(
    "sagemeter_worker_busy_seconds",
    "Time worker threads spent running calls, by class and by what was called: where the"
    " pool's threads go.",
    ["urgent", "call"],
)
ROUTE_DEPLOYMENTS_PENDING = Gauge(
    "sagemeter_route_deployments_pending",
    "REST APIs whose route changes API Gateway does not serve yet (a deployment is due).",
)
ROUTE_DEPLOYMENT_LAG = Histogram(
    "sagemeter_route_deployment_lag_seconds",
    "From a REST API's first undeployed route change to its deployment (CreateDeployment is"
    " limited to one per 5 s per account and region).",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
)
REST_APIS = Gauge(
    "sagemeter_rest_apis",
    "Regional REST APIs per account and region (AWS allows 600), sagemeter's and others.",
    ["account", "region", "owner"],
)
EVENT_QUEUES_RECEIVING = Gauge(
    "sagemeter_event_queues_receiving",
    "Event queues this replica receives from (none while peering pauses it).",
)
ORPHANS = Gauge(
    "sagemeter_orphan_endpoints",
    "Endpoints of this cluster whose ManagedEndpoint is gone without a Retain release (a"
    " finalizer removed by hand), by namespace: they count against its budgets until parked.",
    ["namespace"],
)
ORPHANS_PARKED = CounterMetric(
    "sagemeter_orphans_parked",
    "Orphaned endpoints parked after SAGEMETER_ORPHAN_GRACE (or, in a dry run, that would have"
    " been), by namespace.",
    ["namespace"],
)
DISCOVERY_NAMESPACE_MISSING = Gauge(
    "sagemeter_discovery_namespace_missing",
    "1 while tag discovery cannot create objects because SAGEMETER_ADOPT_NAMESPACE does not"
    " exist, else 0.",
    ["namespace"],
)
RUNNING_PHASES = {"Creating", "InService", "Updating"}


@dataclass
class _Entry:
    phase: str
    reason: str
    hourly: Decimal | None
    since: float


class Fleet:
    """Every ManagedEndpoint's phase and price, as the last reconcile pass saw it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._avoided = Decimal(0)

    def kept(self) -> int:
        """Objects counted (one per live object)."""
        return len(self._entries)

    def update(self, uid: str, phase: str, reason: str | None, hourly: Decimal | None) -> None:
        now = self._clock()
        with self._lock:
            self._account(uid, now)
            self._entries[uid] = _Entry(phase, reason or "", hourly, now)

    def forget(self, uid: str) -> None:
        with self._lock:
            self._account(uid, self._clock())
            self._entries.pop(uid, None)

    def _account(self, uid: str, now: float) -> None:
        previous = self._entries.get(uid)
        if previous is not None and previous.phase == "Parked" and previous.hourly is not None:
            self._avoided += previous.hourly * Decimal(str((now - previous.since) / 3600))

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        with self._lock:
            for uid in list(self._entries):
                self._account(uid, now)
                self._entries[uid].since = now
            counts = Counter((e.phase, e.reason) for e in self._entries.values())
            running = sum(
                (
                    e.hourly
                    for e in self._entries.values()
                    if e.phase in RUNNING_PHASES and e.hourly is not None
                ),
                Decimal(0),
            )
            avoided = self._avoided
        by_phase = GaugeMetricFamily(
            "sagemeter_endpoints",
            "ManagedEndpoints by phase and parked reason.",
            labels=["phase", "reason"],
        )
        for (phase, reason), count in sorted(counts.items()):
            by_phase.add_metric([phase, reason], count)
        yield by_phase
        yield GaugeMetricFamily(
            "sagemeter_running_cost_usd_per_hour",
            "Estimated on-demand cost per hour of the endpoints that run now.",
            value=float(running),
        )
        yield CounterMetricFamily(
            "sagemeter_cost_avoided_usd",
            "Estimated cost avoided by parking: parked hours times the hourly price.",
            value=float(avoided),
        )


FLEET = Fleet()


def _by_operation(name: str, documentation: str, counts: dict[str, int]) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=["service", "operation"])
    for key, count in sorted(counts.items()):
        service, operation = key.split(":", 1)
        family.add_metric([service, operation], count)
    return family


class AwsCallCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield _by_operation(
            "sagemeter_aws_calls",
            "AWS API calls made, by service and operation.",
            CALLS.snapshot(),
        )
        yield _by_operation(
            "sagemeter_aws_attempts",
            "HTTP attempts of AWS API calls, the client's retries included (throttling shows"
            " here first), by service and operation.",
            CALLS.attempts_snapshot(),
        )
        errors = CounterMetricFamily(
            "sagemeter_aws_errors",
            "AWS API errors, by service, operation and error code.",
            labels=["service", "operation", "code"],
        )
        for key, count in sorted(CALLS.errors_snapshot().items()):
            service, operation, code = ([*key.split(":", 2), "", ""])[:3]
            errors.add_metric([service, operation, code], count)
        yield errors


class Budgets(Collector):
    """Each EndpointPolicy budget and the spend counted against it (set by tenancy)."""

    def __init__(self) -> None:
        self.source: Callable[[], dict[str, tuple[Decimal, Decimal]]] | None = None

    def collect(self) -> Iterator[Metric]:
        figures = self.source() if self.source is not None else {}
        budget = GaugeMetricFamily(
            "sagemeter_budget_usd_per_hour",
            "EndpointPolicy budgets, USD per hour.",
            labels=["policy"],
        )
        spend = GaugeMetricFamily(
            "sagemeter_spend_usd_per_hour",
            "What runs under each EndpointPolicy budget, USD per hour.",
            labels=["policy"],
        )
        for name, (limit, used) in sorted(figures.items()):
            budget.add_metric([name], float(limit))
            spend.add_metric([name], float(used))
        yield budget
        yield spend


BUDGETS = Budgets()


class Kept(Collector):
    """How many entries the operator keeps, by what keeps them (``sagemeter_kept_entries``):
    what is kept per object should follow the objects, up and down; a count that only grows is
    a leak."""

    def __init__(self) -> None:
        self._sources: dict[str, Callable[[], int]] = {}

    def watch(self, sources: dict[str, Callable[[], int]]) -> None:
        self._sources.update(sources)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "sagemeter_kept_entries",
            "Entries the operator keeps in memory, by what keeps them.",
            labels=["what"],
        )
        for what, size in sorted(self._sources.items()):
            family.add_metric([what], size())
        yield family


KEPT = Kept()


class FleetCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from FLEET.collect()


_registered = False
_serving: set[int] = set()


def serve(port: int, address: str = "0.0.0.0") -> None:
    """Serves /metrics on ``port`` (once per port: `sagemeter run` serves it before kopf starts,
    so a port in use stops the process at once). Raises ``OSError`` when it cannot bind."""
    global _registered
    if port in _serving:
        return
    if not _registered:
        REGISTRY.register(AwsCallCollector())
        REGISTRY.register(FleetCollector())
        REGISTRY.register(BUDGETS)
        REGISTRY.register(KEPT)
        _registered = True
    start_http_server(port, addr=address)
    _serving.add(port)
