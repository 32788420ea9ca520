"""Budgets hold through updates: a tenant grows a running endpoint past its budget (SPEC §5
"Budget": an update that would exceed a budget is not sent until it fits; the running fleet
stays; `Updating` counts both fleets). Everything a budget counts comes from what AWS shows,
never from the object's status, which the tenant may write."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import Kubectl, Operator, wait_for
from .test_lifecycle import describe, endpoint_name
from .test_ownership import wait_reason
from .test_tenancy import TENANT_ROLE, aws_as, m5

pytestmark = pytest.mark.cluster

M5, G5 = 0.115, 1.408  # ml.m5.large, ml.g5.xlarge: USD per hour in the shipped price table


def policy_spend(sandbox: Any, name: str) -> dict[str, Any]:
    done = sandbox.kubectl_run("get", "endpointpolicy", name, "-o", "json")
    return dict(json.loads(done.stdout).get("status") or {})


def test_growing_past_the_budget_is_not_sent_until_it_fits(
    operator: Operator,
    kube: Kubectl,
    sandbox: Any,
    namespace: str,
    policies: Callable[..., str],
) -> None:
    """ml.m5.large (0.12 USD/h) in a 2.00 budget, patched to ml.g5.xlarge x 2 (2.82): the
    UpdateEndpoint once went out and the policy showed 5.63 against 2.00."""
    name = policies(
        f"{namespace}-grow",
        [namespace],
        aws={"roleArn": TENANT_ROLE},
        budget={"usdPerHour": "2.00"},
    )
    operator.start()
    kube.apply(m5("grow"))
    before = kube.wait_phase("grow", "InService")
    tenant = aws_as(sandbox, "sagemaker", TENANT_ROLE)
    endpoint = endpoint_name(namespace, "grow")
    running = describe(tenant, endpoint)
    assert running is not None
    kube.patch("grow", {"spec": {"instanceType": "ml.g5.xlarge", "instanceCount": 2}})
    wait_reason(kube, "grow", "OverBudget")
    status = kube.status("grow")
    message = kube.condition("grow", "Degraded")["message"]
    assert name in message and "0.12" in message and "2.82" in message and "2.00" in message
    assert status["phase"] == "InService" and status["observedGeneration"] == 2
    kube.wait_event("grow", "OverBudget")
    operator.wait_passes(3)
    assert operator.aws_calls().get("sagemaker:UpdateEndpoint", 0) == 0
    # The running fleet is exactly what it was, and the policy never counted more.
    now = describe(tenant, endpoint)
    assert now is not None
    assert (
        now["EndpointConfigName"] == running["EndpointConfigName"] == before["endpointConfigName"]
    )
    assert now["LastModifiedTime"] == running["LastModifiedTime"]
    assert now["EndpointStatus"] == "InService"
    spend = wait_for("the policy's status", lambda: policy_spend(sandbox, name).get("usdPerHour"))
    assert float(spend) <= 2.00 and policy_spend(sandbox, name)["waiting"] == 1
    # Room for both fleets (blue/green: 0.12 + 2.82): the update goes out, once.
    policies(name, [namespace], aws={"roleArn": TENANT_ROLE}, budget={"usdPerHour": "3.00"})
    wait_for(
        "the update",
        lambda: (
            (s := kube.status("grow")).get("phase") == "InService"
            and s.get("endpointConfigName") != before["endpointConfigName"]
        ),
        timeout=60,
    )
    assert kube.condition("grow", "Degraded")["reason"] == "AsExpected"
    assert operator.aws_calls().get("sagemaker:UpdateEndpoint", 0) == 1
    wait_for("the new spend", lambda: policy_spend(sandbox, name).get("usdPerHour") == "2.82")


def test_a_forged_status_neither_frees_nor_takes_room(
    operator: Operator,
    kube: Kubectl,
    sandbox: Any,
    namespace: str,
    policies: Callable[..., str],
) -> None:
    """The tenant writes its running object's status (Parked, hourlyCostUSD 0.00) and
    restarts nothing: the book counts what AWS shows, so a second endpoint that does not fit
    still waits; after an operator restart too (the restart's first count never reads
    status)."""
    name = policies(
        f"{namespace}-forge",
        [namespace],
        aws={"roleArn": TENANT_ROLE},
        budget={"usdPerHour": f"{M5 + 0.05:.2f}"},
    )
    operator.start()
    kube.apply(m5("first"))
    kube.wait_phase("first", "InService")
    forged = {"phase": "Parked", "parkedReason": "Suspended", "hourlyCostUSD": "0.00"}
    sandbox.kubectl_run(
        "patch",
        "mep",
        "first",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": forged}),
    )
    kube.apply(m5("second"))
    assert kube.wait_phase("second", "Parked")["parkedReason"] == "OverBudget"
    operator.stop()
    sandbox.kubectl_run(
        "patch",
        "mep",
        "first",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": forged}),
    )
    operator.start()
    operator.wait_passes(4)
    assert kube.status("second")["parkedReason"] == "OverBudget"
    assert operator.aws_calls().get("sagemaker:CreateEndpoint", 0) == 0
    assert kube.wait_phase("first", "InService")
    del name
