"""DeploymentScheduler: bursts coalesce, a trickle is deployed within max_delay, generations say
what is deployed, failures are retried, flush deploys at once, the REST APIs of one account
never deploy faster than its slots allow, and real changes go before a restart's heals."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sagemeter.routes.deployments import DeploymentScheduler

pytestmark = pytest.mark.timeout(60)


class Clock:
    """The scheduler's clock, moved by the test. The scheduler's thread rechecks it at least
    as often as the next change falls due (its waits are as long in real seconds), so a move
    is seen without a sleep."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    def __init__(self, clock: Callable[[], float], fail: int = 0) -> None:
        self.deployments: list[str] = []
        self.fail = fail
        self.lock = threading.RLock()
        self.clock = clock
        self.times: list[float] = []

    def deploy(self, region: str) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("throttled")
        self.deployments.append(region)
        self.times.append(self.clock())


@pytest.fixture
def make() -> Iterator[Callable[..., tuple[DeploymentScheduler, Recorder]]]:
    """A scheduler and what it deployed; with ``clock=`` it runs on the test's clock."""
    made: list[DeploymentScheduler] = []

    def build(
        fail: int = 0, clock: Callable[[], float] = time.monotonic, **timing: Any
    ) -> tuple[DeploymentScheduler, Recorder]:
        recorder = Recorder(clock, fail)
        scheduler = DeploymentScheduler(
            recorder.deploy, lambda _: recorder.lock, clock=clock, **timing
        )
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
    clock = Clock()
    scheduler, recorder = make(clock=clock, quiet_seconds=0.2, max_delay_seconds=5)
    generations = [scheduler.changed("us-east-1") for _ in range(50)]
    assert generations == list(range(1, 51))
    clock.advance(0.1)  # not quiet long enough: nothing is due
    assert not scheduler.deployed("us-east-1", 1) and recorder.deployments == []
    clock.advance(0.1)
    wait_for(lambda: scheduler.deployed("us-east-1", 50))
    # One deployment served all fifty, and nothing is left for another.
    assert recorder.deployments == ["us-east-1"]
    assert scheduler.deployed("us-east-1", 0) and not scheduler.pending("us-east-1")


def test_trickle_is_deployed_within_max_delay(
    make: Callable[..., tuple[DeploymentScheduler, Recorder]],
) -> None:
    clock = Clock()
    scheduler, recorder = make(clock=clock, quiet_seconds=0.3, max_delay_seconds=0.6)
    for deployments in (1, 2):  # a change every 0.05 s: never quiet for 0.3 s
        for _ in range(12):
            generation = scheduler.changed("eu-west-1")
            clock.advance(0.05)
        # 0.6 s after the round's first change, however busy the API is.
        wait_for(lambda: scheduler.deployed("eu-west-1", generation))  # noqa: B023
        assert len(recorder.deployments) == deployments
        assert recorder.times[-1] == pytest.approx(0.6 * deployments)


def test_apis_of_one_account_wait_for_its_slots(
    make: Callable[..., tuple[DeploymentScheduler, Recorder]],
) -> None:
    """One CreateDeployment per slot for all the account's REST APIs (a slot every 0.4 s here,
    5 s in AWS)."""
    clock = Clock()
    slot = {"free": 0.0}
    scheduler, recorder = make(
        clock=clock, quiet_seconds=0.05, slot_wait=lambda: max(0.0, slot["free"] - clock())
    )
    original = recorder.deploy

    def deploy(api: str) -> None:
        original(api)
        slot["free"] = clock() + 0.4

    scheduler._deploy = deploy  # the pacer's clock advances with every deployment
    generations = {api: scheduler.changed(api) for api in ("a", "b", "c")}
    clock.advance(0.05)
    for deployed in (1, 2, 3):
        wait_for(lambda: len(recorder.deployments) == deployed)  # noqa: B023
        assert len(recorder.deployments) == deployed  # the next waits for the slot
        clock.advance(0.4)
    wait_for(lambda: all(scheduler.deployed(a, g) for a, g in generations.items()))
    assert sorted(recorder.deployments) == ["a", "b", "c"]
    assert recorder.times == pytest.approx([0.05, 0.45, 0.85])


def test_heals_wait_behind_real_changes(
    make: Callable[..., tuple[DeploymentScheduler, Recorder]],
) -> None:
    clock = Clock()
    opens = 0.5  # the account's next slot: both are due by then
    scheduler, recorder = make(
        clock=clock, quiet_seconds=0.05, slot_wait=lambda: max(0.0, opens - clock())
    )
    scheduler.changed("healed", heal=True)
    clock.advance(0.1)
    real = scheduler.changed("changed")
    clock.advance(0.5)
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
