"""Benchmarks (`make bench`): numbers for the notes, not pass/fail timings.

* expiry-to-park lag over 20 endpoints (p50/p95), from the operator's JSON log;
* time from `kubectl apply` to `CreateEndpoint`, and for 50 objects to reach InService;
* AWS calls per endpoint-hour at 100 endpoints in steady state, idle checks included.
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sagemeter.core.meter.times import format_time, parse_time

from ..integration.conftest import Kubectl, Operator, endpoint_object, wait_for

pytestmark = pytest.mark.cluster


def log_entries(operator: Operator) -> list[dict[str, Any]]:
    return [json.loads(line) for line in operator.logs().splitlines() if line.startswith("{")]


def all_phase(kube: Kubectl, phase: str, count: int) -> bool:
    listing = kube.sandbox.kubectl_run("get", "mep", "-n", kube.namespace, "-o", "json")
    items = json.loads(listing.stdout)["items"]
    return len(items) == count and all((i.get("status") or {}).get("phase") == phase for i in items)


def report(title: str, values: dict[str, Any]) -> None:
    print(f"\nBENCH {title}: " + ", ".join(f"{k}={v}" for k, v in values.items()), flush=True)


def test_expiry_to_park_lag(operator: Operator, kube: Kubectl) -> None:
    count = 20
    operator.start(SAGEMETER_SYNC_INTERVAL="10m", SAGEMETER_LOG_FORMAT="json")
    start = datetime.now(UTC) + timedelta(seconds=30)
    expiries = {}
    for index in range(count):
        expires = format_time(start + timedelta(seconds=index))
        expiries[f"lag-{index:02d}"] = parse_time(expires)
        kube.apply(endpoint_object(f"lag-{index:02d}", expiry={"expiresAt": expires}))
    wait_for("all parked", lambda: all_phase(kube, "Parked", count), timeout=120)
    lags = []
    for entry in log_entries(operator):
        name = entry.get("object", "").split("/")[-1]
        if name in expiries and entry["message"].startswith(f"{kube.namespace}/{name} Parking"):
            lags.append(entry["ts"] - expiries[name].timestamp())
    assert len(lags) == count
    lags.sort()
    report(
        "expiry-to-park lag (s)",
        {
            "n": count,
            "p50": round(statistics.median(lags), 3),
            "p95": round(lags[int(0.95 * (count - 1))], 3),
            "max": round(lags[-1], 3),
        },
    )


def test_apply_to_create_and_burst(operator: Operator, kube: Kubectl) -> None:
    count = 50
    operator.start(SAGEMETER_LOG_FORMAT="json")
    applied = time.time()
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [endpoint_object(f"burst-{i:02d}") for i in range(count)],
        }
    )
    wait_for("all InService", lambda: all_phase(kube, "InService", count), timeout=300)
    in_service = time.time() - applied
    creates = sorted(
        entry["ts"] - applied
        for entry in log_entries(operator)
        if "creating endpoint" in entry["message"]
    )
    assert len(creates) == count
    report(
        "burst",
        {
            "objects": count,
            "first CreateEndpoint after apply (s)": round(creates[0], 2),
            "median CreateEndpoint after apply (s)": round(statistics.median(creates), 2),
            "all InService (s)": round(in_service, 1),
        },
    )


def test_steady_state_calls_per_endpoint_hour(operator: Operator, kube: Kubectl) -> None:
    count, window = 100, 60.0
    operator.start(SAGEMETER_SYNC_INTERVAL="10s", SAGEMETER_POLL_INTERVAL="2s")
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                endpoint_object(f"idle-{i:03d}", idle={"after": "30m", "gracePeriod": "1s"})
                for i in range(count)
            ],
        }
    )
    wait_for("all InService", lambda: all_phase(kube, "InService", count), timeout=400)
    time.sleep(25)  # alarms armed after the grace period, first batches done
    before = operator.aws_calls()
    time.sleep(window)
    after = operator.aws_calls()
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    delta = {k: v for k, v in delta.items() if v}
    per_hour = 3600 / window
    total = sum(delta.values()) * per_hour / count
    idle = sum(v for k, v in delta.items() if k.startswith("cloudwatch:")) * per_hour / count
    report(
        "steady state at 100 endpoints, sync 10s",
        {
            "calls in window": delta,
            "calls per endpoint-hour": round(total, 2),
            "idle-check calls per endpoint-hour": round(idle, 2),
            "at the default 5m sync interval (scaled)": round(total * 10 / 300, 3),
        },
    )
