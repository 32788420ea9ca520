"""DeploymentScheduler: bursts coalesce, a trickle is deployed within max_delay, generations say
what is deployed, failures are retried, flush deploys at once, the REST APIs of one account
never deploy faster than its slots allow, and real changes go before a restart's heals."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sagemeter.routes.deployments import DeploymentScheduler

pytestmark = pytest.mark.timeout(60)


class Recorder:
    def __init__(self, fail: int = 0) -> None:
        self.deployments: list[str] = []
        self.fail = fail
        self.lock = threading.RLock()

        self.times: list[float] = []

    def deploy(self, region: str) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("throttled")
        self.deployments.append(region)
        self.times.append(time.monotonic())


@pytest.fixture
def make() -> Iterator[Callable[..., tuple[DeploymentScheduler, Recorder]]]:
    made: list[DeploymentScheduler] = []

    def build(fail: int = 0, **timing: Any) -> tuple[DeploymentScheduler, Recorder]:
        recorder = Recorder(fail)
        scheduler = DeploymentScheduler(recorder.deploy, lambda _: recorder.lock, **timing)
        made.append(scheduler)
        return scheduler, recorder

    yield build
    for scheduler in made:
        scheduler.close()


def wait_for(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_burst_is_one_deployment(make: Callable[..., tuple[DeploymentScheduler, Recorder]]) -> None:
    scheduler, recorder = make(quiet_seconds=0.2, max_delay_seconds=5)
    generations = [scheduler.changed("us-east-1") for _ in range(50)]
    assert generations == list(range(1, 51))
    assert not scheduler.deployed("us-east-1", 50)
    wait_for(lambda: scheduler.deployed("us-east-1", 50))
    time.sleep(0.3)
    assert recorder.deployments == ["us-east-1"]
    assert scheduler.deployed("us-east-1", 0) and not scheduler.pending("us-east-1")


def test_trickle_is_deployed_within_max_delay(
    make: Callable[..., tuple[DeploymentScheduler, Recorder]],
) -> None:
    scheduler, recorder = make(quiet_seconds=0.3, max_delay_seconds=0.6)
    started = time.monotonic()
    while time.monotonic() - started < 1.5:  # never quiet for 0.3 s
        scheduler.changed("eu-west-1")
        time.sleep(0.05)
    assert 2 <= len(recorder.deployments) <= 4


def test_apis_of_one_account_wait_for_its_slots(
    make: Callable[..., tuple[DeploymentScheduler, Recorder]],
) -> None:
    """One CreateDeployment per slot for all the account's REST APIs (a slot every 0.4 s here,
    5 s in AWS)."""
    slot = {"free": 0.0}

    def slot_wait() -> float:
        return max(0.0, slot["free"] - time.monotonic())

    scheduler, recorder = make(quiet_seconds=0.05, slot_wait=slot_wait)
    original = recorder.deploy

    def deploy(api: str) -> None:
        original(api)
        slot["free"] = time.monotonic() + 0.4

    scheduler._deploy = deploy  # the pacer's clock advances with every deployment
    generations = {api: scheduler.changed(api) for api in ("a", "b", "c")}
    wait_for(lambda: all(scheduler.deployed(a, g) for a, g in generations.items()))
    assert sorted(recorder.deployments) == ["a", "b", "c"]
    gaps = [b - a for a, b in itertools.pairwise(recorder.times)]
    assert all(gap >= 0.39 for gap in gaps), gaps


def test_heals_wait_behind_real_changes(
    make: Callable[..., tuple[DeploymentScheduler, Recorder]],
) -> None:
    opens = time.monotonic() + 0.5  # the account's next slot: both are due by then

    scheduler, recorder = make(
        quiet_seconds=0.05, slot_wait=lambda: max(0.0, opens - time.monotonic())
    )
    scheduler.changed("healed", heal=True)
    time.sleep(0.1)
    real = scheduler.changed("changed")
    wait_for(lambda: scheduler.deployed("changed", real) and not scheduler.pending("healed"))
    assert recorder.deployments == ["changed", "healed"]


def test_regions_are_independent(
    make: Callable[..., tuple[DeploymentScheduler, Recorder]],
) -> None:
    scheduler, recorder = make(quiet_seconds=0.1)
    a, b = scheduler.changed("a"), scheduler.changed("b")
    wait_for(lambda: scheduler.deployed("a", a) and scheduler.deployed("b", b))
    assert sorted(recorder.deployments) == ["a", "b"]


def test_failure_is_retried(make: Callable[..., tuple[DeploymentScheduler, Recorder]]) -> None:
    scheduler, recorder = make(fail=1, quiet_seconds=0.05, retry_seconds=0.1)
    generation = scheduler.changed("us-east-1")
    wait_for(lambda: scheduler.deployed("us-east-1", generation))
    assert recorder.deployments == ["us-east-1"]


def test_flush_deploys_now_and_only_when_dirty(
    make: Callable[..., tuple[DeploymentScheduler, Recorder]],
) -> None:
    scheduler, recorder = make(quiet_seconds=60, max_delay_seconds=60)
    scheduler.flush("us-east-1")
    assert recorder.deployments == []
    generation = scheduler.changed("us-east-1")
    scheduler.flush("us-east-1")
    assert recorder.deployments == ["us-east-1"] and scheduler.deployed("us-east-1", generation)
    scheduler.flush("us-east-1")
    assert recorder.deployments == ["us-east-1"]
