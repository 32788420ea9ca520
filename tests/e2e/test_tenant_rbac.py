"""Tenants' RBAC, against the real apiserver: the shipped ClusterRoles aggregate into view, edit
and admin (kube-controller-manager's aggregation controller does it), so a namespace's view users
read ManagedEndpoints, its edit users extend, park, resume and wake them with the plugin, and
nobody but cluster-admin writes EndpointPolicies. kustomize base and Helm ship the same rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagemeter_sandbox import Sandbox
from tests.integration.conftest import endpoint_object, wait_for

from .conftest import docs, helm_template, kubectl, of_kind

pytestmark = pytest.mark.cluster


def tenant_rules(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregation labels and rules of the tenant roles, by role (view, edit)."""
    found = {}
    for role in of_kind(manifests, "ClusterRole"):
        labels = role["metadata"].get("labels") or {}
        aggregate = sorted(k for k in labels if k.startswith("rbac.authorization.k8s.io/aggregate"))
        if aggregate:
            found[role["metadata"]["name"].rsplit("-", 1)[1]] = (aggregate, role["rules"])
    return found


def kubeconfig_for(sandbox: Sandbox, namespace: str, account: str, where: Path) -> Path:
    """A kubeconfig with a token of ServiceAccount `account`: a person, for the plugin."""
    token = kubectl(sandbox, "create", "token", account, "-n", namespace).strip()
    cluster = yaml.safe_load(sandbox.kubeconfig.read_text())["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [
            {
                "name": account,
                "context": {"cluster": cluster["name"], "user": account, "namespace": namespace},
            }
        ],
        "current-context": account,
    }
    path = where / f"{account}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def plugin(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagemeter.cli.plugin", *args],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_kustomize_and_helm_ship_the_same_tenant_roles(
    base: list[dict[str, Any]], helm: Path
) -> None:
    shipped = tenant_rules(base)
    assert set(shipped) == {"view", "edit"}
    assert tenant_rules(docs(helm_template(helm))) == shipped
    assert "endpointpolicies" not in json.dumps(shipped["edit"])  # no write for tenants
    assert not tenant_rules(docs(helm_template(helm, "tenantRoles.enabled=false")))


def test_view_reads_edit_steers_and_only_cluster_admin_writes_policies(
    sandbox: Sandbox, installed: list[dict[str, Any]], namespace: str, tmp_path: Path
) -> None:
    # In the namespace: view, edit, admin. Cluster-wide view (a platform dashboard) reads
    # policies; cluster-wide admin does not write them: only cluster-admin does.
    people = [
        ("viewer", "view", "rolebinding"),
        ("editor", "edit", "rolebinding"),
        ("owner", "admin", "rolebinding"),
        ("watcher", "view", "clusterrolebinding"),
        ("root", "admin", "clusterrolebinding"),
    ]
    for account, role, binding in people:
        kubectl(sandbox, "create", "serviceaccount", account, "-n", namespace)
        where = ["-n", namespace] if binding == "rolebinding" else []
        kubectl(
            sandbox,
            "create",
            binding,
            f"{namespace}-{account}",
            f"--clusterrole={role}",
            f"--serviceaccount={namespace}:{account}",
            *where,
        )
    try:

        def can(account: str, verb: str, resource: str, scoped: bool = True) -> bool:
            where = ["-n", namespace] if scoped else []
            resource, _, subresource = resource.partition("/")
            if subresource:
                where.append(f"--subresource={subresource}")
            done = sandbox.kubectl_run(
                "auth",
                "can-i",
                verb,
                resource,
                *where,
                f"--as=system:serviceaccount:{namespace}:{account}",
                check=False,
            )
            return done.stdout.strip() == "yes"

        # kube-controller-manager aggregates the rules into view, edit and admin.
        wait_for(
            "aggregation into view and edit",
            lambda: (
                can("viewer", "list", "managedendpoints.sagemeter.io")
                and can("editor", "patch", "managedendpoints.sagemeter.io")
            ),
        )
        mep, policies = "managedendpoints.sagemeter.io", "endpointpolicies.sagemeter.io"
        expected = [
            ("viewer", "get", mep, True, True),
            ("viewer", "watch", mep, True, True),
            ("viewer", "patch", mep, True, False),
            ("viewer", "delete", mep, True, False),
            ("editor", "create", mep, True, True),
            ("editor", "patch", mep, True, True),
            ("editor", "delete", mep, True, True),
            ("editor", "patch", f"{mep}/status", True, False),
            ("owner", "patch", mep, True, True),
            ("owner", "patch", f"{mep}/status", True, False),
            ("watcher", "list", policies, False, True),
            ("watcher", "create", policies, False, False),
            ("root", "list", policies, False, True),
            ("root", "create", policies, False, False),
            ("root", "patch", policies, False, False),
            ("root", "delete", policies, False, False),
            ("editor", "patch", policies, False, False),
        ]
        found = [(a, v, r, s, can(a, v, r, s)) for a, v, r, s, _ in expected]
        assert found == expected

        # The plugin, as the person: view lists, edit steers.
        kubectl(
            sandbox,
            "apply",
            "-n",
            namespace,
            "-f",
            "-",
            input=json.dumps(endpoint_object("falcon", expiry={"ttl": "1h"})),
        )
        viewer = kubeconfig_for(sandbox, namespace, "viewer", tmp_path)
        editor = kubeconfig_for(sandbox, namespace, "editor", tmp_path)
        listed = plugin(viewer, "ls")
        assert listed.returncode == 0 and "falcon" in listed.stdout, listed.stderr
        refused = plugin(viewer, "extend", "falcon", "1h")
        assert refused.returncode == 1 and "(HTTP 403)" in refused.stderr, refused.stderr
        for args in (["extend", "falcon", "1h"], ["park", "falcon"], ["wake", "falcon"]):
            done = plugin(editor, *args)
            assert done.returncode == 0, (args, done.stderr)
    finally:
        for account in ("watcher", "root"):
            sandbox.kubectl_run(
                "delete", "clusterrolebinding", f"{namespace}-{account}", check=False
            )
