"""The install, exactly as docs/install.md gives it, on an apiserver of its own that starts
empty: no CRD, no namespace, nothing of sagemeter.

1. Before anything is installed, ``sagemeter run`` ends at once with one line: the CRD is
   missing (crash-only start-up, SPEC §3).
2. kustomize: the overlay ``my-sagemeter/kustomization.yaml`` from the docs (its resource, a
   Git URL, replaced by this checkout's ``deploy/base``, which the docs name beside it) and
   the docs' ``kubectl apply --server-side -k my-sagemeter``, which must succeed in one run.
3. The operator then runs with exactly the installed Deployment's command, args and
   environment (the ConfigMap's values, ``POD_ID`` as the pod's name), as its ServiceAccount
   (a token: the shipped RBAC, not admin), against the sandbox's local AWS (standing in for
   IRSA), and serves an object to InService. Two things differ, both forced by running on
   this machine rather than in a pod: the ports (a pod has its own network; here the probe
   and metrics ports are free ones), and the ``rollout status`` line, which needs nodes.
4. The docs' uninstall (objects first, while the operator runs; then ``kubectl delete -k``,
   the documented alternative to ``helm uninstall``).
5. Helm: the docs' ``helm install`` command, a real install (not a template, not a dry run),
   the operator again from what it installed, an object to InService, and the docs' uninstall
   block as written.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from sagemeter_sandbox import Sandbox
from sagemeter_sandbox.controlplane import ControlPlane, controlplane_binaries, free_port
from tests import contract
from tests.integration.conftest import endpoint_object, wait_for

from .conftest import FORBIDDEN, ROOT, SERVICE_ACCOUNT, SYSTEM_NAMESPACE, token_kubeconfig

pytestmark = pytest.mark.cluster

INSTALL = ROOT / "docs" / "install.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


# ----------------------------------------------------------------------------- the docs


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(INSTALL.read_text()) if lang == language]


def commands(body: str) -> list[str]:
    """A bash block's commands, continuation lines joined, comments dropped."""
    joined = body.replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip()]


def block_with(language: str, text: str) -> str:
    (found,) = [body for body in blocks(language) if text in body]
    return found


def documented_variables() -> dict[str, str]:
    """``ACCOUNT``, ``REGION`` and ``ROLE_ARN`` as the docs set them for the commands after."""
    found: dict[str, str] = {}
    for body in blocks("bash"):
        for line in body.splitlines():
            for name, value in re.findall(r"\b(ACCOUNT|REGION|ROLE_ARN)=(\S+)", line):
                found.setdefault(name, value)
    found["ROLE_ARN"] = found["ROLE_ARN"].replace("$ACCOUNT", found["ACCOUNT"])
    return found


# ----------------------------------------------------------------------------- a fresh cluster


class Fresh:
    """An apiserver of its own (with etcd and kube-controller-manager), empty at first."""

    def __init__(self, plane: ControlPlane, tools: Path) -> None:
        self.plane = plane
        self.env = {
            **os.environ,
            "KUBECONFIG": str(plane.kubeconfig),
            "PATH": f"{plane.state_dir / 'bin'}{os.pathsep}{tools}{os.pathsep}"
            f"{os.environ.get('PATH', '')}",
        }

    def run(self, command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
        """A documented command line, as a user's shell runs it."""
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=cwd,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )

    def kubectl(self, *args: str) -> str:
        done = subprocess.run(
            ["kubectl", *args], env=self.env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stderr}"
        return done.stdout

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))


@pytest.fixture(scope="module")
def fresh(
    tmp_path_factory: pytest.TempPathFactory,
    helm: Path,
) -> Iterator[Fresh]:
    ports: list[int] = []
    while len(ports) < 3:
        port = free_port()
        if port not in ports:
            ports.append(port)
    plane = ControlPlane(
        state_dir=tmp_path_factory.mktemp("fresh-cluster"),
        apiserver_port=ports[0],
        etcd_client_port=ports[1],
        etcd_peer_port=ports[2],
        binaries=controlplane_binaries(),
        die_with_us=True,
        log=lambda message: print(f"fresh cluster: {message}", file=sys.stderr),
    )
    try:
        plane.up(timeout=120)
        yield Fresh(plane, helm.parent)
    finally:
        plane.down()


# ----------------------------------------------------------------------------- the operator


class Installed:
    """The operator as the installed Deployment runs it (module docstring, point 3)."""

    def __init__(self, fresh: Fresh, sandbox: Sandbox, deployment: str, log: Path) -> None:
        self.fresh, self.log = fresh, log
        found = fresh.get("deployment", deployment, "-n", SYSTEM_NAMESPACE)
        (container,) = found["spec"]["template"]["spec"]["containers"]
        account = found["spec"]["template"]["spec"]["serviceAccountName"]
        self.environment = self._environment(container)
        self.metrics_port = free_port()
        self.probe_port = free_port()
        self.environment["SAGEMETER_METRICS_PORT"] = str(self.metrics_port)
        # The image's PATH holds the operator's virtualenv, as this interpreter's bin does.
        command = [installed_command(container["command"][0]), *container["command"][1:]]
        self.argv = [*command, *(self._local(arg) for arg in container.get("args", []))]
        token = fresh.kubectl(
            "create", "token", account, "-n", SYSTEM_NAMESPACE, "--duration=1h"
        ).strip()
        kubeconfig = token_kubeconfig(
            fresh.plane.kubeconfig, token, account, log.with_suffix(".kubeconfig")
        )
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            **self.environment,
            "KUBECONFIG": str(kubeconfig),
            # What IRSA gives the pod in EKS: credentials, here for the local AWS.
            "AWS_ENDPOINT_URL": sandbox.aws_endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            **contract.child_env(log.stem),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def _environment(self, container: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            name = source["configMapRef"]["name"]
            env.update(self.fresh.get("configmap", name, "-n", SYSTEM_NAMESPACE)["data"])
        for item in container.get("env", []):
            field = (item.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
            assert "value" in item or field == "metadata.name", item
            env[item["name"]] = item.get("value", f"sagemeter-{secrets.token_hex(4)}")
        return env

    def _local(self, arg: str) -> str:
        """The probe address on a free port (a pod's own network has 8081 to itself)."""
        if not arg.startswith("--liveness="):
            return arg
        url = urllib.parse.urlsplit(arg.removeprefix("--liveness="))
        return f"--liveness={url._replace(netloc=f'127.0.0.1:{self.probe_port}').geturl()}"

    def start(self) -> Installed:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        wait_for("the operator's readiness", self._ready, timeout=60)
        return self

    def _ready(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log.read_text()
        try:
            url = f"http://127.0.0.1:{self.probe_port}/readyz"
            with urllib.request.urlopen(url, timeout=2) as answer:
                return int(answer.status) == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def forbidden(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if FORBIDDEN.search(line)]


def installed_command(name: str) -> str:
    found = Path(sys.executable).parent / name
    assert found.exists(), f"{name} is not installed next to {sys.executable}"
    return str(found)


def serve_an_object(fresh: Fresh, namespace: str) -> str:
    """A ManagedEndpoint (the operator's default execution role, from the ConfigMap) served to
    InService; its SageMaker endpoint's name."""
    fresh.kubectl("create", "namespace", namespace)
    body = endpoint_object("falcon")
    body["metadata"]["namespace"] = namespace
    done = subprocess.run(
        ["kubectl", "apply", "-f", "-"],
        input=json.dumps(body),
        env=fresh.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    status = wait_for(
        "the object to be InService",
        lambda: (
            (s := fresh.get("mep", "falcon", "-n", namespace).get("status", {})).get("phase")
            == "InService"
            and s
        ),
        timeout=120,
    )
    return str(status["endpointName"])


# ----------------------------------------------------------------------------- the tests


def test_without_the_crd_the_operator_ends_with_one_line(fresh: Fresh, sandbox: Sandbox) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sagemeter.cli.main", "run"],
        env={
            **fresh.env,
            "AWS_ENDPOINT_URL": sandbox.aws_endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "SAGEMETER_REGION": "us-east-1",
            "SAGEMETER_METRICS_PORT": str(free_port()),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("sagemeter: cannot start: the CustomResourceDefinition")
    assert "managedendpoints.sagemeter.io is not installed" in line


def test_kustomize_install_as_documented(fresh: Fresh, sandbox: Sandbox, tmp_path: Path) -> None:
    overlay = block_with("yaml", "# my-sagemeter/kustomization.yaml")
    remote = re.search(r"- (github\.com/\S+)\s+# or deploy/base", overlay)
    assert remote is not None, overlay
    base = os.path.relpath(ROOT / "deploy" / "base", tmp_path / "my-sagemeter")
    (tmp_path / "my-sagemeter").mkdir()
    (tmp_path / "my-sagemeter" / "kustomization.yaml").write_text(
        overlay.replace(remote.group(1), base)
    )
    install = commands(block_with("bash", "kubectl apply --server-side -k my-sagemeter"))
    assert install[0] == "kubectl apply --server-side -k my-sagemeter"
    assert install[1].startswith("kubectl -n sagemeter-system rollout status")  # needs nodes
    done = fresh.run(install[0], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr  # converges in one run

    operator = Installed(fresh, sandbox, "sagemeter", tmp_path / "operator.log").start()
    try:
        assert operator.environment["SAGEMETER_REGION"] == "eu-west-1"  # the overlay's merge
        serve_an_object(fresh, f"kustomize-{secrets.token_hex(3)}")
        uninstall = commands(block_with("bash", "helm uninstall"))
        assert fresh.run(uninstall[0], cwd=tmp_path).returncode == 0  # objects first
    finally:
        operator.stop()
    assert not operator.forbidden(), "\n".join(operator.forbidden())
    alternative = block_with("bash", "helm uninstall").split("# or: ")[1].splitlines()[0]
    assert alternative.strip() == "kubectl delete -k my-sagemeter"
    done = fresh.run(alternative.strip(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    wait_for(
        "sagemeter-system to be gone",
        lambda: (
            SYSTEM_NAMESPACE
            not in fresh.kubectl("get", "namespaces", "-o", "name")
            .replace("namespace/", "")
            .split()
        ),
        timeout=120,
    )


def test_helm_install_as_documented(fresh: Fresh, sandbox: Sandbox, tmp_path: Path) -> None:
    install = commands(
        block_with(
            "bash",
            "helm install sagemeter deploy/helm/sagemeter -n sagemeter-system --create-namespace",
        )
    )
    assert len(install) == 1 and install[0].startswith("helm install sagemeter ")
    assert "--dry-run" not in install[0] and " template " not in install[0]
    done = fresh.run(install[0], cwd=ROOT, **documented_variables())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "STATUS: deployed" in done.stdout, done.stdout
    releases = fresh.run("helm list -n sagemeter-system -o json", cwd=ROOT)
    assert [r["status"] for r in json.loads(releases.stdout)] == ["deployed"]

    operator = Installed(fresh, sandbox, "sagemeter", tmp_path / "operator.log").start()
    try:
        assert operator.environment["SAGEMETER_DRY_RUN"] == "true"  # the docs' --set dryRun
        endpoint = serve_an_object(fresh, f"helm-{secrets.token_hex(3)}")
        uninstall = commands(block_with("bash", "helm uninstall"))
        assert fresh.run(uninstall[0], cwd=ROOT).returncode == 0  # objects first
    finally:
        operator.stop()
    assert not operator.forbidden(), "\n".join(operator.forbidden())
    for line in uninstall[1:]:
        done = fresh.run(line, cwd=ROOT)
        assert done.returncode == 0, f"{line}: {done.stderr}"
    roles = fresh.kubectl("get", "clusterroles", "-o", "name").split()
    assert f"clusterrole.rbac.authorization.k8s.io/{SERVICE_ACCOUNT}" not in roles
    # The docs' --set dryRun=true left the endpoint to its owner, released: that is us.
    boto3.client(
        "sagemaker",
        region_name="us-east-1",
        endpoint_url=sandbox.aws_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).delete_endpoint(EndpointName=endpoint)
