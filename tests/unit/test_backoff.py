"""One backoff per (account, region): doubling with jitter, shared, closed by a success."""

from __future__ import annotations

import random

import pytest

from sagemeter.aws.backoff import BASE, CAP, Backoffs


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_failures_open_a_shared_backoff_that_doubles_with_jitter() -> None:
    clock = Clock()
    backoffs = Backoffs(clock, random.Random(7))
    assert backoffs.remaining("self", "us-east-1") == 0
    waits = []
    for _ in range(8):  # each failure comes once the previous wait is over
        waits.append(backoffs.failed("self", "us-east-1"))
        clock.now += waits[-1]
    clock.now -= waits[-1] / 2
    for n, wait in enumerate(waits):
        ceiling = min(CAP, BASE * 2**n)
        assert ceiling / 2 <= wait <= ceiling  # equal jitter: between half and all of it
    assert waits[-1] <= CAP
    # Every object of the account sees the same backoff; other accounts and regions do not.
    assert backoffs.remaining("self", "us-east-1") > 0
    assert backoffs.remaining("111111111111", "us-east-1") == 0
    assert backoffs.remaining("self", "eu-west-1") == 0


def test_failures_of_calls_in_flight_while_it_is_open_do_not_lengthen_it() -> None:
    clock = Clock()
    backoffs = Backoffs(clock, random.Random(5))
    first = backoffs.failed("self", "us-east-1")
    clock.now += first / 2
    # Twenty calls that were in flight when it opened fail too: the end does not move.
    for _ in range(20):
        assert backoffs.failed("self", "us-east-1") == pytest.approx(first / 2)
    assert backoffs.remaining("self", "us-east-1") == pytest.approx(first / 2)
    clock.now += first / 2
    # The first failure after the wait (the account is still throttled) doubles it.
    assert BASE <= backoffs.failed("self", "us-east-1") <= 2 * BASE


def test_the_backoff_ends_by_time_or_by_a_success() -> None:
    clock = Clock()
    backoffs = Backoffs(clock, random.Random(1))
    wait = backoffs.failed("self", "us-east-1")
    clock.now += wait / 2
    assert 0 < backoffs.remaining("self", "us-east-1") <= wait / 2 + 1e-9
    clock.now += wait
    assert backoffs.remaining("self", "us-east-1") == 0
    backoffs.failed("self", "us-east-1")
    backoffs.succeeded("self", "us-east-1")
    assert backoffs.remaining("self", "us-east-1") == 0
    # After a success the next failure starts small again.
    assert backoffs.failed("self", "us-east-1") <= BASE


def test_jitter_spreads_sleepers_by_at_most_a_quarter() -> None:
    backoffs = Backoffs(rand=random.Random(3))
    spread = [backoffs.jitter(8.0) for _ in range(200)]
    assert min(spread) >= 8.0 and max(spread) <= 10.0
    assert max(spread) - min(spread) > 1.0  # they do spread
