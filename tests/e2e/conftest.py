"""e2e fixtures: deploy/base's RBAC installed for real, and the operator run the way its
Deployment runs it (cluster-wide, with peering and liveness, as deploy/base's ServiceAccount).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.utils import canonicalize_name

from sagemeter_sandbox import Sandbox
from tests import contract
from tests.integration.conftest import Operator, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "base"
CHART = ROOT / "deploy" / "helm" / "sagemeter"
SYSTEM_NAMESPACE = "sagemeter-system"
SERVICE_ACCOUNT = "sagemeter"
FORBIDDEN = re.compile(r"forbidden|\b403\b|not enough permissions", re.IGNORECASE)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")  # 03:24:52,403 is no 403
# Runs sagemeter with only requirements.lock importable, as the image holds it.
RUNTIME_ONLY = Path(__file__).with_name("runtime_only.py")


def locked_versions() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.lock").read_text(), re.M)
    return {canonicalize_name(name): version for name, version in pins}


def runtime_only_env() -> dict[str, str]:
    """For RUNTIME_ONLY: the top-level modules of requirements.lock's distributions."""
    locked = locked_versions()
    modules = {
        module
        for module, dists in importlib.metadata.packages_distributions().items()
        if any(canonicalize_name(dist) in locked for dist in dists)
    }
    return {"SAGEMETER_RUNTIME_MODULES": ",".join(sorted(modules))}


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def of_kind(manifests: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] in kinds]


def kubectl(sandbox: Sandbox, *args: str, input: str | None = None) -> str:
    done = sandbox.kubectl_run(*args, input=input, check=False)
    assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="session")
def helm() -> Path:
    configured = os.environ.get("SAGEMETER_TOOLS_DIR")
    if configured:
        directory = Path(configured)
    else:
        # stderr inherited: the first build's progress reaches the log as it happens.
        done = subprocess.run(
            ["bash", str(ROOT / "hack" / "build-tools.sh")],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        directory = Path(done.stdout.strip().splitlines()[-1])
    return directory / "helm"


def helm_template(helm: Path, *values: str, namespace: str = SYSTEM_NAMESPACE) -> str:
    args = [str(helm), "template", "sagemeter", str(CHART), "-n", namespace, "--include-crds"]
    for value in values:
        args += ["--set", value]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def base(sandbox: Sandbox) -> list[dict[str, Any]]:
    return docs(kubectl(sandbox, "kustomize", str(BASE)))


@pytest.fixture(scope="module")
def installed(sandbox: Sandbox, base: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """deploy/base's namespace, kopf peering CRDs and object, ServiceAccount and RBAC, applied
    for real (the Deployment cannot run here: the sandbox has no nodes)."""
    crds = of_kind(base, "CustomResourceDefinition")
    crds = [crd for crd in crds if crd["spec"]["group"] == "kopf.dev"]
    kubectl(sandbox, "apply", "-f", "-", input=yaml.safe_dump_all(crds))
    kubectl(
        sandbox,
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        *(f"crd/{c['metadata']['name']}" for c in crds),
    )
    kinds = (
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterKopfPeering",
        "ConfigMap",
    )
    kubectl(sandbox, "apply", "-f", "-", input=yaml.safe_dump_all(of_kind(base, *kinds)))
    return base


class DeployedOperator(Operator):
    """`sagemeter run` as the Deployment runs it: cluster-wide, with peering and liveness,
    authenticated as deploy/base's ServiceAccount (``kubeconfig``), not as admin, with only
    the image's dependencies importable (no `kubernetes` package for kopf to use)."""

    def __init__(self, sandbox: Sandbox, log_path: Path, kubeconfig: Path) -> None:
        super().__init__(sandbox, namespace="", log_path=log_path)
        self.kubeconfig = kubeconfig
        self.liveness_port = free_port()
        self.log_mark = 0
        self.runs = 0
        self.identity = ""

    def start(self, **env: str) -> DeployedOperator:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.metrics_port = free_port()
        self.log_mark = len(self.logs())  # this run's log starts here
        self.runs += 1
        # kopf's peer identity, as the Deployment sets it (to the pod name).
        self.identity = f"{self.log_path.stem}-run{self.runs}"
        full_env = {
            **os.environ,
            **self.sandbox.env(),
            **self.env,
            **env,
            **runtime_only_env(),
            # Every AWS request it makes is checked against AWS's contract (tests/contract.py).
            **contract.child_env(self.log_path.stem),
            "KUBECONFIG": str(self.kubeconfig),
            "POD_ID": self.identity,
            "SAGEMETER_METRICS_PORT": str(self.metrics_port),
        }
        args = ["--peering=sagemeter", f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(RUNTIME_ONLY), "run", *args],
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for("the operator's metrics endpoint", self._metrics_up, timeout=30)
        return self

    def probe(self, path: str = "/healthz", timeout: float = 5) -> tuple[int, dict[str, Any]]:
        """HTTP status and JSON body of a probe (``/healthz``, ``/readyz``)."""
        url = f"http://127.0.0.1:{self.liveness_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                return int(answer.status), json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return int(error.code), json.loads(error.read())

    def run_logs(self) -> str:
        """The log of the current (or last) run."""
        return self.logs()[self.log_mark :]

    def forbidden(self) -> list[str]:
        """Permission denials. A namespace being deleted refuses new Events with a 403 too
        (other tests' namespaces go while this cluster-wide operator runs): not RBAC."""
        lines = self.logs().splitlines()
        return [
            line
            for line in lines
            if FORBIDDEN.search(TIMESTAMP.sub("", line)) and "NamespaceTerminating" not in line
        ]

    def paused(self) -> bool:
        """kopf peering holds this run: with peering, kopf starts paused and logs only
        when it resumes ("Resuming operations") or pauses again ("Pausing operations")."""
        logs = self.run_logs()
        return logs.rfind("Resuming operations") <= logs.rfind("Pausing operations")


def token_kubeconfig(admin_kubeconfig: Path, token: str, user: str, path: Path) -> Path:
    """A kubeconfig for the admin kubeconfig's server and CA that authenticates with
    ``token`` (a ServiceAccount's), written to ``path``."""
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": cluster["name"], "user": user}}],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def service_account_kubeconfig(
    sandbox: Sandbox, installed: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A kubeconfig for the sandbox's server and CA with a token of the ServiceAccount."""
    token = kubectl(
        sandbox, "create", "token", SERVICE_ACCOUNT, "-n", SYSTEM_NAMESPACE, "--duration=2h"
    ).strip()
    path = tmp_path_factory.mktemp("service-account") / "kubeconfig"
    return token_kubeconfig(sandbox.kubeconfig, token, SERVICE_ACCOUNT, path)


@pytest.fixture
def new_operator(
    sandbox: Sandbox, service_account_kubeconfig: Path, tmp_path: Path
) -> Iterator[Callable[[], DeployedOperator]]:
    """Makes operator processes (not started); stops them all afterwards."""
    made: list[DeployedOperator] = []

    def new() -> DeployedOperator:
        log_path = tmp_path / f"operator-{len(made)}.log"
        made.append(DeployedOperator(sandbox, log_path, service_account_kubeconfig))
        return made[-1]

    yield new
    for op in made:
        op.stop()
        if os.environ.get("SAGEMETER_TEST_SHOW_LOGS"):
            print(op.logs(), file=sys.stderr)
