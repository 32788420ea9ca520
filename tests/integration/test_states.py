"""Every state SageMaker can show, through the operator: a park asked for while SageMaker is
creating waits until it may delete (and says what that cost), an endpoint out of service is
not Ready, and an update made behind sagemeter's back is noticed from the sweep alone."""

from __future__ import annotations

from typing import Any

import pytest

from sagemeter_sandbox.control import FaultClient

from .conftest import Kubectl, Operator, endpoint_object, foreign_config, wait_for

pytestmark = pytest.mark.cluster


def held(kube: Kubectl, sandbox: Any, name: str, phase: str, status: str) -> str:
    """A new object which, once in `phase` (or already past it: Creating lasts 2 s here),
    SageMaker shows as `status` until the test lets it go (`release`): its endpoint's name."""
    kube.apply(endpoint_object(name))
    kube.wait_phase(name, (phase, "InService"))
    endpoint: str = kube.status(name)["endpointName"]
    FaultClient(sandbox.aws_endpoint_url).set_endpoint_status(endpoint, status)
    return endpoint


def release(sandbox: Any, endpoint: str) -> None:
    FaultClient(sandbox.aws_endpoint_url).set_endpoint_status(endpoint, "InService")


def test_a_park_while_creating_waits_for_sagemaker_and_reports_the_cost(
    operator: Operator, kube: Kubectl, sandbox: Any
) -> None:
    operator.start()
    endpoint = held(kube, sandbox, "slow", "Creating", "Creating")
    kube.patch("slow", {"spec": {"suspend": True}})
    # SageMaker refuses DeleteEndpoint while Creating: sagemeter waits, without trying.
    wait_for("a pass that waits", lambda: kube.status("slow").get("observedGeneration") == 2)
    assert operator.aws_calls().get("sagemaker:DeleteEndpoint", 0) == 0
    assert kube.status("slow")["phase"] == "Creating"
    release(sandbox, endpoint)
    kube.wait_phase("slow", "Parked", timeout=60)
    parking = [e["message"] for e in kube.events("slow") if e["reason"] == "Parking"]
    assert parking and "billed meanwhile" in parking[-1]
    assert operator.aws_calls().get("sagemaker:DeleteEndpoint", 0) == 1  # once, when allowed


def test_out_of_service_is_not_ready_and_recovers(
    operator: Operator, kube: Kubectl, sandbox: Any
) -> None:
    operator.start()
    endpoint = held(kube, sandbox, "flaky", "InService", "OutOfService")
    wait_for(
        "not Ready", lambda: kube.condition("flaky", "Ready").get("status") == "False", timeout=30
    )
    assert kube.condition("flaky", "Degraded").get("reason") == "OutOfService"
    calls = operator.aws_calls()
    assert calls.get("sagemaker:UpdateEndpoint", 0) == calls.get("sagemaker:DeleteEndpoint", 0) == 0
    release(sandbox, endpoint)
    kube.wait_phase("flaky", "InService", timeout=60)
    assert kube.condition("flaky", "Degraded").get("status") == "False"


@pytest.mark.parametrize("status", ["OutOfService", "Failed"])
def test_an_endpoint_that_should_park_is_deleted_out_of_service_or_failed(
    operator: Operator, kube: Kubectl, sandbox: Any, status: str
) -> None:
    """SPEC §2: an OutOfService endpoint is still billed, and SageMaker (API_DeleteEndpoint;
    ACK waits only in its modifyingStatuses) accepts the delete: a park deletes it at once."""
    operator.start()
    held(kube, sandbox, "stuck", "InService", status)
    wait_for("SageMaker's status", lambda: kube.status("stuck").get("sagemakerStatus") == status)
    kube.patch("stuck", {"spec": {"suspend": True}})
    # Parked: the operator saw the endpoint gone, after one delete.
    assert kube.wait_phase("stuck", "Parked", timeout=60)["parkedReason"] == "Suspended"
    assert operator.aws_calls().get("sagemaker:DeleteEndpoint", 0) == 1


def test_an_update_behind_sagemeters_back_is_undone(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    # Sweeps every 3 s (the fixture); nothing in the spec changes, only the endpoint does.
    operator.start()
    kube.apply(endpoint_object("drift"))
    status = kube.wait_phase("drift", "InService")
    ours = status["endpointConfigName"]
    theirs = foreign_config(sagemaker, f"{namespace}-drift")
    sagemaker.update_endpoint(EndpointName=status["endpointName"], EndpointConfigName=theirs)

    # First the drift lands (SageMaker serves their config), then sagemeter undoes it.
    def drifted() -> bool:
        served = sagemaker.describe_endpoint(EndpointName=status["endpointName"])
        undoing = operator.aws_calls().get("sagemaker:UpdateEndpoint", 0) == 1
        return served["EndpointConfigName"] == theirs or undoing

    wait_for("the drift", drifted)
    wait_for(
        "the drift to be undone",
        lambda: (
            (s := kube.status("drift")).get("endpointConfigName") == ours
            and s.get("phase") == "InService"
            and sagemaker.describe_endpoint(EndpointName=s["endpointName"])["EndpointConfigName"]
            == ours
        ),
        timeout=90,
    )
    assert operator.aws_calls().get("sagemaker:UpdateEndpoint", 0) == 1
