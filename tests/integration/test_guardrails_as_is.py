"""Attacks on the guardrails through what is used as is: an existing EndpointConfig
(`spec.model.endpointConfigName`) and an adopted endpoint's fleet, and a `Retain` that would
escape a budget. Each asserts that nothing is done in AWS for the attacker's object (no
endpoint, no route, no queue, no tag), that the victim's state in AWS and Kubernetes is
unchanged, and that the attacker's object says why (`Degraded` `PolicyViolation`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import IMAGE, Kubectl, Operator, endpoint_object, foreign_endpoint, wait_for
from .test_ownership import Aws, leave_untouched, wait_reason

pytestmark = pytest.mark.cluster

# Every operation that changes something, in any service.
CHANGES = ("Create", "Put", "Update", "Delete", "Add", "Tag", "Untag", "Set", "Remove")


@pytest.fixture
def aws(sandbox: Any) -> Aws:
    return Aws(sandbox)


@pytest.fixture
def attacker(sandbox: Any, other_namespace: str) -> Kubectl:
    return Kubectl(sandbox, other_namespace)


def changes_since(operator: Operator, before: dict[str, int]) -> dict[str, int]:
    """AWS calls that change something, made since `before` (taking events off the operator's
    own queue, `sqs:DeleteMessageBatch`, changes nothing of a tenant's)."""
    now = operator.aws_calls()
    return {
        call: count - before.get(call, 0)
        for call, count in now.items()
        if call.split(":", 1)[1].startswith(CHANGES)
        and not call.startswith("sqs:")
        and count != before.get(call, 0)
    }


def config(sagemaker: Any, name: str, instance_type: str, count: int) -> str:
    """A Model and EndpointConfig made outside sagemeter (a pipeline)."""
    sagemaker.create_model(
        ModelName=f"{name}-model",
        PrimaryContainer={"Image": IMAGE},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/pipeline",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{name}-model",
                "InstanceType": instance_type,
                "InitialInstanceCount": count,
            }
        ],
    )
    return name


def as_is(name: str, config_name: str, **spec: Any) -> dict[str, Any]:
    return endpoint_object(
        name, model={"endpointConfigName": config_name}, instanceType=None, **spec
    )


def test_a_config_bigger_than_the_policy_allows_is_not_used(
    operator: Operator,
    kube: Kubectl,
    aws: Aws,
    sagemaker: Any,
    sandbox: Any,
    namespace: str,
    policies: Callable[..., str],
) -> None:
    """A namespace allowed ml.m5.* x 1 points endpointConfigName at a ml.p4d.24xlarge x 4
    config (allowed by name, so only the guardrails stand in the way): PolicyViolation naming
    both rules, and nothing in AWS: no endpoint, no route, no queue. A config that fits runs,
    counted in the budget at its real price, not at the unknown-price rate."""
    big = config(sagemaker, f"{namespace}-pipe-big", "ml.p4d.24xlarge", 4)
    small = config(sagemaker, f"{namespace}-pipe-small", "ml.m5.large", 1)
    policy = policies(
        f"{namespace}-m5",
        [namespace],
        instanceTypes=["ml.m5.*"],
        maxInstanceCount=1,
        endpointConfigs={"names": [f"{namespace}-pipe-*"]},
        budget={"usdPerHour": "4.00", "unknownPriceUSDPerHour": "3.00"},
    )
    operator.start()
    calls = operator.aws_calls()
    path = f"{namespace}/big"
    kube.apply(as_is("big", big, api={"path": path}))
    wait_reason(kube, "big", "PolicyViolation")
    message = kube.condition("big", "Degraded")["message"]
    assert f"EndpointConfig {big}" in message
    assert "(instanceTypes)" in message and "(maxInstanceCount)" in message
    kube.wait_event("big", "PolicyViolation")
    operator.wait_passes(2)
    assert changes_since(operator, calls) == {}
    endpoint = kube.status("big").get("endpointName")
    assert endpoint and aws.state(endpoint, path)["endpoint"] is None
    assert aws.route(path) is None
    assert kube.status("big").get("phase") in (None, "Pending")
    # The config that fits: it runs, and the book counts it at its price (0.115 USD/h).
    kube.patch("big", {"spec": {"model": {"endpointConfigName": small}}})
    kube.wait_phase("big", "InService")
    wait_for(
        "the budget to count the real price",
        lambda: (sandbox_policy(sandbox, policy).get("status") or {}).get("usdPerHour") == "0.12",
    )
    assert sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == small


def sandbox_policy(sandbox: Any, name: str) -> dict[str, Any]:
    done = sandbox.kubectl_run("get", "mepol", name, "-o", "json", check=False)
    return dict(json.loads(done.stdout)) if done.returncode == 0 else {}


@pytest.mark.parametrize("governed", [True, False], ids=["governed", "no-policy"])
def test_another_teams_config_is_not_used(
    operator: Operator,
    kube: Kubectl,
    attacker: Kubectl,
    aws: Aws,
    namespace: str,
    other_namespace: str,
    policies: Callable[..., str],
    governed: bool,
) -> None:
    """Config names are guessable (`<endpoint>-c-<hash>`). The attacker points
    endpointConfigName at the victim's config, with the victim's model and execution role:
    refused, whether a policy governs the attacker's namespace or none does. The victim's
    endpoint, models, configs, tags and alarm are unchanged, and so is its object."""
    if governed:
        policies(f"{other_namespace}-p", [other_namespace], instanceTypes=["ml.m5.*"])
    operator.namespaces.append(other_namespace)
    operator.start()
    shared = f"{namespace}-victim"
    kube.apply(endpoint_object("victim", endpointName=shared))
    victim_status = kube.wait_phase("victim", "InService")
    victim_uid = kube.get("victim")["metadata"]["uid"]  # type: ignore[index]
    stolen = victim_status["endpointConfigName"]
    assert stolen.startswith(f"{shared}-c-")
    before, calls = aws.state(shared, owner=victim_uid), operator.aws_calls()
    assert before["configs"] and before["models"]
    attacker.apply(as_is("thief", stolen, api={"path": f"{other_namespace}/thief"}))
    wait_reason(attacker, "thief", "PolicyViolation")
    message = attacker.condition("thief", "Degraded")["message"]
    assert f"belongs to namespace {namespace}" in message and "endpointConfigs.names" in message
    operator.wait_passes(2)
    assert changes_since(operator, calls) == {}
    thief_endpoint = attacker.status("thief").get("endpointName")
    assert thief_endpoint and aws.state(thief_endpoint)["endpoint"] is None
    assert aws.route(f"{other_namespace}/thief") is None
    leave_untouched(
        attacker,
        "thief",
        lambda: aws.state(shared, owner=victim_uid),
        before,
        operator,
        calls,
    )
    after = kube.status("victim")
    assert after["phase"] == "InService"
    assert after["endpointConfigName"] == stolen
    assert after["observedGeneration"] == victim_status["observedGeneration"]


def test_an_adopted_endpoint_whose_fleet_breaks_the_guardrails_is_not_adopted(
    operator: Operator,
    attacker: Kubectl,
    aws: Aws,
    sagemaker: Any,
    namespace: str,
    other_namespace: str,
    policies: Callable[..., str],
) -> None:
    """The policy grants adoption of `<ns>-nb*` and allows ml.m5.* x 1. A notebook endpoint of
    that name runs ml.g5.12xlarge x 2: adopting it would put a fleet the policy forbids under
    the tenant's management (resumed after every park). It is not adopted: no tag, no alarm,
    nothing in AWS changes, and deleting the object leaves it as it was."""
    notebook = f"{namespace}-nb1"
    big = config(sagemaker, f"{notebook}-config", "ml.g5.12xlarge", 2)
    sagemaker.create_endpoint(EndpointName=notebook, EndpointConfigName=big)
    wait_for(
        "the notebook InService",
        lambda: aws.state(notebook)["endpoint"]["EndpointStatus"] == "InService",
    )
    policies(
        f"{other_namespace}-p",
        [other_namespace],
        instanceTypes=["ml.m5.*"],
        maxInstanceCount=1,
        adoption={"endpointNames": [f"{namespace}-nb*"]},
    )
    operator.namespaces.append(other_namespace)
    operator.start()
    before, calls = aws.state(notebook), operator.aws_calls()
    attacker.apply(
        {
            "apiVersion": "sagemeter.io/v1alpha1",
            "kind": "ManagedEndpoint",
            "metadata": {"name": "grab"},
            "spec": {"adopt": True, "endpointName": notebook, "idle": {"after": "1m"}},
        }
    )
    wait_reason(attacker, "grab", "PolicyViolation")
    message = attacker.condition("grab", "Degraded")["message"]
    assert "the adopted endpoint's EndpointConfig" in message and "ml.g5.12xlarge" in message
    assert "is not adopted" in message
    operator.wait_passes(2)
    assert aws.state(notebook) == before
    assert changes_since(operator, calls) == {}
    leave_untouched(attacker, "grab", lambda: aws.state(notebook), before, operator, calls)


def test_a_forged_status_does_not_resume_an_adopted_endpoint_from_another_teams_config(
    operator: Operator,
    kube: Kubectl,
    attacker: Kubectl,
    aws: Aws,
    sagemaker: Any,
    sandbox: Any,
    namespace: str,
    other_namespace: str,
    policies: Callable[..., str],
) -> None:
    """A parked adopted endpoint is re-created from the config its status names, and a tenant
    can write its status. The attacker adopts a notebook endpoint it is granted, parks it,
    writes the victim's `<endpoint>-c-<hash>` config into status and resumes (across an
    operator restart, so no status this process wrote stands in for the forged one): refused,
    no endpoint is created from the victim's config, and the victim is unchanged."""
    shared = f"{namespace}-victim"
    notebook = f"{namespace}-nb2"
    foreign_endpoint(sagemaker, notebook)
    policies(
        f"{other_namespace}-p",
        [other_namespace],
        instanceTypes=["ml.m5.*"],
        adoption={"endpointNames": [f"{namespace}-nb*"]},
    )
    operator.namespaces.append(other_namespace)
    operator.start()
    kube.apply(endpoint_object("victim", endpointName=shared))
    stolen = kube.wait_phase("victim", "InService")["endpointConfigName"]
    victim_uid = kube.get("victim")["metadata"]["uid"]  # type: ignore[index]
    grab = {
        "apiVersion": "sagemeter.io/v1alpha1",
        "kind": "ManagedEndpoint",
        "metadata": {"name": "grab"},
        "spec": {"adopt": True, "endpointName": notebook},
    }
    attacker.apply(grab)
    attacker.wait_phase("grab", "InService")
    attacker.patch("grab", {"spec": {"suspend": True}})
    attacker.wait_phase("grab", "Parked")
    wait_for("the notebook endpoint to go", lambda: aws.state(notebook)["endpoint"] is None)
    operator.stop()
    before = aws.state(shared, owner=victim_uid)
    sandbox.kubectl_run(
        "patch",
        "mep",
        "grab",
        "-n",
        other_namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"endpointConfigName": stolen}}),
    )
    attacker.patch("grab", {"spec": {"suspend": False}})
    operator.start()
    wait_reason(attacker, "grab", "PolicyViolation")
    assert f"belongs to namespace {namespace}" in attacker.condition("grab", "Degraded")["message"]
    operator.wait_passes(2)
    assert aws.state(notebook)["endpoint"] is None
    assert operator.aws_calls().get("sagemaker:CreateEndpoint", 0) == 0
    assert aws.state(shared, owner=victim_uid) == before
    assert kube.status("victim")["phase"] == "InService"


def test_retain_is_refused_at_apply_where_a_budget_applies(
    operator: Operator,
    kube: Kubectl,
    sandbox: Any,
    namespace: str,
    policies: Callable[..., str],
) -> None:
    """A retained endpoint would run on outside the budget. Where a policy sets a budget (or a
    maxLifetime) and no deletionPolicies, only Delete is allowed: a create with Retain, and a
    patch from Delete to Retain, are refused at apply, naming the field."""
    policy = policies(f"{namespace}-budget", [namespace], budget={"usdPerHour": "1.00"})
    operator.start()

    def refused(obj: dict[str, Any]) -> str:
        obj["metadata"]["namespace"] = namespace
        done = sandbox.kubectl_run(
            "create", "--dry-run=server", "-f", "-", input=json.dumps(obj), check=False
        )
        return done.stderr if done.returncode != 0 else ""

    message = wait_for(
        "the binding to refuse Retain",
        lambda: refused(endpoint_object("kept", deletionPolicy="Retain")),
    )
    assert f"EndpointPolicy {policy} (deletionPolicies)" in message
    assert "spec.deletionPolicy Retain is not one of Delete" in message
    kube.apply(endpoint_object("kept"))
    patched = sandbox.kubectl_run(
        "patch",
        "mep",
        "kept",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"deletionPolicy": "Retain"}}),
        check=False,
    )
    assert patched.returncode != 0 and "(deletionPolicies)" in patched.stderr
    assert kube.get("kept")["spec"]["deletionPolicy"] == "Delete"  # type: ignore[index]
