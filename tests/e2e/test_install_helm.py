"""install.md's Helm path, on a sandbox of its own, run as written.

After `sagemeter sandbox up` (which pre-installs the ValidatingAdmissionPolicy), the Helm
command of "Install with Helm" installs; the operator then runs with exactly the settings that
release holds (its ConfigMap: the sandbox has no nodes to run the pods, so the process runs
here), and "Check it" creates team-a and leaves its example parked with an honest REASON,
never InvokeRoleNotConfigured. Then the move from kustomize to Helm, as written.

A sandbox of its own: the other e2e tests install deploy/base's objects in the shared one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagemeter_sandbox import Sandbox
from tests.integration.conftest import Kubectl, Operator, wait_for

from .conftest import ROOT, kubectl

pytestmark = pytest.mark.cluster

INSTALL = ROOT / "docs" / "install.md"
FENCE = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
# What the doc's variables stand for (section 2 sets them in a real account).
VARIABLES = {
    "ACCOUNT": "123456789012",
    "REGION": "us-east-1",
    "ROLE_ARN": "arn:aws:iam::123456789012:role/sagemeter",
}


def section_blocks(title: str) -> list[str]:
    section = INSTALL.read_text().split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return FENCE.findall(section)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(
        state_dir=tmp_path_factory.mktemp("fresh-sandbox"),
        apiserver_port=None,
        aws_port=None,
        die_with_us=True,
        log=lambda message: print(f"fresh sandbox: {message}", file=sys.stderr),
    )
    try:
        box.up()
        yield box
    finally:
        box.down()


def run(box: Sandbox, helm: Path, script: str, home: Path) -> str:
    env = {
        **os.environ,
        **box.env(),
        **VARIABLES,
        "HOME": str(home),
        "PATH": f"{helm.parent}{os.pathsep}{box.env()['PATH']}",
    }
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_helm_over_the_sandbox_then_check_it(fresh: Sandbox, helm: Path, tmp_path: Path) -> None:
    install = section_blocks("3b. Install with Helm")[0]
    assert install.startswith("helm install sagemeter deploy/helm/sagemeter")
    run(fresh, helm, install, tmp_path)

    # The release's settings, as its pods would get them.
    settings = json.loads(
        kubectl(fresh, "get", "configmap", "sagemeter", "-n", "sagemeter-system", "-o", "json")
    )["data"]
    check = section_blocks("4. Check it")[0]
    # Pods cannot run in the sandbox (no nodes), so there are no logs to read: every other
    # line runs as written.
    lines = [line for line in check.splitlines() if " logs " not in line]
    assert any(line.startswith("kubectl create namespace team-a") for line in lines)
    printed = run(fresh, helm, "\n".join(lines), tmp_path)
    assert "llama-on-demand" in printed

    operator = Operator(fresh, "team-a", tmp_path / "operator.log")
    operator.env = dict(settings)
    operator.start()
    try:
        kube = Kubectl(fresh, "team-a")
        status = wait_for(
            "the example to settle with its route",
            lambda: (s := kube.status("llama-on-demand")).get("invokeUrl") and s,
            timeout=120,
        )
        assert (status["phase"], status["reason"]) == ("Parked", "Expired"), status
        degraded = kube.condition("llama-on-demand", "Degraded")
        assert degraded["status"] == "False", degraded
        table = kubectl(fresh, "get", "mep", "-n", "team-a").splitlines()
        assert table[1].split()[:3] == ["llama-on-demand", "Parked", "Expired"]
        kube.delete("llama-on-demand", wait=True)
    finally:
        operator.stop()
    kubectl(fresh, "delete", "namespace", "team-a", "--wait=false")
    subprocess.run(
        [str(helm), "uninstall", "sagemeter", "-n", "sagemeter-system", "--wait"],
        env={**os.environ, **fresh.env()},
        check=True,
        capture_output=True,
    )


def test_from_kustomize_to_helm_as_written(fresh: Sandbox, helm: Path, tmp_path: Path) -> None:
    kubectl(fresh, "apply", "--server-side", "-k", str(ROOT / "deploy" / "base"))
    move = section_blocks("3b. Install with Helm")[1]
    assert "--take-ownership" in move
    run(fresh, helm, move, tmp_path)
    released = subprocess.run(
        [str(helm), "status", "sagemeter", "-n", "sagemeter-system", "-o", "json"],
        env={**os.environ, **fresh.env()},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(released.stdout)["info"]["status"] == "deployed"
    # Nothing kustomize made is left beside what Helm now owns (namespaces and CRDs stay).
    leftovers = kubectl(
        fresh,
        "get",
        "deployment,configmap,serviceaccount,service,poddisruptionbudget,clusterrole,"
        "clusterrolebinding",
        "-A",
        "-l",
        "app.kubernetes.io/part-of=sagemeter,!helm.sh/chart",
        "-o",
        "name",
    )
    assert leftovers.split() == []
