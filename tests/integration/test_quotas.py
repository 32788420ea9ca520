"""A deployment SageMaker refuses for the account's instance quota (``ResourceLimitExceeded``,
the usual first failure of a GPU endpoint in a new account): the object shows ``Degraded``
with SageMaker's words, and the refused call is sent again only once the object changes,
never in a loop. Call counts come from the local AWS's request log, not from the operator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from sagemeter.api.models import WAKE_ANNOTATION
from sagemeter_sandbox.control import FaultClient

from .conftest import Kubectl, Operator, endpoint_object, wait_for
from .test_lifecycle import endpoint_name

pytestmark = pytest.mark.cluster

P4D = "ml.p4d.24xlarge"  # no other test runs one: the quota is this test's own


@pytest.fixture
def faults(sandbox: Any) -> Iterator[FaultClient]:
    control = FaultClient(sandbox.aws_endpoint_url)
    yield control
    control.clear_quotas()


def degraded(kube: Kubectl, name: str) -> dict[str, Any] | None:
    conditions = kube.status(name).get("conditions") or []
    found = [c for c in conditions if c["type"] == "Degraded" and c["status"] == "True"]
    return found[0] if found else None


def calls(faults: FaultClient, call: str, endpoint: str) -> int:
    return len([r for r in faults.requests(call) if r["name"] == endpoint])


def test_a_refused_deployment_is_degraded_and_sent_again_only_on_a_change(
    operator: Operator, kube: Kubectl, faults: FaultClient, namespace: str
) -> None:
    faults.set_quotas({P4D: 1})
    operator.start()
    kube.apply(endpoint_object("gpu", instanceType=P4D, instanceCount=2))
    name = endpoint_name(namespace, "gpu")

    condition = wait_for("Degraded ResourceLimitExceeded", lambda: degraded(kube, "gpu"))
    assert condition["reason"] == "ResourceLimitExceeded"
    assert (
        f"CreateEndpoint: The account-level service limit '{P4D} for endpoint usage' is 1"
        " Instances, with current utilization of 0 Instances and a request delta of 2"
        " Instances." in condition["message"]
    )
    status = kube.status("gpu")
    assert status["phase"] == "Pending" and status["reason"] == "ResourceLimitExceeded"
    assert status["refusedDeployment"]["operation"] == "CreateEndpoint"
    operator.wait_passes(3)  # three more looks at the object: none sends it again
    assert calls(faults, "sagemaker:CreateEndpoint", name) == 1
    assert [e["reason"] for e in kube.events("gpu")].count("ResourceLimitExceeded") == 1

    # A change: one instance fits.
    kube.patch("gpu", {"spec": {"instanceCount": 1}})
    kube.wait_phase("gpu", "InService")
    assert calls(faults, "sagemaker:CreateEndpoint", name) == 2
    wait_for("Degraded to clear", lambda: degraded(kube, "gpu") is None)
    assert "refusedDeployment" not in kube.status("gpu")

    # An update is blue/green: two more beside the one serving do not fit.
    kube.patch("gpu", {"spec": {"instanceCount": 2}})
    condition = wait_for("the refused update", lambda: degraded(kube, "gpu"))
    assert "current utilization of 1 Instances and a request delta of 2" in condition["message"]
    operator.wait_passes(3)
    assert calls(faults, "sagemaker:UpdateEndpoint", name) == 1
    assert kube.status("gpu")["phase"] == "InService"  # the running fleet stays

    # The quota is raised; `kubectl sagemeter wake` (the annotation) says "try again now".
    faults.set_quotas({P4D: 3})
    woken = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kube.patch("gpu", {"metadata": {"annotations": {WAKE_ANNOTATION: woken}}})
    wait_for(
        "the update to be sent again",
        lambda: calls(faults, "sagemaker:UpdateEndpoint", name) == 2,
    )
    wait_for(
        "InService on two instances",
        lambda: degraded(kube, "gpu") is None and kube.status("gpu")["phase"] == "InService",
        timeout=60,
    )
    assert calls(faults, "sagemaker:UpdateEndpoint", name) == 2
    assert faults.quotas()["usage"][P4D] == 2
