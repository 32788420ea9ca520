"""The budget book the operator keeps: one decision for every pass, waiters keep their place,
room wakes the waiters, and nothing starts before what runs was counted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sagemeter.core.tenancy.budget import Activity, Candidate
from sagemeter.core.tenancy.effective import BudgetLimit
from sagemeter.tenancy.book import BudgetBook

T0 = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
BUDGET = {"team": BudgetLimit("team", Decimal("0.30"))}


def endpoint(uid: str, activity: Activity, seconds: float = 0) -> Candidate:
    return Candidate(
        uid, frozenset({"team"}), Decimal("0.12"), activity, T0 + timedelta(seconds=seconds)
    )


def book(woken: list[str]) -> BudgetBook:
    found = BudgetBook(woken.append)
    found.set_budgets(BUDGET)
    return found


def test_nothing_starts_before_what_runs_is_counted() -> None:
    woken: list[str] = []
    ledger = book(woken)
    ledger.report(endpoint("new", Activity.WAITING), "new")
    assert not ledger.verdict("new").runs
    ledger.seed([endpoint("a", Activity.RUNNING), endpoint("b", Activity.RUNNING)])
    assert woken == ["new"]  # seeding wakes the waiters
    assert ledger.verdict("new").runs is False  # 0.24 + 0.12 > 0.30
    assert "0.24" in (ledger.verdict("new").message or "")


def test_until_the_orphans_are_counted_nothing_starts_and_nothing_running_stops() -> None:
    woken: list[str] = []
    ledger = book(woken)
    ledger.expect("orphans")
    ledger.seed([])
    ledger.report(endpoint("new", Activity.WAITING), "new")
    ledger.report(endpoint("runs", Activity.RUNNING), "runs")
    assert not ledger.verdict("new").runs
    assert ledger.verdict("runs").runs  # a count not made yet is no reason to park it
    ledger.report(endpoint("orphan", Activity.RUNNING), "orphan")
    ledger.arrived("orphans")
    assert "new" in woken
    assert ledger.verdict("new").runs is False  # 0.24 + 0.12 > 0.30: the orphan counts


def test_waiters_keep_the_place_they_first_reported() -> None:
    ledger = book([])
    ledger.seed([endpoint("a", Activity.RUNNING), endpoint("b", Activity.RUNNING)])
    ledger.report(endpoint("first", Activity.WAITING, seconds=1.2), "first")
    ledger.report(endpoint("second", Activity.WAITING, seconds=1.7), "second")
    # A later pass reports the waiter with a coarser time (a condition, to the second), or
    # a later one: it keeps its place all the same.
    ledger.report(endpoint("second", Activity.WAITING, seconds=1.0), "second")
    ledger.report(None, "a")  # room for one
    assert ledger.verdict("first").runs
    assert not ledger.verdict("second").runs


def test_freed_room_and_a_raised_budget_wake_the_waiters() -> None:
    woken: list[str] = []
    ledger = book(woken)
    ledger.seed([endpoint("a", Activity.RUNNING), endpoint("b", Activity.RUNNING)])
    ledger.report(endpoint("w", Activity.WAITING), "w")
    woken.clear()
    ledger.report(endpoint("b", Activity.RUNNING), "b")  # unchanged: no wake
    assert woken == []
    ledger.report(None, "b")
    assert woken == ["w"]
    woken.clear()
    ledger.set_budgets({"team": BudgetLimit("team", Decimal("0.29"))})  # lowered: no wake
    assert woken == []
    ledger.set_budgets({"team": BudgetLimit("team", Decimal("1.00"))})
    assert woken == ["w"]


def test_a_budget_whose_policy_went_no_longer_counts() -> None:
    ledger = book([])
    ledger.seed([endpoint("a", Activity.RUNNING), endpoint("b", Activity.RUNNING)])
    ledger.report(endpoint("w", Activity.WAITING), "w")
    assert not ledger.verdict("w").runs
    ledger.set_budgets({})
    assert ledger.verdict("w").runs


def test_an_update_that_does_not_fit_waits_while_the_old_fleet_runs() -> None:
    woken: list[str] = []
    ledger = book(woken)
    ledger.seed([])
    grow = replace(
        endpoint("grow", Activity.RUNNING),
        hourly=Decimal("0.28"),
        current=Decimal("0.12"),
        replacing=True,
        asked=T0,
    )
    ledger.report(grow, "grow")
    verdict = ledger.verdict("grow")
    assert verdict.runs and verdict.update_waits  # 0.12 + 0.28 > 0.30: not sent
    assert "the update waits" in (verdict.message or "")
    assert ledger.spend() == {"team": (Decimal("0.12"), 1)}
    ledger.set_budgets({"team": BudgetLimit("team", Decimal("0.40"))})
    assert woken == ["grow"]  # a raised budget wakes the update that waits too
    verdict = ledger.verdict("grow")
    assert verdict.runs and not verdict.update_waits
    # Sent: both fleets count until SageMaker is done, then the new one alone.
    ledger.report(replace(grow, activity=Activity.UPDATING), "grow")
    ledger.verdict("grow")
    assert ledger.spend()["team"][0] == Decimal("0.40")
    ledger.report(replace(grow, current=None, replacing=False), "grow")
    ledger.verdict("grow")
    assert ledger.spend()["team"][0] == Decimal("0.28")


def test_waiters_from_before_a_restart_keep_the_order_their_creation_gives() -> None:
    """After a restart the seed counts every object its spec wants running, since its
    creation; one whose first pass finds it waiting keeps that place (status, which tenants
    may write, says nothing about it), ahead of anything that begins to wait later."""
    ledger = book([])
    ledger.seed(
        [
            endpoint("older", Activity.RUNNING, seconds=1),
            endpoint("younger", Activity.RUNNING, seconds=10),
            endpoint("a", Activity.RUNNING, seconds=0),
        ]
    )
    now = 3600.0
    ledger.report(endpoint("younger", Activity.WAITING, seconds=now), "younger")
    ledger.report(endpoint("older", Activity.WAITING, seconds=now + 1), "older")
    ledger.report(endpoint("new", Activity.WAITING, seconds=now - 5), "new")
    ledger.report(endpoint("a", Activity.RUNNING, seconds=0), "a")
    ledger.report(endpoint("b", Activity.RUNNING, seconds=0), "b")
    assert not any(ledger.verdict(u).runs for u in ("older", "younger", "new"))
    ledger.report(None, "a")  # room for one
    assert ledger.verdict("older").runs
    assert not ledger.verdict("younger").runs and not ledger.verdict("new").runs
