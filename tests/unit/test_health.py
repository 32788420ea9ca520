"""What the probes say (core.health): liveness from the event loop's heartbeat, readiness from
start-up, the heartbeat and the object loops' passes; and the probe server that answers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from sagemeter.core.health import PASS_STUCK, STUCK_AFTER, liveness, readiness
from sagemeter.runtime.probes import Health, serve


@pytest.mark.parametrize(
    ("beat_age", "live"),
    [
        (None, True),  # the loop has not started yet: starting
        (0.0, True),
        (STUCK_AFTER, True),  # exactly at the bound: still alive
        (STUCK_AFTER + 0.1, False),
        (3600.0, False),
    ],
)
def test_liveness(beat_age: float | None, live: bool) -> None:
    verdict = liveness(beat_age)
    assert verdict.ok is live
    assert ("stuck" in verdict.reason) is (not live)


@pytest.mark.parametrize(
    ("case", "started", "beat_age", "loops", "in_pass", "ready", "reason"),
    [
        ("active, reconciling", True, 0.5, 3, {"a": 2.0}, True, "reconciling"),
        ("active, between passes", True, 0.5, 3, {}, True, "reconciling"),
        ("standby (peering paused it): no loops", True, 0.5, 0, {}, True, "healthy"),
        ("start-up not finished", False, 0.5, 0, {}, False, "starting"),
        ("the loop not started", True, None, 0, {}, False, "starting"),
        ("the loop stuck", True, STUCK_AFTER + 1, 3, {}, False, "stuck"),
        ("a pass stuck", True, 0.5, 3, {"a": PASS_STUCK + 1, "b": 1.0}, False, "passes"),
        ("a long pass, not yet stuck", True, 0.5, 1, {"a": PASS_STUCK}, True, "reconciling"),
    ],
)
def test_readiness(
    case: str,
    started: bool,
    beat_age: float | None,
    loops: int,
    in_pass: dict[str, float],
    ready: bool,
    reason: str,
) -> None:
    verdict = readiness(started, beat_age, loops, in_pass)
    assert verdict.ok is ready, case
    assert reason in verdict.reason, (case, verdict.reason)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def get(port: int, path: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read())


def test_the_probe_server_answers_from_its_own_thread() -> None:
    clock = Clock()
    health = Health(clock)
    server = serve("http://127.0.0.1:0/healthz", health)
    port = server.server_address[1]
    try:
        assert get(port, "/healthz")[0] == 200  # starting
        assert get(port, "/readyz") == (
            503,
            {"ready": False, "reason": "starting: the start-up handler has not finished"},
        )
        health.beat()
        health.mark_started()
        health.loop_started("uid-a")
        health.pass_started("uid-a")
        assert get(port, "/readyz")[1]["reason"] == "reconciling"
        clock.now += PASS_STUCK + 1  # the loop beats on, the pass never ends
        health.beat()
        status, body = get(port, "/readyz")
        assert status == 503 and body["stuck"] == ["uid-a"], body
        health.pass_finished("uid-a")
        health.loop_stopped("uid-a")  # peering paused this replica: its loops stop
        assert get(port, "/readyz")[1]["objectLoops"] == 0
        clock.now += STUCK_AFTER + 1  # no beat since
        status, body = get(port, "/healthz")
        assert status == 503 and body["live"] is False, body
        assert get(port, "/other")[0] == 404
    finally:
        server.shutdown()
        server.server_close()


def test_a_bad_probe_url_is_refused() -> None:
    with pytest.raises(ValueError):
        serve("http://127.0.0.1/healthz")  # no port
