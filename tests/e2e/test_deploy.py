"""The deploy/ manifests, the Helm chart and the image's dependencies, checked for real.

* The kustomize base, its dry-run overlay and the Helm chart render and pass the API
  server's own validation (``kubectl apply --dry-run=server`` against the sandbox).
* The operator runs with the ServiceAccount token of deploy/base's RBAC (not admin)
  through create -> park -> resume -> delete, and never meets a 403: the ClusterRole is
  sufficient, and it holds no wildcard.
* Two replicas with peering: test_peering.py (the shared operator fixtures: conftest.py).
* The runtime dependencies alone (requirements.lock, what the image holds) run the operator.

helm comes from hack/build-tools.sh ($SAGEMETER_TOOLS_DIR, else the script: minutes the
first time), kubectl (with its built-in kustomize) from the sandbox.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from sagemeter.runtime.settings import Settings
from sagemeter_sandbox import Sandbox
from tests.integration.conftest import Kubectl, endpoint_object, foreign_endpoint, wait_for
from tests.unit.test_docs import install_rbac_table

from .conftest import (
    BASE,
    CHART,
    ROOT,
    RUNTIME_ONLY,
    DeployedOperator,
    docs,
    helm_template,
    kubectl,
    locked_versions,
    of_kind,
    runtime_only_env,
)

CRD = ROOT / "crds" / "managedendpoints.sagemeter.io.yaml"
DRY_RUN_OVERLAY = ROOT / "deploy" / "overlays" / "dry-run"


# ----------------------------------------------------------------------------- helpers


def rules_of(manifests: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) triples of every ClusterRole."""
    return {
        (group, resource, verb)
        for role in of_kind(manifests, "ClusterRole")
        for rule in role["rules"]
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def server_dry_run(sandbox: Sandbox, manifests: str) -> str:
    return kubectl(sandbox, "apply", "--dry-run=server", "-f", "-", input=manifests)


# ----------------------------------------------------------------------------- manifests


def test_crd_copies_match_the_generated_crd() -> None:
    """kustomize and Helm cannot reach crds/; `make crds` copies the CRD next to them."""
    generated = CRD.read_text()
    for copy in (BASE / "crd.yaml", CHART / "crds" / CRD.name):
        assert copy.read_text() == generated, f"{copy} is stale: run `make crds`"
    peering = (BASE / "kopf-peering.yaml").read_text()
    assert (CHART / "crds" / "kopf-peering.yaml").read_text() == peering


def test_every_setting_can_be_set_from_the_manifests() -> None:
    """Each SAGEMETER_* setting has a Helm value and a line in deploy/base/config.env."""
    chart = (CHART / "templates" / "configmap.yaml").read_text()
    env_file = (BASE / "config.env").read_text()
    for name in Settings.model_fields:
        variable = f"SAGEMETER_{name.upper()}"
        assert variable in chart, f"{variable}: no Helm value"
        assert variable in env_file, f"{variable}: not in deploy/base/config.env"


def test_helm_lint(helm: Path) -> None:
    for strict in ([], ["--strict"]):
        done = subprocess.run(
            [str(helm), "lint", str(CHART), *strict], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_helm_refuses_replicas_without_peering(helm: Path) -> None:
    done = subprocess.run(
        [str(helm), "template", "x", str(CHART), "--set", "peering.enabled=false"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "needs peering.enabled" in done.stderr


@pytest.mark.cluster
def test_manifests_pass_server_side_validation(
    sandbox: Sandbox, installed: list[dict[str, Any]], helm: Path, namespace: str
) -> None:
    overlay = kubectl(sandbox, "kustomize", str(DRY_RUN_OVERLAY))
    config = of_kind(docs(overlay), "ConfigMap")[0]
    assert config["data"]["SAGEMETER_DRY_RUN"] == "true"
    rendered = {
        "base": kubectl(sandbox, "kustomize", str(BASE)),
        "dry-run overlay": overlay,
        "helm": helm_template(helm, "aws.roleArn=arn:aws:iam::123456789012:role/sagemeter"),
        "helm, namespaced": helm_template(
            helm,
            f"watchNamespaces={{{namespace}}}",
            "adopt.tag=auto-maintain=true",
            f"adopt.namespace={namespace}",
            "dryRun=true",
        ),
    }
    for name, manifests in rendered.items():
        assert "created (server dry run)" in server_dry_run(sandbox, manifests), name


@pytest.mark.cluster
def test_cluster_roles_hold_no_wildcard_and_agree(
    sandbox: Sandbox, base: list[dict[str, Any]], helm: Path
) -> None:
    chart = docs(helm_template(helm))
    namespaced = docs(helm_template(helm, "watchNamespaces={team-a}"))
    for manifests in (base, chart, namespaced):
        assert rules_of(manifests), "no ClusterRole rendered"
        assert not [rule for rule in rules_of(manifests) if "*" in rule]
    # The chart grants what the base grants; namespaced, the same rules plus namespace
    # reads (kopf resolves the namespaces) and kopfpeerings in place of clusterkopfpeerings.
    assert rules_of(chart) == rules_of(base)
    verbs = ("list", "watch", "patch", "create")
    peering = {("kopf.dev", "clusterkopfpeerings", v) for v in verbs}
    namespaced_peering = {("kopf.dev", "kopfpeerings", v) for v in verbs}
    namespaces = {("", "namespaces", v) for v in ("list", "watch")}
    assert rules_of(namespaced) == (rules_of(base) - peering) | namespaced_peering | namespaces


def test_install_md_rbac_table_says_what_helm_binds_per_namespace(helm: Path) -> None:
    """The table's "With watchNamespaces" column against the chart rendered that way."""
    rendered = docs(helm_template(helm, "watchNamespaces={team-a}"))
    roles = {role["metadata"]["name"]: role for role in of_kind(rendered, "ClusterRole")}
    per_namespace = rules_of([roles["sagemeter-namespaced"]])
    cluster = rules_of([roles["sagemeter"]])
    for row in install_rbac_table():
        for verb in row["verbs"].split(","):
            rule = (row["group"], row["resource"], verb.strip())
            place = {"per namespace": per_namespace, "cluster": cluster}.get(row["helm"])
            if place is None:
                assert rule not in per_namespace | cluster, row
            else:
                assert rule in place, row
    # What the prose beside the table adds.
    assert {("kopf.dev", "kopfpeerings", v) for v in ("list", "watch", "patch", "create")} <= (
        per_namespace
    )
    assert {("", "namespaces", v) for v in ("list", "watch")} <= cluster


# ----------------------------------------------------------------------------- the operator


@pytest.mark.cluster
def test_service_account_is_not_admin(sandbox: Sandbox, service_account_kubeconfig: Path) -> None:
    env = {**os.environ, **sandbox.env(), "KUBECONFIG": str(service_account_kubeconfig)}

    def can_i(*args: str) -> str:
        done = subprocess.run(
            [str(sandbox.kubectl), "auth", "can-i", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip()

    assert can_i("patch", "managedendpoints.sagemeter.io", "-A") == "yes"
    assert can_i("patch", "managedendpoints.sagemeter.io/status", "-A") == "yes"
    assert can_i("delete", "managedendpoints.sagemeter.io", "-A") == "no"
    assert can_i("list", "pods", "-A") == "no"
    assert can_i("list", "secrets", "-A") == "no"
    assert can_i("*", "*") == "no"


@pytest.mark.cluster
def test_operator_runs_with_the_deployed_rbac(
    new_operator: Callable[[], DeployedOperator], sandbox: Sandbox, namespace: str
) -> None:
    """Every Kubernetes call the operator makes, as the ServiceAccount: watching and
    patching objects and their status, Events, an API key Secret (created, replaced on a
    spec change, deleted), an object made by tag discovery, and peering."""
    sagemaker = boto3.client(
        "sagemaker",
        region_name="us-east-1",
        endpoint_url=sandbox.aws_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    notebook = f"{namespace}-nb"
    foreign_endpoint(sagemaker, notebook, tags={"sagemeter-e2e": namespace})
    op = new_operator().start(
        SAGEMETER_ADOPT_TAG=f"sagemeter-e2e={namespace}", SAGEMETER_ADOPT_NAMESPACE=namespace
    )
    kube = Kubectl(sandbox, namespace)
    api = {"path": f"{namespace}/falcon", "authorization": "API_KEY"}
    kube.apply(endpoint_object("falcon", expiry={"ttl": "2h"}, api=api))
    kube.wait_phase("falcon", "InService", timeout=90)
    wait_for("the API key Secret", lambda: kube.get("falcon-api-key", kind="secret"))
    probe = subprocess.run(
        ["curl", "-fsS", f"http://127.0.0.1:{op.liveness_port}/healthz"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr

    kube.patch("falcon", {"spec": {"suspend": True}})
    parked = kube.wait_phase("falcon", "Parked", timeout=60)
    assert parked["parkedReason"] == "Suspended"
    kube.patch("falcon", {"spec": {"suspend": False}})
    kube.wait_phase("falcon", "InService", timeout=60)

    adopted = wait_for("tag discovery to create an object", lambda: kube.get(notebook))
    assert adopted["spec"]["adopt"] is True
    kube.wait_phase(notebook, "InService", timeout=60)

    for name in ("falcon", notebook):
        kube.delete(name)
    for name in ("falcon", notebook):
        wait_for(f"{name} to be gone", lambda n=name: kube.get(n) is None, timeout=60)
    wait_for("the Secret to go", lambda: kube.get("falcon-api-key", kind="secret") is None)
    events = {e["reason"] for e in kube.events("falcon")}
    assert {"Creating", "Parking", "Deleted"} <= events, events
    assert not op.forbidden(), "the operator met 403s:\n" + "\n".join(op.forbidden())


# ----------------------------------------------------------------------------- the image


def test_requirements_lock_pins_every_runtime_dependency() -> None:
    """requirements.lock (`pip-compile --generate-hashes pyproject.toml`) is what the image
    installs; it must satisfy pyproject.toml's dependencies, every pin with hashes."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = (ROOT / "requirements.lock").read_text()
    locked = locked_versions()
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in requirements.lock: re-run pip-compile"
        assert requirement.specifier.contains(locked[name]), f"{name}=={locked[name]}: {line}"
    hashed = re.findall(r"^\S+==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}", lock, re.M)
    assert len(hashed) == len(locked), "every pin needs its hashes (--generate-hashes)"


def test_the_locked_runtime_dependencies_run_the_operator() -> None:
    """Every operator module imports with requirements.lock alone (the kubectl plugin, of the
    `cli` extra, aside), and `sagemeter run` starts. The deployed operator of this module's
    other tests runs the same way."""
    done = subprocess.run(
        [sys.executable, str(RUNTIME_ONLY), "run", "--help"],
        env={**os.environ, **runtime_only_env(), "SAGEMETER_RUNTIME_IMPORT_ALL": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "--peering" in done.stdout


def test_the_kubernetes_client_is_for_the_kubectl_plugin_only() -> None:
    """kopf imports the `kubernetes` package whenever it is installed (its models alone are
    ~40 MB): the operator's image must not have it; the plugin gets it from the `cli` extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "kubernetes" not in locked_versions()
    assert not [d for d in project["dependencies"] if Requirement(d).name == "kubernetes"]
    cli = [Requirement(d).name for d in project["optional-dependencies"]["cli"]]
    assert "kubernetes" in cli
    done = subprocess.run(
        [sys.executable, str(RUNTIME_ONLY), "--import", "sagemeter.cli.plugin"],
        env={**os.environ, **runtime_only_env()},
        capture_output=True,
        text=True,
        check=False,
    )
    # Without the extra, the plugin says what to install.
    assert done.returncode != 0
    assert "pip install 'sagemeter[cli]'" in done.stderr


def test_the_operator_wheel_holds_no_sandbox(tmp_path: Path) -> None:
    """The image installs the wheel of the repository's root (see Dockerfile): it must hold the
    product only. The sandbox is the `sagemeter-sandbox` distribution of its own."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = tmp_path.glob("sagemeter-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        files = {n: archive.read(n).decode() for n in archive.namelist()}
    assert any(n.startswith("sagemeter/controller/") for n in files), sorted(files)[:20]
    packages = {n.partition("/")[0] for n in files if ".dist-info/" not in n}
    assert packages == {"sagemeter"}, packages
    sandbox_import = re.compile(r"^\s*(from|import)\s+(sagemeter_sandbox|moto)\b", re.M)
    for name, source in files.items():
        assert not (name.endswith(".py") and sandbox_import.search(source)), name
    (entry_points,) = (text for n, text in files.items() if n.endswith("entry_points.txt"))
    assert "sandbox" not in entry_points
