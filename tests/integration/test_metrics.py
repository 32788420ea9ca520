"""Cost in status and in Prometheus metrics, from the shipped table or a ConfigMap file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Kubectl, Operator, endpoint_object, wait_for

pytestmark = pytest.mark.cluster


def scrape(operator: Operator) -> dict[str, float]:
    return operator.metrics()


def test_cost_in_status_and_metrics(
    operator: Operator, kube: Kubectl, namespace: str, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"ml.g6.xlarge": 2.5}))
    operator.start(SAGEMETER_PRICE_FILE=str(prices))
    kube.apply(endpoint_object("gpu", instanceType="ml.g5.2xlarge", instanceCount=2))
    kube.apply(endpoint_object("custom", instanceType="ml.g6.xlarge"))
    kube.apply(endpoint_object("serverless", instanceType=None, inferenceType="Serverless"))
    assert kube.wait_phase("gpu", "InService")["hourlyCostUSD"] == "3.03"
    assert kube.wait_phase("custom", "InService")["hourlyCostUSD"] == "2.50"
    # Serverless: maxConcurrency (5) x 2 GB at the serverless rate, every slot busy all hour.
    assert kube.wait_phase("serverless", "InService")["hourlyCostUSD"] == "0.72"

    metrics = scrape(operator)
    assert metrics['sagemeter_endpoints{phase="InService",reason=""}'] == 3
    assert metrics["sagemeter_running_cost_usd_per_hour"] == pytest.approx(5.53 + 0.72)
    assert metrics['sagemeter_aws_calls_total{operation="CreateEndpoint",service="sagemaker"}'] == 3
    assert any(key.startswith("sagemeter_reconcile_duration_seconds_count") for key in metrics)

    kube.patch("gpu", {"spec": {"suspend": True}})
    kube.wait_phase("gpu", "Parked")
    # What parking saved grows with every pass that finds the endpoint still parked.
    metrics = wait_for(
        "the savings to count",
        lambda: (m := scrape(operator))["sagemeter_cost_avoided_usd_total"] > 0 and m,
    )
    assert metrics['sagemeter_endpoints{phase="Parked",reason="Suspended"}'] == 1
    assert metrics["sagemeter_running_cost_usd_per_hour"] == pytest.approx(2.5 + 0.72)
    wide = kube.sandbox.kubectl_run("get", "mep", "custom", "-n", namespace, "-o", "wide")
    assert wide.stdout.splitlines()[1].split()[-1] == "2.50"


def test_json_logs_name_object_and_endpoint(
    operator: Operator, kube: Kubectl, namespace: str
) -> None:
    operator.start(SAGEMETER_LOG_FORMAT="json")
    kube.apply(endpoint_object("logged"))
    kube.wait_phase("logged", "InService")
    lines = [json.loads(line) for line in operator.logs().splitlines() if line.startswith("{")]
    actions = [entry for entry in lines if entry.get("object") == f"{namespace}/logged"]
    assert any("creating endpoint" in entry["message"] for entry in actions)
    assert all(entry["endpoint"] for entry in actions)
    # One line per AWS action, each naming the object and the endpoint.
    calls = [entry.get("operation") for entry in actions if entry.get("operation")]
    for operation in (
        "sagemaker:CreateModel",
        "sagemaker:CreateEndpointConfig",
        "sagemaker:CreateEndpoint",
    ):
        assert calls.count(operation) == 1, calls
    assert not [c for c in calls if ":Describe" in c or ":List" in c]


PER_OBJECT = (
    "targets",
    "proofs",
    "alarms_absent",
    "status_writes",
    "fleet_entries",
    "event_objects",
    "park_waits",
    "loops",
    "wake_keys",
)


def kept(operator: Operator) -> dict[str, float]:
    prefix = 'sagemeter_kept_entries{what="'
    return {
        key[len(prefix) : -2]: value
        for key, value in scrape(operator).items()
        if key.startswith(prefix)
    }


def test_what_is_kept_per_object_goes_with_the_objects(
    operator: Operator, kube: Kubectl, namespace: str
) -> None:
    """Objects updated again and again keep one entry each, and none once deleted: what the
    operator keeps follows the objects (`sagemeter_kept_entries`), it does not only grow."""
    operator.start()
    kube.apply(endpoint_object("plain"))
    kube.apply(endpoint_object("idle", idle={"after": "30m", "gracePeriod": "0s"}))
    kube.apply(endpoint_object("parked", suspend=True))
    kube.wait_phase("plain", "InService")
    kube.wait_phase("idle", "InService")
    kube.wait_phase("parked", "Parked")
    for round_ in range(3):  # new generations: a target each, replacing the last
        kube.patch("plain", {"spec": {"tags": {"round": str(round_)}}})
        wait_for(
            "the new generation to be handled",
            lambda: (
                kube.status("plain").get("observedGeneration")
                == (kube.get("plain") or {})["metadata"]["generation"]
            ),
        )
    during = wait_for(
        "every object's entries",
        lambda: (k := kept(operator)).get("loops") == 3 and k.get("wake_keys") == 3 and k,
    )
    assert set(PER_OBJECT) <= set(during)
    assert 2 <= during["targets"] <= 3  # one per object (the parked one may ask for none)
    assert 2 <= during["proofs"] <= 3  # one per endpoint this process made
    assert during["fleet_entries"] == 3
    for name in ("plain", "idle", "parked"):
        kube.delete(name)
    after = wait_for(
        "the entries of the deleted objects to go",
        lambda: all((k := kept(operator)).get(what) == 0 for what in PER_OBJECT) and k,
        timeout=90,
    )
    assert after["fleets"] <= during["fleets"] + 1
