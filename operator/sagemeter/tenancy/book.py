"""The budget book: every endpoint that counts against an EndpointPolicy budget, and who may run.

Each reconcile pass of an object in a budgeted namespace reports the object here
(`report`): what it costs, whether it runs now and whether it wants to run. `verdict(uid)`
then applies `core.tenancy.budget.decide` to everything reported, the same pure decision for
every object, so two passes on the same book agree on who starts. When room appears (an endpoint
stops running or goes, a budget is raised), every waiting object is woken at once, and the
oldest waiter starts first because the decision orders them by when they began to wait.

Until what already runs was counted (`seed`), nothing starts: a restarted operator must not
start a waiter before it has counted what already runs. The seed never reads an object's status
(tenants may write it): every object whose spec wants it running counts as running at its
spec's price until its own first pass reports what SageMaker really shows, which only ever
frees room. An object first reported waiting keeps the place its creation gives it among
those that were waiting before the restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from sagemeter.core.tenancy.budget import (
    BudgetDecision,
    Candidate,
    Park,
    Wait,
    counted_cost,
    decide,
)
from sagemeter.core.tenancy.effective import BudgetLimit

Wake = Callable[[str], None]


@dataclass(frozen=True)
class BudgetVerdict:
    """What the book says of one object: may it run, and if not, why; and for one that runs
    a fleet other than its target, may its update be sent (`update_waits`: not yet)."""

    runs: bool
    message: str | None = None
    wait: Wait | None = None
    park: Park | None = None
    update_waits: bool = False


STARTING = BudgetVerdict(False, "sagemeter is counting what already runs under the budget")


class BudgetBook:
    def __init__(self, wake: Wake) -> None:
        self._wake = wake
        self._lock = threading.Lock()
        self._candidates: dict[str, Candidate] = {}
        self._budgets: dict[str, BudgetLimit] = {}
        self._seeded = False
        self._seeds: set[str] = set()  # uids counted from the seed, not yet by a pass
        # Counts besides the seed that must arrive before anything starts (the orphan sweep's
        # first round: an orphan counts from the start, not from its first sighting).
        self._expected: set[str] = set()
        self.last: BudgetDecision | None = None

    def seed(self, runners: list[Candidate]) -> None:
        """What already runs, read once at start-up; from then on decisions are made."""
        with self._lock:
            for runner in runners:
                if runner.uid not in self._candidates:
                    self._candidates[runner.uid] = runner
                    self._seeds.add(runner.uid)
            self._seeded = True
        self._wake_waiters()

    def expect(self, count: str) -> None:
        """Nothing starts until `arrived(count)` too."""
        with self._lock:
            self._expected.add(count)

    def arrived(self, count: str) -> None:
        with self._lock:
            waited = count in self._expected
            self._expected.discard(count)
        if waited:
            self._wake_waiters()

    def set_budgets(self, budgets: Mapping[str, BudgetLimit]) -> None:
        """The budgets in force; a raised budget wakes the waiters."""
        with self._lock:
            raised = any(
                name not in self._budgets or limit.usd_per_hour > self._budgets[name].usd_per_hour
                for name, limit in budgets.items()
            )
            self._budgets = dict(budgets)
        if raised:
            self._wake_waiters()

    def report(self, candidate: Candidate | None, uid: str) -> None:
        """An object's current state (None: it neither runs nor wants to); wakes the waiters
        when this freed room."""
        with self._lock:
            before = self._candidates.get(uid)
            seeded = uid in self._seeds
            self._seeds.discard(uid)
            if candidate is None:
                self._candidates.pop(uid, None)
            else:
                if before is not None and not candidate.runs and (seeded or not before.runs):
                    # A waiter keeps its place: when it began to wait, as first reported (or,
                    # for one that waited before a restart, its creation), so every pass
                    # orders the waiters the same way.
                    candidate = replace(candidate, since=before.since)
                if before is not None and candidate.update_waits and before.update_waits:
                    candidate = replace(candidate, asked=before.asked)
                self._candidates[uid] = candidate
            freed = (
                before is not None
                and before.runs
                and (candidate is None or _footprint(candidate) < _footprint(before))
            )
        if freed:
            self._wake_waiters()

    def uids(self) -> set[str]:
        """Every object (or orphan, by its gone object's uid) the book counts or has waiting."""
        with self._lock:
            return set(self._candidates)

    def verdict(self, uid: str) -> BudgetVerdict:
        with self._lock:
            if not self._seeded or self._expected:
                # Nothing starts and no update goes out before everything is counted; what
                # already runs keeps running (a count not made yet is no reason to park it).
                counted = self._candidates.get(uid)
                if counted is not None and counted.runs:
                    if counted.update_waits:
                        return BudgetVerdict(True, STARTING.message, update_waits=True)
                    return BudgetVerdict(True)
                return STARTING
            known = set(self._budgets)
            # A budget whose policy went meanwhile no longer counts.
            candidates = [replace(c, budgets=c.budgets & known) for c in self._candidates.values()]
            decision = decide(candidates, self._budgets)
            self.last = decision
        if uid in decision.park:
            return BudgetVerdict(False, decision.park[uid].message, park=decision.park[uid])
        if uid in decision.wait:
            wait = decision.wait[uid]
            candidate = self._candidates.get(uid)
            if candidate is not None and candidate.update_waits:
                return BudgetVerdict(True, wait.message, wait=wait, update_waits=True)
            return BudgetVerdict(False, wait.message, wait=wait)
        return BudgetVerdict(True)

    def spend(self) -> dict[str, tuple[Decimal, int]]:
        """Per budget: what runs (USD per hour) and how many wait, as of the last decision."""
        decision = self.last
        if decision is None:
            return {}
        return {
            name: (decision.spend.get(name, Decimal(0)), decision.waiting.get(name, 0))
            for name in decision.spend
        }

    def _wake_waiters(self) -> None:
        with self._lock:
            waiting = [uid for uid, c in self._candidates.items() if c.pending]
        for uid in waiting:
            self._wake(uid)


_NOMINAL = BudgetLimit("", Decimal(0), unknown_price=Decimal(0))


def _footprint(candidate: Candidate) -> Decimal:
    """What a candidate counts, an unknown price as nothing: less of it is room freed."""
    if not candidate.runs:
        return Decimal(0)
    return counted_cost(candidate, _NOMINAL) or Decimal(0)
