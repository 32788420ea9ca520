"""Benchmarks (`make bench`) for self-service through the route: figures for the notes.

* `POST <path>/_meter` -> `spec.expiry.expiresAt` patched, over 20 extensions (p50/p95);
* a change of the meter -> visible to `GET <path>/_meter`, over 20 changes (p50/p95), and the
  `PutParameter` calls they cost;
* what self-service adds at rest: the operator's SSM calls over a quiet minute.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from ..integration.conftest import Kubectl, Operator, endpoint_object, wait_for
from ..integration.test_self_service import meter, spec_expiry
from ..integration.test_wake import routed
from .bench_events import DEFAULTS, percentiles
from .bench_meter import report

pytestmark = pytest.mark.cluster


def test_extend_and_meter_latencies(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    operator.start(**DEFAULTS)
    path = f"{namespace}/bench"
    kube.apply(
        endpoint_object(
            "bench",
            expiry={"ttl": "2h"},
            api={"path": path, "authorization": "API_KEY", "selfService": True},
        )
    )
    kube.wait_phase("bench", "InService", timeout=90)
    url, key = routed(kube, sandbox, "bench", path)
    wait_for("the meter", lambda: meter(url, key)[0] == 200)

    extends, fresh = [], []
    puts = operator.aws_calls().get("ssm:PutParameter", 0)
    for _ in range(20):
        before = spec_expiry(kube, "bench")
        sent = time.monotonic()
        assert meter(url, key, {"extend": "1m"})[0] == 202
        after = wait_for(
            "the extension",
            lambda b=before: (e := spec_expiry(kube, "bench")) != b and e,
            timeout=30,
        )
        extends.append(time.monotonic() - sent)
        wait_for("the status", lambda a=after: kube.status("bench").get("expiresAt") == a)
        seen = time.monotonic()
        wait_for("GET", lambda a=after: meter(url, key)[1].get("expiresAt") == a, timeout=5)
        fresh.append(time.monotonic() - seen)
    report("POST _meter -> expiresAt patched (s)", percentiles(extends))
    report("status change -> visible to GET _meter (s)", percentiles(fresh))
    report(
        "PutParameter per extension",
        {"calls": (operator.aws_calls().get("ssm:PutParameter", 0) - puts) / 20},
    )

    calls = {k: v for k, v in operator.aws_calls().items() if k.startswith("ssm:")}
    time.sleep(60)
    quiet = {
        k: v - calls.get(k, 0)
        for k, v in operator.aws_calls().items()
        if k.startswith("ssm:") and v != calls.get(k, 0)
    }
    report("SSM calls over a quiet minute", quiet or {"calls": 0})
