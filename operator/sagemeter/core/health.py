"""What the probes say: is the operator alive, is it ready? Pure; the probe server asks.

    liveness(beat_age)                            -> ProbeVerdict
    readiness(started, beat_age, loops, in_pass)  -> ProbeVerdict

**Alive** means the event loop runs: a heartbeat task on it beats every second, and a loop that
has not run it for ``STUCK_AFTER`` seconds is stuck (a blocking call on the loop, a busy loop).
A live process whose loop is stuck reconciles nothing, so the kubelet should restart it
(liveness failure), never keep it.

**Ready** means the replica does its part: the start-up handler finished (settings, clients,
tenancy), the loop runs, and no object's reconcile pass has been under way for longer than
``PASS_STUCK`` (a wedged worker pool, an AWS call that never returns). A replica that kopf
peering keeps paused has no object loops at all: it is ready while it is healthy and waiting.
That matters beyond Services: under the shipped PodDisruptionBudget (``minAvailable: 1``) a
standby that were never Ready would make the active one the only available replica, and a
node drain could never evict it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["PASS_STUCK", "STUCK_AFTER", "ProbeVerdict", "liveness", "readiness"]

# A loop that has not run its one-second heartbeat for this long is stuck. The kubelet then
# needs failureThreshold more failures (3 x 20 s in the shipped Deployment) to restart it.
STUCK_AFTER: Final = 10.0
# A pass makes a handful of AWS calls, each bounded by botocore's timeouts and retries; ten
# minutes in one pass is no longer slow, it is stuck.
PASS_STUCK: Final = 600.0


@dataclass(frozen=True)
class ProbeVerdict:
    ok: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def liveness(beat_age: float | None) -> ProbeVerdict:
    """``beat_age``: seconds since the loop last ran the heartbeat; None before the loop has
    started (the process is starting: alive)."""
    if beat_age is None:
        return ProbeVerdict(True, "starting")
    if beat_age > STUCK_AFTER:
        return ProbeVerdict(
            False,
            f"the event loop has been stuck for {beat_age:.0f} s",
            {"heartbeatAgeSeconds": round(beat_age, 1)},
        )
    return ProbeVerdict(True, "the event loop runs", {"heartbeatAgeSeconds": round(beat_age, 1)})


def readiness(
    started: bool, beat_age: float | None, loops: int, in_pass: Mapping[str, float]
) -> ProbeVerdict:
    """``loops``: object loops running in this replica (none while peering pauses it);
    ``in_pass``: seconds each loop that is in a pass (by uid) has been in it."""
    alive = liveness(beat_age)
    if not alive.ok:
        return alive
    if not started or beat_age is None:
        return ProbeVerdict(False, "starting: the start-up handler has not finished")
    stuck = sorted(uid for uid, seconds in in_pass.items() if seconds > PASS_STUCK)
    details = {"objectLoops": loops, "passesUnderWay": len(in_pass), "stuckPasses": len(stuck)}
    if stuck:
        return ProbeVerdict(
            False,
            f"{len(stuck)} object passes under way for more than {PASS_STUCK:.0f} s",
            {**details, "stuck": stuck[:10]},
        )
    if not loops:
        # Paused by peering, or nothing to reconcile: healthy and waiting.
        return ProbeVerdict(True, "healthy; no object loops here (standby, or no objects)", details)
    return ProbeVerdict(True, "reconciling", details)
