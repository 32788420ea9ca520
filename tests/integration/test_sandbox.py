"""The sandbox itself: a real apiserver with RBAC, a working controller manager,
a local AWS, and a `down` that stops its own processes and nothing else."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest

from sagemeter_sandbox import Sandbox
from sagemeter_sandbox.controlplane import ManagedProcess

pytestmark = pytest.mark.localaws


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.cluster
def test_apiserver_is_ready(sandbox: Sandbox) -> None:
    assert sandbox.kubectl_run("get", "--raw", "/readyz").stdout.strip() == "ok"


@pytest.mark.cluster
def test_rbac_forbids_a_service_account_without_roles(sandbox: Sandbox, namespace: str) -> None:
    sandbox.kubectl_run("create", "serviceaccount", "nobody", "-n", namespace)
    token = sandbox.kubectl_run("create", "token", "nobody", "-n", namespace).stdout.strip()
    # Plain HTTPS with only the bearer token: kubectl would also send the admin client cert.
    request = urllib.request.Request(
        f"{sandbox.apiserver_url}/api/v1/namespaces/{namespace}/pods",
        headers={"Authorization": f"Bearer {token}"},
    )
    context = ssl.create_default_context(cafile=str(sandbox.state_dir / "pki" / "ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, context=context, timeout=5)
    assert error.value.code == 403
    assert f"system:serviceaccount:{namespace}:nobody" in json.loads(error.value.read())["message"]


@pytest.mark.cluster
def test_controller_manager_creates_the_default_service_account(
    sandbox: Sandbox, namespace: str
) -> None:
    deadline = time.monotonic() + 30
    while (
        sandbox.kubectl_run(
            "get", "serviceaccount", "default", "-n", namespace, check=False
        ).returncode
        != 0
    ):
        assert time.monotonic() < deadline, "no default ServiceAccount: kcm is not working"
        time.sleep(0.2)


@pytest.mark.cluster
def test_local_aws_answers_sagemaker(sandbox: Sandbox) -> None:
    client = boto3.client(
        "sagemaker",
        endpoint_url=sandbox.aws_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert isinstance(client.list_endpoints()["Endpoints"], list)


@pytest.mark.cluster
def test_up_is_idempotent(sandbox: Sandbox) -> None:
    assert Sandbox(state_dir=sandbox.state_dir, log=sandbox.log).up() is False


@pytest.mark.cluster
def test_down_stops_only_its_own_processes(
    sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = Sandbox(
        state_dir=tmp_path_factory.mktemp("other-sandbox"),
        apiserver_port=None,
        aws_port=None,
        die_with_us=True,
        log=sandbox.log,
    )
    try:
        other.up()
        names = ["etcd", "kube-apiserver", "kube-controller-manager", "localaws"]
        pids = [ManagedProcess(name, other.state_dir).pid() for name in names]
        assert all(pids)
    finally:
        stopped = other.down()
    assert sorted(stopped) == sorted(names)
    assert not any(_alive(pid) for pid in pids if pid)
    assert set(other.status().values()) <= {"stopped", "not ready"}
    assert sandbox.is_ready()


def test_stop_never_signals_a_process_it_did_not_start(tmp_path: Path) -> None:
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        process = ManagedProcess("etcd", tmp_path)
        process.pidfile.parent.mkdir(parents=True)
        # The pid is live, but its command line is not the one recorded: a recycled pid.
        process.pidfile.write_text(json.dumps({"pid": stranger.pid, "argv": ["etcd"]}))
        assert process.pid() is None
        assert process.stop() is False
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.cluster
def test_up_puts_kubectl_and_the_plugin_on_path(sandbox: Sandbox, namespace: str) -> None:
    """`eval "$(sagemeter sandbox up)"` in a shell with a bare PATH makes both `kubectl` and
    `kubectl sagemeter` work (the README's commands)."""
    up = [sys.executable, "-m", "sagemeter.cli.main", "sandbox", "up"]
    script = f"""
        set -euo pipefail
        eval "$({" ".join(up)} --state-dir {sandbox.state_dir})"
        command -v kubectl kubectl-sagemeter
        kubectl sagemeter ls -n {namespace}
    """
    done = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": "/usr/bin:/bin", "HOME": str(sandbox.state_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    found = done.stdout.splitlines()[:2]
    assert found == [
        str(sandbox.bin_dir / "kubectl"),
        str(Path(sys.executable).parent / "kubectl-sagemeter"),
    ]
    assert f"No resources found in {namespace} namespace." in done.stderr
