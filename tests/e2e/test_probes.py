"""The probes reflect the reconciler, with the operator as the Deployment runs it: liveness
fails when the event loop is stuck, readiness holds while the replica reconciles (the standby
case: ``test_peering.py``). A stuck loop is made with the test-only switch
``SAGEMETER_DEBUG_STALL_SECONDS`` (SIGUSR2 blocks the loop; ``sagemeter.runtime.probes``)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from sagemeter.core.health import STUCK_AFTER
from sagemeter_sandbox import Sandbox
from tests.integration.conftest import Kubectl, endpoint_object, wait_for

from .conftest import DeployedOperator


@pytest.mark.cluster
def test_liveness_fails_when_the_event_loop_is_stuck(
    new_operator: Callable[[], DeployedOperator], sandbox: Sandbox, namespace: str
) -> None:
    kube = Kubectl(sandbox, namespace)
    op = new_operator().start(SAGEMETER_DEBUG_STALL_SECONDS="120")
    wait_for("the replica to act", lambda: not op.paused(), timeout=60)
    kube.apply(endpoint_object("probed"))
    kube.wait_phase("probed", "InService", timeout=90)
    assert op.probe("/readyz")[1]["reason"] == "reconciling"
    status, body = op.probe()
    assert status == 200 and body["live"] is True, body
    assert op.probe("/nothing")[0] == 404

    assert op.process is not None
    op.process.send_signal(signal.SIGUSR2)
    stalled = time.monotonic()
    status, body = wait_for(
        "liveness to fail", lambda: (p := op.probe())[0] == 503 and p, timeout=STUCK_AFTER + 10
    )
    took = time.monotonic() - stalled
    # Not before the loop has missed STUCK_AFTER seconds of heartbeats (a slow second is no
    # stuck loop), and soon after; the probe answers at once, from its own thread.
    assert STUCK_AFTER - 1.5 <= took <= STUCK_AFTER + 10, took
    assert body["live"] is False and "stuck" in body["reason"], body
    ready, why = op.probe("/readyz")
    assert ready == 503 and why["ready"] is False, why
    op.kill()
    op.start()  # a replica that can finish the object's deletion
    kube.delete("probed")
    wait_for("the object to go", lambda: kube.get("probed") is None, timeout=60)
