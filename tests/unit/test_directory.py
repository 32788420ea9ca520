"""The endpoint directory sweeps once per interval for every object of a region, a failed
sweep is shared by the objects waiting on it for a few seconds instead of repeated by each, and
an event repeating a settled status costs no describe."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.aws.gateway import set_own_account
from sagemeter.aws.sagemaker import EndpointSummary
from sagemeter.controller.directory import FAILED_SWEEP_PAUSE, EndpointDirectory
from sagemeter.controller.observer import Observer
from sagemeter.runtime.workers import Workers

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Sweeps:
    """A region's `ListEndpoints` as a script: each call answers the next entry."""

    def __init__(self, *answers: dict[str, EndpointSummary] | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> dict[str, EndpointSummary]:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def row(name: str, status: str = "InService") -> dict[str, EndpointSummary]:
    return {name: EndpointSummary(name, f"arn:{name}", status, T0, T0)}


def denied() -> AwsError:
    return AwsError(ErrorKind.TERMINAL, "AccessDenied", "not allowed", "ListEndpoints")


def test_one_sweep_serves_every_object_until_it_is_stale() -> None:
    now = [0.0]
    sweeps = Sweeps(row("a") | row("b"), row("a"))
    directory = EndpointDirectory(sweeps, max_age=60, clock=lambda: now[0])
    assert directory.lookup("a").status == "InService"
    assert directory.lookup("b").status == "InService"
    assert directory.lookup("c").status is None
    assert sweeps.calls == 1
    now[0] = 60
    assert directory.lookup("b").status is None
    assert sweeps.calls == 2


def test_a_failed_sweep_is_shared_then_tried_again() -> None:
    now = [0.0]
    sweeps = Sweeps(denied(), row("a"))
    directory = EndpointDirectory(sweeps, max_age=60, clock=lambda: now[0])
    for name in ("a", "b", "c"):
        with pytest.raises(AwsError) as raised:
            directory.lookup(name)
        assert raised.value.code == "AccessDenied"
    assert sweeps.calls == 1
    now[0] = FAILED_SWEEP_PAUSE - 0.1
    with pytest.raises(AwsError):
        directory.lookup("a")
    assert sweeps.calls == 1
    now[0] = FAILED_SWEEP_PAUSE
    assert directory.lookup("a").status == "InService"
    assert sweeps.calls == 2


def test_a_short_interval_bounds_the_pause() -> None:
    now = [0.0]
    sweeps = Sweeps(denied(), row("a"))
    directory = EndpointDirectory(sweeps, max_age=1, clock=lambda: now[0])
    with pytest.raises(AwsError):
        directory.lookup("a")
    now[0] = 1
    assert directory.lookup("a").status == "InService"


def test_an_event_repeating_a_settled_status_changes_nothing() -> None:
    sweeps = Sweeps(row("a") | row("b", "Creating"))
    directory = EndpointDirectory(sweeps, max_age=60, clock=lambda: 0.0)
    swept = directory.lookup("a")
    assert swept.incarnation is not None
    # InService again (a repeated event, or one our own describe came before): nothing new,
    # and the sweep's incarnation stays, so the next pass needs no describe.
    assert not directory.note("a", "InService")
    assert directory.lookup("a") == swept
    # A transition, or a status not settled yet, is news: the next pass describes.
    assert directory.note("a", "Updating")
    assert directory.lookup("a").status == "Updating" and directory.lookup("a").incarnation is None
    assert directory.note("b", "InService")
    assert directory.note("b", "Creating") and directory.note("b", "Creating")
    assert directory.note("unknown", "InService")
    assert sweeps.calls == 1


def test_the_own_account_has_one_sweep_before_and_after_it_is_learnt() -> None:
    """A context made before the operator learnt its account names it "self"; the orphan
    sweep names the account. Both read one directory, so the region is listed once per
    interval, not once per name."""
    observer = Observer(Workers(1), sync_seconds=3)
    try:
        set_own_account("123456789012")
        early = observer.directory_at("self", "us-east-1", None)
        assert observer.directory_at("123456789012", "us-east-1", None) is early
        assert observer.directory_at("123456789012", "eu-west-1", None) is not early
        assert [key[0] for key in observer.readers()] == ["123456789012", "123456789012"]
    finally:
        set_own_account(None)


def test_a_fresh_listing_is_read_without_a_thread_and_a_sweep_is_not_waited_for() -> None:
    """`cached` answers from a fresh listing (the pass then takes no worker thread for it);
    when a sweep is due, or another thread is sweeping, it answers None and the pass asks
    `lookup` from a worker thread instead of waiting on the lock in the event loop."""
    now = [0.0]
    sweeps = Sweeps(row("a"), row("a"))
    directory = EndpointDirectory(sweeps, max_age=60, clock=lambda: now[0])
    assert directory.cached("a") is None  # never swept: due
    assert sweeps.calls == 0
    directory.lookup("a")
    found = directory.cached("a")
    assert found is not None and found.status == "InService"
    missing = directory.cached("b")
    assert missing is not None and missing.status is None
    assert sweeps.calls == 1
    with directory._lock:  # a sweep under way in another thread
        assert directory.cached("a") is None
    now[0] = 60
    assert directory.cached("a") is None  # stale: due again
    assert sweeps.calls == 1
