"""Attacks on tenancy by a tenant with every right in its own namespace (status and finalizers
included): adoption outside the one rule, and what the operator does while it cannot know the
policies. Each asserts that the victim's state in AWS and Kubernetes is unchanged and that the
attacker's object says why it was refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagemeter_sandbox import Sandbox

from .conftest import Kubectl, Operator, foreign_endpoint, fresh_namespace, wait_for
from .test_ownership import Aws, no_mutations, wait_reason
from .test_tenancy import TENANT, TENANT_ROLE, m5

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def aws(sandbox: Any) -> Aws:
    return Aws(sandbox)


@pytest.fixture
def discovery(sandbox: Sandbox) -> Iterator[str]:
    yield from fresh_namespace(sandbox)


@pytest.fixture
def attacker(sandbox: Any, other_namespace: str) -> Kubectl:
    return Kubectl(sandbox, other_namespace)


def test_the_adopt_tag_does_not_open_a_governed_namespace(
    operator: Operator,
    attacker: Kubectl,
    aws: Aws,
    sagemaker: Any,
    namespace: str,
    other_namespace: str,
    policies: Callable[..., str],
    discovery: str,
) -> None:
    """The platform's endpoint carries the adopt tag, meant for the discovery namespace. A
    tenant whose namespace a policy governs (no adoption list) claims it with `adopt: true`:
    the tag counts only in the discovery namespace and where no policy governs."""
    prod = f"{namespace}-tagged"
    foreign_endpoint(sagemaker, prod, tags={"auto-maintain": "true", "team": "platform"})
    wait_for("prod InService", lambda: aws.state(prod)["endpoint"]["EndpointStatus"] == "InService")
    policies(f"{other_namespace}-p", [other_namespace], maxInstanceCount=2)
    operator.namespaces.append(other_namespace)
    # Discovery's own objects go to a namespace this operator does not watch: nothing adopts
    # the endpoint but the attacker's object.
    operator.start(SAGEMETER_ADOPT_TAG="auto-maintain=true", SAGEMETER_ADOPT_NAMESPACE=discovery)
    before, calls = aws.state(prod), operator.aws_calls()
    attacker.apply(
        {
            "apiVersion": "sagemeter.io/v1alpha1",
            "kind": "ManagedEndpoint",
            "metadata": {"name": "grab"},
            "spec": {"adopt": True, "endpointName": prod},
        }
    )
    wait_reason(attacker, "grab", "AdoptionNotAllowed")
    operator.wait_passes(2)
    assert aws.state(prod) == before
    assert no_mutations(operator.aws_calls(), calls) == {}
    attacker.delete("grab", wait=True)
    assert aws.state(prod) == before


# -- the policy watcher at start-up -------------------------------------------------------


def service_account_kubeconfig(sandbox: Sandbox, namespace: str, path: Path) -> str:
    """A ServiceAccount in `namespace` with the operator's ClusterRole minus EndpointPolicies
    (so listing them answers 403), and a kubeconfig with its token. Its name is returned."""
    role = next(
        d
        for d in yaml.safe_load_all((ROOT / "deploy/base/rbac.yaml").read_text())
        if d and d["kind"] == "ClusterRole"
    )
    name = f"sagemeter-{namespace}"
    role["metadata"] = {"name": name}
    role["rules"] = [
        r for r in role["rules"] if not any("endpointpolicies" in x for x in r["resources"])
    ]
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": namespace}],
    }
    sandbox.kubectl_run("create", "serviceaccount", "operator", "-n", namespace)
    sandbox.kubectl_run(
        "apply",
        "-f",
        "-",
        input=json.dumps({"kind": "List", "apiVersion": "v1", "items": [role, binding]}),
    )
    token = sandbox.kubectl_run(
        "create", "token", "operator", "-n", namespace, "--duration=1h"
    ).stdout.strip()
    admin = yaml.safe_load(sandbox.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "operator", "user": {"token": token}}],
                "contexts": [
                    {
                        "name": "operator",
                        "context": {"cluster": cluster["name"], "user": "operator"},
                    }
                ],
                "current-context": "operator",
            }
        )
    )
    return name


@pytest.fixture
def limited(sandbox: Sandbox, namespace: str, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    kubeconfig = tmp_path / "kubeconfig"
    name = service_account_kubeconfig(sandbox, namespace, kubeconfig)
    yield kubeconfig, name
    for kind in ("clusterrolebinding", "clusterrole"):
        sandbox.kubectl_run(
            "delete", kind, name, f"{name}-policies", "--ignore-not-found", check=False
        )


def test_policies_that_cannot_be_listed_hold_everything_back(
    operator: Operator,
    kube: Kubectl,
    sandbox: Sandbox,
    namespace: str,
    policies: Callable[..., str],
    limited: tuple[Path, str],
) -> None:
    """A 403 on EndpointPolicies (RBAC not yet rolled out, or taken away) once meant "no
    policies": the tenant's endpoint would have started in the operator's own account, with no
    guardrail and no budget. Nothing happens in AWS until the policies can be read; then the
    object lives where its policy says."""
    kubeconfig, role = limited
    policies(f"{namespace}-a", [namespace], aws={"roleArn": TENANT_ROLE}, maxInstanceCount=1)
    operator.start(KUBECONFIG=str(kubeconfig))
    kube.apply(m5("early"))
    wait_reason(kube, "early", "TenancyNotSynced")
    assert "403" in kube.condition("early", "Degraded")["message"]
    operator.wait_passes(3)
    calls = operator.aws_calls()
    # Only the operator's own start-up call (sts:GetCallerIdentity); nothing for the object.
    assert not {k: v for k, v in calls.items() if k.startswith(("sagemaker:", "sts:Assume"))}, calls
    assert kube.status("early").get("phase") in (None, "Pending")
    # The permission arrives: the object is created in the tenant's account, as the policy says.
    grant = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": f"{role}-policies"},
        "rules": [
            {
                "apiGroups": ["sagemeter.io"],
                "resources": ["endpointpolicies"],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": ["sagemeter.io"],
                "resources": ["endpointpolicies/status"],
                "verbs": ["patch"],
            },
        ],
    }
    bind = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{role}-policies"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": f"{role}-policies",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": namespace}],
    }
    sandbox.kubectl_run(
        "apply",
        "-f",
        "-",
        input=json.dumps({"kind": "List", "apiVersion": "v1", "items": [grant, bind]}),
    )
    status = kube.wait_phase("early", "InService", timeout=90)
    assert status["aws"]["accountId"] == TENANT
    assert f":{TENANT}:endpoint/" in status["endpointArn"]
    assert kube.condition("early", "Degraded")["reason"] == "AsExpected"
