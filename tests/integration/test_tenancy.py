"""Tenancy through the operator: EndpointPolicies map namespaces to an assumed role in another
account, refuse what breaks a guardrail (at `kubectl apply`, or as PolicyViolation with nothing
done in AWS), conflict, are required, and hold a budget that releases oldest first."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from sagemeter_sandbox.control import FaultClient

from .conftest import ROLE, Kubectl, Operator, endpoint_object, wait_for
from .test_lifecycle import describe, endpoint_name

pytestmark = pytest.mark.cluster

TENANT = "111111111111"
TENANT_ROLE = f"arn:aws:iam::{TENANT}:role/sagemeter-team-a"
TENANT_EXECUTION_ROLE = f"arn:aws:iam::{TENANT}:role/sm-team-a"
OTHER_ROLE = "arn:aws:iam::222222222222:role/sagemeter-team-b"
M5 = 0.115  # ml.m5.large, USD per hour in the shipped price table


def aws_as(sandbox: Any, service: str, role: str | None = None) -> Any:
    """A client of the local AWS, as the operator's account or as an assumed role."""
    base = {"region_name": "us-east-1", "endpoint_url": sandbox.aws_endpoint_url}
    if role is None:
        return boto3.client(
            service, aws_access_key_id="testing", aws_secret_access_key="testing", **base
        )
    sts = boto3.client("sts", aws_access_key_id="testing", aws_secret_access_key="testing", **base)
    creds = sts.assume_role(RoleArn=role, RoleSessionName="test")["Credentials"]
    return boto3.client(
        service,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        **base,
    )


def reason(kube: Kubectl, name: str) -> str | None:
    return kube.condition(name, "Degraded").get("reason")


def m5(name: str, **spec: Any) -> dict[str, Any]:
    return endpoint_object(
        name,
        model={"container": {"image": "repo/m:1"}, "executionRoleArn": TENANT_EXECUTION_ROLE},
        **spec,
    )


def test_a_tenants_endpoint_lives_in_the_tenants_account(
    operator: Operator,
    kube: Kubectl,
    sandbox: Any,
    namespace: str,
    policies: Callable[..., str],
) -> None:
    policies(f"{namespace}-a", [namespace], aws={"roleArn": TENANT_ROLE})
    operator.start()
    kube.apply(m5("falcon"))
    status = kube.wait_phase("falcon", "InService")
    assert status["aws"] == {"accountId": TENANT, "roleArn": TENANT_ROLE, "region": "us-east-1"}
    assert f":{TENANT}:endpoint/" in status["endpointArn"]
    name = endpoint_name(namespace, "falcon")
    assert describe(aws_as(sandbox, "sagemaker", TENANT_ROLE), name) is not None
    assert describe(aws_as(sandbox, "sagemaker"), name) is None  # not in the operator's account
    calls = operator.aws_calls()
    assert 1 <= calls.get("sts:AssumeRole", 0) <= 2  # once per (role, namespace), not per call


def test_guardrails_refuse_at_apply_and_report_what_admission_cannot_know(
    operator: Operator,
    kube: Kubectl,
    sandbox: Any,
    namespace: str,
    policies: Callable[..., str],
) -> None:
    policy = policies(
        f"{namespace}-guard",
        [namespace],
        aws={"roleArn": TENANT_ROLE, "regions": ["eu-west-1"]},
        instanceTypes=["ml.m5.*"],
        maxInstanceCount=2,
    )
    operator.start()

    def refused(obj: dict[str, Any]) -> str:
        # A server-side dry run goes through admission and leaves nothing behind.
        obj["metadata"]["namespace"] = namespace
        done = sandbox.kubectl_run(
            "create", "--dry-run=server", "-f", "-", input=json.dumps(obj), check=False
        )
        return done.stderr if done.returncode != 0 else ""

    # The operator keeps the admission binding; the API server then refuses with policy and rule.
    message = wait_for(
        "the binding to refuse",
        lambda: refused(m5("big", instanceType="ml.g5.xlarge", region="eu-west-1")),
    )
    assert policy in message and "instanceTypes" in message
    count = refused(m5("many", instanceCount=3, region="eu-west-1"))
    assert policy in count and "maxInstanceCount" in count
    # An unset region means the operator's (us-east-1): only the operator can know that.
    kube.apply(m5("default-region"))
    wait_for("PolicyViolation", lambda: reason(kube, "default-region") == "PolicyViolation")
    assert "regions" in kube.condition("default-region", "Degraded")["message"]
    calls = operator.aws_calls()
    assert calls.get("sagemaker:CreateEndpoint", 0) == calls.get("sagemaker:CreateModel", 0) == 0


def test_a_tightened_policy_stops_changes_but_not_extend_or_parking(
    operator: Operator, kube: Kubectl, namespace: str, policies: Callable[..., str]
) -> None:
    name = f"{namespace}-tight"
    policies(name, [namespace], aws={"roleArn": TENANT_ROLE})
    operator.start()
    kube.apply(m5("old", instanceType="ml.m5.xlarge"))
    kube.wait_phase("old", "InService")
    policies(name, [namespace], aws={"roleArn": TENANT_ROLE}, instanceTypes=["ml.m5.large"])
    wait_for("PolicyViolation", lambda: reason(kube, "old") == "PolicyViolation", timeout=30)
    before = operator.aws_calls()
    # extend and suspend are never blocked by admission; a park still happens (it saves cost).
    kube.patch("old", {"spec": {"expiry": {"ttl": "5h"}}})
    kube.patch("old", {"spec": {"suspend": True}})
    kube.wait_phase("old", "Parked")
    after = operator.aws_calls()
    assert after.get("sagemaker:UpdateEndpoint", 0) == before.get("sagemaker:UpdateEndpoint", 0)
    # Resuming would start spending again under a broken rule: refused.
    kube.patch("old", {"spec": {"suspend": False}})
    wait_for("the resume to be refused", lambda: kube.status("old").get("observedGeneration") == 4)
    time_calls = operator.aws_calls()
    assert time_calls.get("sagemaker:CreateEndpoint", 0) == after.get("sagemaker:CreateEndpoint", 0)
    assert reason(kube, "old") == "PolicyViolation"


def test_two_policies_naming_different_roles_conflict(
    operator: Operator, kube: Kubectl, namespace: str, policies: Callable[..., str]
) -> None:
    first = policies(f"{namespace}-one", [namespace], aws={"roleArn": TENANT_ROLE})
    second = policies(f"{namespace}-two", [namespace], aws={"roleArn": OTHER_ROLE})
    operator.start()
    kube.apply(m5("torn"))
    wait_for("PolicyConflict", lambda: reason(kube, "torn") == "PolicyConflict")
    message = kube.condition("torn", "Degraded")["message"]
    assert first in message and second in message
    assert operator.aws_calls().get("sagemaker:CreateEndpoint", 0) == 0
    kube.delete("torn")
    wait_for("the object to go", lambda: kube.get("torn") is None)


def test_require_policy_refuses_namespaces_no_policy_selects(
    operator: Operator, kube: Kubectl
) -> None:
    operator.start(SAGEMETER_REQUIRE_POLICY="true")
    kube.apply(endpoint_object("stray"))
    wait_for("NoPolicy", lambda: reason(kube, "stray") == "NoPolicy")
    assert operator.aws_calls().get("sagemaker:CreateEndpoint", 0) == 0


def test_the_budget_holds_then_releases_oldest_first(
    operator: Operator, kube: Kubectl, namespace: str, policies: Callable[..., str]
) -> None:
    name = f"{namespace}-budget"
    policies(
        name,
        [namespace],
        aws={"roleArn": TENANT_ROLE},
        budget={"usdPerHour": f"{2 * M5 + 0.01:.2f}"},
    )
    operator.start()
    for first in ("one", "two"):
        kube.apply(m5(first))
        kube.wait_phase(first, "InService")
    kube.apply(m5("three"))
    time.sleep(0.2)
    kube.apply(m5("four"))
    for waiter in ("three", "four"):
        held = kube.wait_phase(waiter, "Parked")
        assert held["parkedReason"] == "OverBudget"
    message = kube.condition("three", "Parked")["message"]
    assert name in message and "0.23" in message  # names the budget and the spend
    assert "OverBudget" not in [e["reason"] for e in kube.events("one")]
    # Room appears: the oldest waiter starts, within seconds; the younger keeps waiting.
    kube.patch("one", {"spec": {"suspend": True}})
    started = time.monotonic()
    kube.wait_phase("three", ("Creating", "InService"), timeout=30)  # Creating lasts 2 s here
    waited = time.monotonic() - started
    assert kube.status("four").get("parkedReason") == "OverBudget", kube.status("four")
    # A raised budget lets the other one start too.
    policies(name, [namespace], aws={"roleArn": TENANT_ROLE}, budget={"usdPerHour": "1.00"})
    kube.wait_phase("four", "InService", timeout=30)
    print(f"\nOverBudget -> Creating after room appeared: {waited:.2f} s")
    assert waited < 15


def test_lowering_a_park_budget_parks_the_newest_first(
    operator: Operator, kube: Kubectl, namespace: str, policies: Callable[..., str]
) -> None:
    name = f"{namespace}-park"
    policies(name, [namespace], aws={"roleArn": TENANT_ROLE}, budget={"usdPerHour": "1.00"})
    operator.start()
    for each in ("older", "middle", "newest"):
        kube.apply(m5(each))
        kube.wait_phase(each, "InService")
    policies(
        name,
        [namespace],
        aws={"roleArn": TENANT_ROLE},
        budget={"usdPerHour": f"{M5 + 0.01:.2f}", "onDecrease": "Park"},
    )
    for parked in ("newest", "middle"):
        assert kube.wait_phase(parked, "Parked", timeout=30)["parkedReason"] == "OverBudget"
    assert kube.status("older")["phase"] == "InService"


def test_credentials_that_expire_mid_run_are_renewed(
    operator: Operator,
    kube: Kubectl,
    sandbox: Any,
    namespace: str,
    policies: Callable[..., str],
) -> None:
    policies(f"{namespace}-exp", [namespace], aws={"roleArn": TENANT_ROLE})
    operator.start()
    kube.apply(m5("renewed"))
    kube.wait_phase("renewed", "InService")
    assumed = operator.aws_calls().get("sts:AssumeRole", 0)
    assert FaultClient(sandbox.aws_endpoint_url).expire_credentials(TENANT_ROLE) >= 1
    kube.patch("renewed", {"spec": {"suspend": True}})
    kube.wait_phase("renewed", "Parked", timeout=60)
    renewed = operator.aws_calls().get("sts:AssumeRole", 0) - assumed
    assert 1 <= renewed <= 2
    assert reason(kube, "renewed") == "AsExpected"


def test_an_object_never_moves_to_another_account(
    operator: Operator, kube: Kubectl, namespace: str, policies: Callable[..., str]
) -> None:
    name = f"{namespace}-move"
    operator.start()
    kube.apply(
        endpoint_object(
            "settled", model={"container": {"image": "repo/m:1"}, "executionRoleArn": ROLE}
        )
    )
    kube.wait_phase("settled", "InService")
    policies(name, [namespace], aws={"roleArn": TENANT_ROLE})
    wait_for("AccountChanged", lambda: reason(kube, "settled") == "AccountChanged", timeout=30)
    assert operator.aws_calls().get("sts:AssumeRole", 0) == 0
