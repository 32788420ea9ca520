"""Two replicas with ``--peering=sagemeter``, as the Deployment runs them: one acts, the other
stands by and takes over when the active one stops (gracefully at once; when killed, once the
dead replica's peering record expires, and not before).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sagemeter_sandbox import Sandbox
from tests.integration.conftest import Kubectl, endpoint_object, wait_for

from .conftest import TIMESTAMP, DeployedOperator, kubectl


def _peer_priorities(sandbox: Sandbox) -> dict[str, int]:
    peering = json.loads(kubectl(sandbox, "get", "clusterkopfpeering", "sagemeter", "-o", "json"))
    return {peer: info["priority"] for peer, info in (peering.get("status") or {}).items()}


def _active_and_standby(
    sandbox: Sandbox, first: DeployedOperator, second: DeployedOperator
) -> tuple[DeployedOperator, DeployedOperator]:
    """The replica with the higher priority in the ClusterKopfPeering acts; kopf starts a
    peered operator paused and resumes the one that finds no peer above it."""
    priorities = wait_for(
        "both replicas in the peering",
        lambda: {first.identity, second.identity} <= (p := _peer_priorities(sandbox)).keys() and p,
        timeout=30,
    )
    assert priorities[first.identity] != priorities[second.identity], priorities
    active, standby = sorted((first, second), key=lambda op: -priorities[op.identity])
    wait_for("the active replica to resume", lambda: not active.paused(), timeout=30)

    # A replica can act for a moment before it sees a peer above it; what it started then
    # (a route deployment) it finishes, and then it is quiet.
    def quiet() -> bool:
        metrics = standby.metrics()
        return (
            standby.paused()
            and metrics.get("sagemeter_route_deployments_pending") == 0
            and metrics.get("sagemeter_event_queues_receiving") == 0
        )

    wait_for("the standby to pause and finish what it started", quiet, timeout=60)
    return active, standby


def _only_the_active_acts(
    kube: Kubectl, active: DeployedOperator, standby: DeployedOperator, name: str
) -> None:
    """A new object is served by the active replica while the standby stays paused and makes
    no AWS call that changes anything: proof by an object, not by waiting a while."""
    before = standby.aws_calls()
    kube.apply(endpoint_object(name))
    kube.wait_phase(name, "InService", timeout=90)
    assert f"{kube.namespace}/{name}" in active.run_logs()
    assert f"{kube.namespace}/{name}" not in standby.run_logs(), "the standby acted"
    assert standby.paused() and not active.paused(), "the replicas did not settle"
    after = standby.aws_calls()
    changed = {
        k: after[k] - before.get(k, 0)
        for k in after
        if after[k] != before.get(k, 0) and not k.split(":")[1].startswith(READS)
    }
    assert not changed, f"the standby called AWS: {changed}"


READS = ("Describe", "List", "Get")


def _peer_deadline(sandbox: Sandbox, identity: str) -> float:
    """When kopf will consider `identity` dead (its lastseen plus its lifetime), epoch seconds."""
    peering = json.loads(kubectl(sandbox, "get", "clusterkopfpeering", "sagemeter", "-o", "json"))
    record = peering["status"][identity]
    lastseen = datetime.fromisoformat(record["lastseen"])
    if lastseen.tzinfo is None:
        lastseen = lastseen.replace(tzinfo=UTC)
    return lastseen.timestamp() + float(record["lifetime"])


def _takeover(
    kube: Kubectl, standby: DeployedOperator, name: str, log_mark: int
) -> tuple[float, float]:
    """When (epoch seconds) the standby resumed, by its own log line, and when it had acted
    on ``name``."""
    line = wait_for(
        "the standby to resume",
        lambda: next(
            (x for x in standby.logs()[log_mark:].splitlines() if "Resuming operations" in x), None
        ),
        timeout=120,
    )
    stamp = TIMESTAMP.match(line)
    assert stamp is not None, line
    # The operator logs local time, as this process reads it.
    resumed = datetime.strptime(stamp.group(0).strip(), "%Y-%m-%d %H:%M:%S,%f").timestamp()
    acted = wait_for(
        f"{name} to be created by the standby",
        lambda: kube.status(name).get("phase") in ("Creating", "InService") and time.time(),
        timeout=120,
    )
    return resumed, acted


@pytest.mark.cluster
def test_peering_one_replica_acts_and_the_other_takes_over(
    new_operator: Callable[[], DeployedOperator], sandbox: Sandbox, namespace: str
) -> None:
    kube = Kubectl(sandbox, namespace)
    first, second = new_operator().start(), new_operator().start()
    active, standby = _active_and_standby(sandbox, first, second)
    _only_the_active_acts(kube, active, standby, "one")
    # Both Ready: the active one reconciles, the standby is healthy and waits on peering (a
    # standby never Ready would leave the PodDisruptionBudget no replica to spare).
    ready, body = active.probe("/readyz")
    assert (ready, body["reason"]) == (200, "reconciling"), body
    ready, body = standby.probe("/readyz")
    assert (ready, body["objectLoops"]) == (200, 0), body
    assert active.probe()[0] == standby.probe()[0] == 200

    # A rolling update: SIGTERM, kopf leaves the peering, the standby takes over at once.
    mark, since = len(standby.logs()), time.time()
    active.stop(signal.SIGTERM)
    stopped = time.time()
    kube.apply(endpoint_object("two"))
    graceful = _takeover(kube, standby, "two", mark)

    # The stopped replica comes back (a new priority) and the two settle again.
    active.start()
    active, standby = _active_and_standby(sandbox, active, standby)
    kube.wait_phase("two", "InService", timeout=90)
    _only_the_active_acts(kube, active, standby, "two-b")

    # A crash: SIGKILL; the standby waits for the dead replica's keep-alive to expire.
    mark, killed_at = len(standby.logs()), time.time()
    active.kill()
    deadline = _peer_deadline(sandbox, active.identity)  # nobody refreshes it any more
    kube.apply(endpoint_object("three"))
    killed = _takeover(kube, standby, "three", mark)

    expired = deadline - killed_at
    report = textwrap.dedent(f"""\
        peering takeover (resume / first action on a new object):
          graceful stop: {graceful[0] - since:.1f}s / {graceful[1] - since:.1f}s
          killed:        {killed[0] - killed_at:.1f}s / {killed[1] - killed_at:.1f}s
          (the killed replica's peering record expired {expired:.1f}s after the kill)""")
    print(report, file=sys.stderr)
    (Path(os.environ.get("SAGEMETER_TAKEOVER_REPORT", os.devnull))).write_text(report + "\n")
    # Graceful: the standby resumes only once the active one was told to stop, and soon
    # after it left.
    assert since <= graceful[0] <= stopped + 10 and graceful[1] - stopped < 20
    # Killed: not before the dead replica's record expires (20 s after its last keep-alive,
    # which kopf writes every 10-15 s): resuming earlier would let two replicas act at once.
    # And soon after; the log's millisecond stamps leave 0.5 s for rounding and clocks.
    assert deadline - 0.5 <= killed[0] <= deadline + 15, killed[0] - deadline
    assert killed[1] - killed[0] < 20

    for name in ("one", "two", "two-b", "three"):
        kube.delete(name)
    for name in ("one", "two", "two-b", "three"):
        wait_for(f"{name} to be gone", lambda n=name: kube.get(n) is None, timeout=60)
    for op in (first, second):
        assert not op.forbidden(), "403s:\n" + "\n".join(op.forbidden())


@pytest.mark.cluster
def test_two_replicas_notify_each_transition_once(
    new_operator: Callable[[], DeployedOperator], sandbox: Sandbox, namespace: str
) -> None:
    """SNS notifications (SPEC §7) with two replicas: only the active one publishes, and the
    one that takes over does not repeat what the other sent and recorded."""
    from tests.integration.test_notifications import Inbox, keys

    kube = Kubectl(sandbox, namespace)
    inbox = Inbox(sandbox)
    env = {"SAGEMETER_NOTIFY_SNS_TOPIC_ARN": inbox.topic}
    first, second = new_operator().start(**env), new_operator().start(**env)
    active, standby = _active_and_standby(sandbox, first, second)
    kube.apply(endpoint_object("told", suspend=True))
    inbox.wait_reason("Suspended")
    wait_for("the record", lambda: kube.status("told").get("notified"), timeout=60)

    mark = len(standby.logs())
    active.stop(signal.SIGTERM)
    wait_for(
        "the standby to take over and look at the object",
        lambda: f"{namespace}/told" in standby.logs()[mark:] and not standby.paused(),
        timeout=120,
    )
    kube.patch(
        "told", {"spec": {"suspend": False, "expiry": {"expiresAt": "2020-01-01T00:00:00Z"}}}
    )
    inbox.wait_reason("Expired")
    standby.wait_passes(3)
    assert inbox.reasons() == ["Suspended", "Expired"]
    assert len(set(keys(inbox.read()))) == 2
    kube.delete("told")
    wait_for("told to be gone", lambda: kube.get("told") is None, timeout=60)
