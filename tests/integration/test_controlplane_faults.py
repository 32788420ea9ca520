"""The operator keeps working through control-plane faults: kube-apiserver killed and
restarted, etcd killed and restarted, and its own connections to the apiserver cut.

Each test changes one object while (or right after) the fault happens and creates another after
it; both must be reconciled without a restart of the operator. SageMaker is never touched by the
faults, so the exact AWS calls are known too: one UpdateEndpoint for the change, one
CreateEndpoint per object.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sagemeter_sandbox import Sandbox
from sagemeter_sandbox.disruption import ControlPlaneFaults

from .conftest import Kubectl, Operator, endpoint_object, wait_for

pytestmark = pytest.mark.cluster


@pytest.fixture
def plane(sandbox: Sandbox) -> Iterator[ControlPlaneFaults]:
    faults = ControlPlaneFaults(sandbox)
    try:
        yield faults
    finally:  # whatever failed, the next test gets a whole control plane
        for process in sandbox.controlplane.processes:
            if process.pid() is None:
                faults.start(process.name)
        faults.wait_ready()


def kubectl_until_ok(kube: Kubectl, action: Any, timeout: float = 60) -> None:
    """Runs ``action`` until the apiserver takes it (it may still refuse just after a restart)."""

    def attempt() -> bool:
        try:
            action()
        except Exception:
            return False
        return True

    wait_for("the apiserver to take the change", attempt, timeout)


def updated(kube: Kubectl, name: str) -> dict[str, Any] | bool:
    status = kube.status(name)
    return status.get("phase") == "InService" and status.get("observedGeneration") == 2 and status


def exercise_after_fault(operator: Operator, kube: Kubectl) -> None:
    """'before' (InService before the fault) was resized during it; 'after' is new."""
    kubectl_until_ok(kube, lambda: kube.patch("before", {"spec": {"instanceCount": 2}}))
    kubectl_until_ok(kube, lambda: kube.apply(endpoint_object("after")))
    wait_for("the change made during the fault", lambda: updated(kube, "before"), timeout=90)
    kube.wait_phase("after", "InService", timeout=90)
    calls = operator.aws_calls()
    assert calls.get("sagemaker:UpdateEndpoint") == 1
    assert calls.get("sagemaker:CreateEndpoint") == 2
    assert operator.process is not None and operator.process.poll() is None


@pytest.mark.parametrize("component", ["apiserver", "etcd"])
def test_killed_and_restarted(
    operator: Operator, kube: Kubectl, plane: ControlPlaneFaults, component: str
) -> None:
    operator.start()
    kube.apply(endpoint_object("before"))
    kube.wait_phase("before", "InService")
    restart = plane.restart_apiserver if component == "apiserver" else plane.restart_etcd
    outage = restart(down_seconds=3)
    assert 3 <= outage < 60, outage
    assert kube.get("before") is not None  # etcd's data directory survived the crash
    exercise_after_fault(operator, kube)


def test_watch_streams_cut_and_apiserver_unreachable(
    operator: Operator, kube: Kubectl, plane: ControlPlaneFaults, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "proxied-kubeconfig"
    proxy = plane.proxy(kubeconfig)
    try:
        operator.start(KUBECONFIG=str(kubeconfig))
        kube.apply(endpoint_object("before"))
        kube.wait_phase("before", "InService")
        assert proxy.cut() >= 1  # at least the watch stream

        proxy.block(8)
        began = time.monotonic()
        # kubectl goes direct: the change lands while the operator cannot see the apiserver.
        kube.patch("before", {"spec": {"instanceCount": 2}})
        time.sleep(max(0.0, 8 - (time.monotonic() - began)))
        exercise_after_fault(operator, kube)
        assert proxy.accepted > 1  # the operator reconnected through the proxy
    finally:
        proxy.close()
