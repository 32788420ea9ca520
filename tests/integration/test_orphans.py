"""Orphans and Retain (SPEC §5 "Orphans and Retain"): a tenant who removes its object's finalizer
by hand and deletes the object must not escape its budget; a `Retain` release hands the
endpoint back for good; another cluster's orphans are never touched. Each attack asserts the
victims' state in AWS.

The operator runs with a short `SAGEMETER_ORPHAN_GRACE`, and its cluster id is the sandbox's
(the kube-system namespace's uid).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from sagemeter_sandbox.control import FaultClient

from .conftest import Kubectl, Operator, foreign_config, wait_for
from .test_lifecycle import describe, endpoint_name, tags_of
from .test_ownership import wait_reason
from .test_tenancy import TENANT_ROLE, aws_as, m5

pytestmark = pytest.mark.cluster

# ml.m5.large costs 0.115 USD/h: one fits in 0.20, two do not.
BUDGET = {"usdPerHour": "0.20"}


def events(kube: Kubectl, name: str) -> list[str]:
    return [e["reason"] for e in kube.events(name)]


def cluster_id(sandbox: Any) -> str:
    done = sandbox.kubectl_run("get", "namespace", "kube-system", "-o", "json")
    return str(json.loads(done.stdout)["metadata"]["uid"])


def delete_behind_the_operators_back(sandbox: Any, kube: Kubectl, name: str) -> None:
    """The attack: the finalizer removed by hand, then the object deleted (no deletion pass)."""
    sandbox.kubectl_run(
        "patch",
        "mep",
        name,
        "-n",
        kube.namespace,
        "--type=json",
        "-p",
        json.dumps([{"op": "remove", "path": "/metadata/finalizers"}]),
    )
    kube.delete(name, wait=True)
    assert kube.get(name) is None


def test_an_object_deleted_without_its_finalizer_leaves_an_orphan_that_counts_and_is_parked(
    operator: Operator,
    kube: Kubectl,
    sandbox: Any,
    sagemaker: Any,
    namespace: str,
    policies: Callable[..., str],
) -> None:
    """Finalizer removed by hand and the object deleted: the endpoint ran on uncounted and the
    next endpoint started inside the same budget. Now the orphan counts (the next one waits
    OverBudget) until it is parked after the grace; another cluster's orphan next to it, tagged
    for the same namespace, is never touched, nor is an endpoint in another account (the
    operator's) tagged for this namespace and cluster by someone who may create endpoints
    there: the namespace's endpoints live in its policy's account."""
    policy = policies(
        f"{namespace}-orphans", [namespace], aws={"roleArn": TENANT_ROLE}, budget=BUDGET
    )
    tenant = aws_as(sandbox, "sagemaker", TENANT_ROLE)
    # Another cluster's orphan, in the same account and namespace.
    foreign = f"{namespace}-other-cluster"
    tenant.create_endpoint(
        EndpointName=foreign,
        EndpointConfigName=foreign_config(tenant, foreign),
        Tags=[
            {"Key": k, "Value": v}
            for k, v in {
                "sagemeter.io/managed-by": "sagemeter",
                "sagemeter.io/cluster": "another-cluster",
                "sagemeter.io/namespace": namespace,
                "sagemeter.io/name": "elsewhere",
                "sagemeter.io/uid": "0b7c2a52-gone",
            }.items()
        ],
    )
    wait_for(
        "the other cluster's endpoint",
        lambda: (describe(tenant, foreign) or {}).get("EndpointStatus") == "InService",
    )
    foreign_before = describe(tenant, foreign)
    assert foreign_before is not None
    foreign_tags = tags_of(tenant, foreign_before["EndpointArn"])

    # Tags are anyone's to write: a forged orphan of this namespace, in the operator's account.
    forged = f"{namespace}-forged"
    sagemaker.create_endpoint(
        EndpointName=forged,
        EndpointConfigName=foreign_config(sagemaker, forged),
        Tags=[
            {"Key": k, "Value": v}
            for k, v in {
                "sagemeter.io/managed-by": "sagemeter",
                "sagemeter.io/cluster": cluster_id(sandbox),
                "sagemeter.io/namespace": namespace,
                "sagemeter.io/name": "forged",
                "sagemeter.io/uid": "5d1e7c4a-forged",
            }.items()
        ],
    )

    operator.start(SAGEMETER_ORPHAN_GRACE="20s")
    kube.apply(m5("victim"))
    kube.wait_phase("victim", "InService")
    uid = kube.get("victim")["metadata"]["uid"]  # type: ignore[index]
    orphan = endpoint_name(namespace, "victim")
    running = describe(tenant, orphan)
    assert running is not None
    tags = tags_of(tenant, running["EndpointArn"])
    assert tags["sagemeter.io/cluster"] == cluster_id(sandbox) and tags["sagemeter.io/uid"] == uid
    # A restart in between changes nothing: the orphan is counted before anything starts.
    operator.stop()
    delete_behind_the_operators_back(sandbox, kube, "victim")
    since = time.time()
    operator.start(SAGEMETER_ORPHAN_GRACE="20s")

    kube.apply(m5("next"))
    wait_for(
        "next to wait for the budget the orphan fills",
        lambda: policy in kube.condition("next", "Parked").get("message", ""),
    )
    assert kube.status("next")["parkedReason"] == "OverBudget"
    wait_for("the Orphaned event", lambda: "Orphaned" in events(kube, "victim"))
    gauge = f'sagemeter_orphan_endpoints{{namespace="{namespace}"}}'
    assert operator.metrics().get(gauge) == 1.0
    # Before the grace the orphan runs on as it was.
    assert describe(tenant, orphan)["EndpointStatus"] == "InService"  # type: ignore[index]

    # After the grace: parked (the endpoint deleted, its config and model kept), and the room
    # it freed goes to the waiting endpoint.
    wait_for("the orphan to be parked", lambda: "OrphanParked" in events(kube, "victim"), 60)
    wait_for("the orphan's endpoint to go", lambda: describe(tenant, orphan) is None, 30)
    kept = running["EndpointConfigName"]
    config = tenant.describe_endpoint_config(EndpointConfigName=kept)
    tenant.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    kube.wait_phase("next", "InService")
    parked = f'sagemeter_orphans_parked_total{{namespace="{namespace}"}}'
    assert operator.metrics().get(parked) == 1.0
    assert operator.metrics().get(gauge) == 0.0

    # Whose sessions: the sweep read as the policy's, the park was the namespace's own.
    faults = FaultClient(sandbox.aws_endpoint_url)
    deletes = faults.requests("sagemaker:DeleteEndpoint", since=since, contains=orphan)
    assert {d["session"] for d in deletes} == {f"sm-{namespace}"}
    reads = faults.requests("sagemaker:ListTags", since=since, contains=orphan)
    assert f"sm-policy-{policy}" in {r["session"] for r in reads}

    # Another cluster's orphan: not counted, not parked, not even its tags written.
    foreign_now = describe(tenant, foreign)
    assert foreign_now is not None and foreign_now["EndpointStatus"] == "InService"
    assert foreign_now["LastModifiedTime"] == foreign_before["LastModifiedTime"]
    assert tags_of(tenant, foreign_before["EndpointArn"]) == foreign_tags
    writes = [
        r
        for r in faults.requests(since=since, contains=foreign)
        if r["call"].split(":")[1].startswith(("Delete", "Update", "Add", "Create"))
    ]
    assert writes == []
    # The forged one: it counted nothing (next runs) and is not parked.
    assert (describe(sagemaker, forged) or {}).get("EndpointStatus") == "InService"
    assert faults.requests("sagemaker:DeleteEndpoint", since=since, contains=forged) == []


def test_a_retain_release_hands_the_endpoint_back_for_good(
    operator: Operator,
    kube: Kubectl,
    sandbox: Any,
    namespace: str,
    policies: Callable[..., str],
) -> None:
    """Retain: the endpoint is tagged released and is no longer sagemeter's: not counted, not
    parked as an orphan, and not taken by a new object without the adoption rule."""
    name = f"{namespace}-retain"
    policies(name, [namespace], aws={"roleArn": TENANT_ROLE})
    operator.start(SAGEMETER_ORPHAN_GRACE="1s")
    kube.apply(m5("kept", deletionPolicy="Retain"))
    kube.wait_phase("kept", "InService")
    tenant = aws_as(sandbox, "sagemaker", TENANT_ROLE)
    endpoint = endpoint_name(namespace, "kept")
    kube.delete("kept", wait=True)
    assert "Released" in events(kube, "kept")
    before = describe(tenant, endpoint)
    assert before is not None and before["EndpointStatus"] == "InService"
    tags = tags_of(tenant, before["EndpointArn"])
    assert tags["sagemeter.io/released"] == "true"

    # A budget that holds one ml.m5.large: the released endpoint is not counted in it.
    policies(name, [namespace], aws={"roleArn": TENANT_ROLE}, budget=BUDGET)
    kube.apply(m5("next"))
    kube.wait_phase("next", "InService")
    # Nor adopted by a new object without the adoption rule: nothing in AWS changes.
    kube.apply(
        {
            "apiVersion": "sagemeter.io/v1alpha1",
            "kind": "ManagedEndpoint",
            "metadata": {"name": "taker"},
            "spec": {"adopt": True, "endpointName": endpoint},
        }
    )
    wait_reason(kube, "taker", "AdoptionNotAllowed")
    operator.wait_passes(4)  # and well past the 1s grace: no orphan park either
    after = describe(tenant, endpoint)
    assert after is not None and after["EndpointStatus"] == "InService"
    assert after["LastModifiedTime"] == before["LastModifiedTime"]
    assert tags_of(tenant, before["EndpointArn"]) == tags
    assert "OrphanParked" not in events(kube, "kept")
