"""`kubectl get mep` tells the truth, with the operator running: REASON shows a problem even on
a serving or pending object, a missing EndpointConfig is reported as such (never an endless
`Creating`), and a resume that a problem blocks is said as that, not as "Parked: not parked"."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Kubectl, Operator, endpoint_object, foreign_config, foreign_endpoint, wait_for

pytestmark = pytest.mark.cluster


def columns(kube: Kubectl) -> dict[str, dict[str, str]]:
    """`kubectl get mep` as a user reads it: name -> {column: value}."""
    lines = kube.sandbox.kubectl_run("get", "mep", "-n", kube.namespace).stdout.splitlines()
    header = lines[0]
    starts = [header.index(title) for title in header.split()]
    table: dict[str, dict[str, str]] = {}
    for line in lines[1:]:
        cells = [
            line[start:end].strip()
            for start, end in zip(starts, [*starts[1:], len(line) + 1], strict=True)
        ]
        table[cells[0]] = dict(zip(header.split(), cells, strict=True))
    return table


def degraded(kube: Kubectl, name: str) -> dict[str, Any]:
    return kube.condition(name, "Degraded")


def test_reason_column_phase_and_conditions_tell_the_truth(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    operator.start()
    path = f"{namespace}/shared"
    kube.apply(endpoint_object("owner", api={"path": path}))
    kube.wait_phase("owner", "InService")
    # Serving, but its route is someone else's path.
    kube.apply(endpoint_object("serving", api={"path": path}))
    # Pending: the endpoint was made elsewhere and may not be adopted.
    notebook = f"{namespace}-notebook"
    foreign_endpoint(sagemaker, notebook)
    kube.apply(
        {
            "apiVersion": "sagemeter.io/v1alpha1",
            "kind": "ManagedEndpoint",
            "metadata": {"name": "adopter"},
            "spec": {"adopt": True, "endpointName": notebook},
        }
    )
    # An EndpointConfig that does not exist.
    kube.apply(
        endpoint_object(
            "noconfig", model={"endpointConfigName": f"{namespace}-missing"}, instanceType=None
        )
    )
    # Parked (expired) on an existing config, which then goes away.
    config = foreign_config(sagemaker, f"{namespace}-kept")
    kube.apply(
        endpoint_object(
            "blocked", model={"endpointConfigName": config}, instanceType=None, expiry={"ttl": "0s"}
        )
    )

    kube.wait_phase("serving", "InService")
    wait_for("RouteConflict", lambda: degraded(kube, "serving").get("reason") == "RouteConflict")
    wait_for(
        "AdoptionNotAllowed",
        lambda: degraded(kube, "adopter").get("reason") == "AdoptionNotAllowed",
    )
    wait_for(
        "EndpointConfigNotFound",
        lambda: degraded(kube, "noconfig").get("reason") == "EndpointConfigNotFound",
    )
    kube.wait_phase("blocked", "Parked")
    table = columns(kube)
    assert (table["serving"]["PHASE"], table["serving"]["REASON"]) == ("InService", "RouteConflict")
    assert (table["adopter"]["PHASE"], table["adopter"]["REASON"]) == (
        "Pending",
        "AdoptionNotAllowed",
    )
    assert (table["noconfig"]["PHASE"], table["noconfig"]["REASON"]) == (
        "Pending",
        "EndpointConfigNotFound",
    )
    assert (table["blocked"]["PHASE"], table["blocked"]["REASON"]) == ("Parked", "Expired")
    assert table["owner"]["REASON"] == ""
    assert "does not exist" in degraded(kube, "noconfig")["message"]
    assert kube.condition("noconfig", "Ready")["reason"] == "EndpointConfigNotFound"

    # The kept config is deleted; extending the expired endpoint cannot resume it.
    sagemaker.delete_endpoint_config(EndpointConfigName=config)
    kube.patch("blocked", {"spec": {"expiry": {"ttl": "8h"}}})
    wait_for(
        "the blocked resume",
        lambda: kube.condition("blocked", "Parked").get("reason") == "ResumeBlocked",
    )
    status = kube.status("blocked")
    parked = kube.condition("blocked", "Parked")
    assert (status["phase"], status["reason"]) == ("Parked", "EndpointConfigNotFound")
    assert parked["status"] == "True"
    assert "cannot resume: EndpointConfigNotFound" in parked["message"]
    found = kube.wait_event("blocked", "EndpointConfigNotFound")
    events = [(e["type"], e["reason"], e["message"]) for e in found]
    assert not [e for e in events if "not parked" in e[2]], events
    assert ("Warning", "EndpointConfigNotFound") in [(t, r) for t, r, _ in events]
    parks = [m for _, r, m in events if r == "Parked"]
    assert len(parks) == 1 and parks[0].startswith("expired at "), events
    # Never reported as Creating: the phase stayed put.
    assert kube.status("noconfig")["phase"] == "Pending"
