"""Benchmarks (`make bench`) for requests, events and tenancy: figures for the notes.

* request -> CreateEndpoint over 20 wakes of a parked endpoint (p50/p95), default settings;
* idle alarm ALARM -> DeleteEndpoint over 20 alarms (p50/p95), with default settings;
* what the event queue costs at rest, per (account, region) per hour;
* what an EndpointPolicy with a role and 100 objects adds per hour (AssumeRole refreshes,
  the per-account sweeps), and how long an OverBudget endpoint waits once room appears.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from sagemeter.core.endpoint import naming

from ..integration.conftest import Kubectl, Operator, endpoint_object, wait_for
from ..integration.test_wake import routed, waking
from .bench_meter import all_phase, log_entries, report

pytestmark = pytest.mark.cluster

IDLE = {"after": "1m", "gracePeriod": "0s"}
DEFAULTS = {
    "SAGEMETER_SYNC_INTERVAL": "5m",
    "SAGEMETER_POLL_INTERVAL": "10s",
    "SAGEMETER_LOG_FORMAT": "json",
}


def percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 3),
        "p95": round(values[int(0.95 * (len(values) - 1))], 3),
        "max": round(values[-1], 3),
    }


def cloudwatch(sandbox: Any) -> Any:
    return boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=sandbox.aws_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def fire(sandbox: Any, endpoint: str) -> float:
    """Set the idle alarm to ALARM; the instant it was sent (epoch seconds)."""
    watch = cloudwatch(sandbox)
    alarm = naming.alarm_name(endpoint)
    wait_for("the alarm", lambda: watch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"])
    sent = time.time()
    watch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="bench")
    return sent


def first_call_after(operator: Operator, name: str, call: str, since: float) -> float | None:
    """When the operator's first `call` ("sagemaker:CreateEndpoint") for object `name`
    (namespace/name) after `since` went through, from its log."""
    for entry in log_entries(operator):
        if entry["ts"] >= since and entry["message"].startswith(f"aws {call} ok ({name},"):
            return float(entry["ts"])
    return None


def test_wake_and_idle_latencies(operator: Operator, kube: Kubectl, sandbox: Any) -> None:
    count = 20
    operator.start(**DEFAULTS)
    path = f"{kube.namespace}/bench"
    kube.apply(
        endpoint_object(
            "bench",
            idle=IDLE,
            api={
                "path": path,
                "authorization": "API_KEY",
                "wakeOnRequest": True,
                "maxWakesPerDay": 100,
            },
        )
    )
    kube.wait_phase("bench", "InService", timeout=60)
    url, key = routed(kube, sandbox, "bench", path)
    name = f"{kube.namespace}/bench"
    parks: list[float] = []
    wakes: list[float] = []
    for _ in range(count):
        endpoint = kube.status("bench")["endpointName"]
        sent = fire(sandbox, endpoint)
        deleted = wait_for(
            "the park",
            lambda sent=sent: first_call_after(operator, name, "sagemaker:DeleteEndpoint", sent),
            timeout=120,
        )
        parks.append(deleted - sent)
        # The request comes once SageMaker has finished deleting: a request during the delete
        # is taken at once too, but its CreateEndpoint waits for the delete to end.
        kube.wait_phase("bench", "Parked", timeout=60)

        def probe() -> float | None:
            sent_at = time.time()
            return sent_at if waking(url, key) is not None else None

        # The first request answered "waking" is the one that wakes it.
        requested = wait_for("a waking answer", probe, timeout=60)
        created = wait_for(
            "the wake",
            lambda since=requested - 1: first_call_after(
                operator, name, "sagemaker:CreateEndpoint", since
            ),
            timeout=60,
        )
        wakes.append(max(0.0, created - requested))
        kube.wait_phase("bench", "InService", timeout=60)
    report("idle alarm ALARM -> DeleteEndpoint (s), default settings", percentiles(parks))
    report("request -> CreateEndpoint (s), default settings", percentiles(wakes))


def test_event_queue_cost_at_rest(operator: Operator, kube: Kubectl) -> None:
    window = 120.0
    operator.start(**DEFAULTS)
    kube.apply(endpoint_object("rest"))
    kube.wait_phase("rest", "InService", timeout=60)
    time.sleep(25)
    before = operator.aws_calls()
    time.sleep(window)
    after = operator.aws_calls()
    queue = {
        k: after.get(k, 0) - before.get(k, 0) for k in after if k.startswith(("sqs:", "events:"))
    }
    report(
        "event queue at rest, per (account, region) per hour",
        {k: round(v * 3600 / window) for k, v in queue.items() if v},
    )


def test_tenancy_costs(
    operator: Operator, kube: Kubectl, sandbox: Any, policies: Callable[..., str]
) -> None:
    count, window = 100, 120.0
    role = "arn:aws:iam::111111111111:role/sagemeter-bench"
    name = policies(
        f"{kube.namespace}-bench",
        [kube.namespace],
        aws={"roleArn": role},
        budget={"usdPerHour": f"{0.115 * count + 1:.2f}"},
    )
    operator.start(**{**DEFAULTS, "SAGEMETER_SYNC_INTERVAL": "30s"})
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                endpoint_object(
                    f"t-{i:03d}",
                    model={
                        "container": {"image": "repo/m:1"},
                        "executionRoleArn": "arn:aws:iam::111111111111:role/sm",
                    },
                )
                for i in range(count)
            ],
        }
    )
    wait_for("all InService", lambda: all_phase(kube, "InService", count), timeout=600)
    time.sleep(10)
    before = operator.aws_calls()
    time.sleep(window)
    after = operator.aws_calls()
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    per_hour = {k: round(v * 3600 / window) for k, v in delta.items() if v}
    report(
        f"policy with a role and {count} objects, sync 30s",
        {
            "calls per hour": per_hour,
            "AssumeRole per hour (credentials last 3600 s, renewed 15 min early)": round(
                3600 / (3600 - 900), 2
            ),
            "ListEndpoints pages per hour at the default 5m sync": round(12 * (count / 100 + 1)),
        },
    )
    # OverBudget wait once room appears: a budget exactly full, one more waits, one parks.
    policies(
        name, [kube.namespace], aws={"roleArn": role}, budget={"usdPerHour": f"{0.115 * count:.2f}"}
    )
    waits: list[float] = []
    for round_ in range(5):
        extra = f"w-{round_}"
        kube.apply(
            endpoint_object(
                extra,
                model={
                    "container": {"image": "repo/m:1"},
                    "executionRoleArn": "arn:aws:iam::111111111111:role/sm",
                },
            )
        )
        assert kube.wait_phase(extra, "Parked", timeout=60)["parkedReason"] == "OverBudget"
        victim = f"t-{round_:03d}"
        kube.patch(victim, {"spec": {"suspend": True}})
        freed = time.time()
        started = wait_for(
            "the waiter to start",
            lambda who=extra, since=freed - 1: first_call_after(
                operator, f"{kube.namespace}/{who}", "sagemaker:CreateEndpoint", since
            ),
            timeout=60,
        )
        waits.append(max(0.0, started - freed))
    report("OverBudget -> CreateEndpoint after room appears (s)", percentiles(waits))
