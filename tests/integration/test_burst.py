"""A burst of 50 ManagedEndpoints applied at once all reach InService."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest

from .conftest import Kubectl, Operator, endpoint_object, wait_for

pytestmark = pytest.mark.cluster

BURST = 50


def test_burst_of_fifty_reaches_in_service(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    operator.start()
    items = [endpoint_object(f"burst-{index:02d}") for index in range(BURST)]
    started = time.monotonic()
    kube.apply({"apiVersion": "v1", "kind": "List", "items": items})

    def in_service() -> int:
        listing = kube.sandbox.kubectl_run("get", "mep", "-n", kube.namespace, "-o", "json")
        phases = [
            (item.get("status") or {}).get("phase") for item in json.loads(listing.stdout)["items"]
        ]
        return len(phases) if phases.count("InService") == BURST else 0

    wait_for(f"{BURST} endpoints InService", in_service, timeout=300)
    elapsed = time.monotonic() - started
    print(f"\nburst: {BURST} objects InService in {elapsed:.1f}s", file=sys.stderr)

    calls = operator.aws_calls()
    assert calls["sagemaker:CreateEndpoint"] == BURST
    assert calls["sagemaker:CreateModel"] == BURST
    assert calls["sagemaker:CreateEndpointConfig"] == BURST
    endpoints = sagemaker.list_endpoints(NameContains=kube.namespace, MaxResults=100)
    assert len(endpoints["Endpoints"]) == BURST
