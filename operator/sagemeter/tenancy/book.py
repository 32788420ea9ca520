"""The budget book: every endpoint that counts against an EndpointPolicy budget, and who may run.

Each reconcile pass of an object in a budgeted namespace reports the object here
(`report`): what it costs, whether it runs now and whether it wants to run. `verdict(uid)`
then applies `core.tenancy.budget.decide` to everything reported, the same pure decision for
every object, so two passes on the same book agree on who starts. When room appears (an endpoint
stops running or goes, a budget is raised), every waiting object is woken at once, and the
oldest waiter starts first because the decision orders them by when they began to wait.

Until every object has been seen once (`seeded`), nothing starts: a restarted operator must not
start a waiter before it has counted what already runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from sagemeter.core.tenancy.budget import (
    Activity,
    BudgetDecision,
    Candidate,
    Park,
    Wait,
    decide,
)
from sagemeter.core.tenancy.effective import BudgetLimit

Wake = Callable[[str], None]


@dataclass(frozen=True)
class Verdict:
    """What the book says of one object: may it run, and if not, why."""

    runs: bool
    message: str | None = None
    wait: Wait | None = None
    park: Park | None = None


STARTING = Verdict(False, "sagemeter is counting what already runs under the budget")


class BudgetBook:
    def __init__(self, wake: Wake) -> None:
        self._wake = wake
        self._lock = threading.Lock()
        self._candidates: dict[str, Candidate] = {}
        self._budgets: dict[str, BudgetLimit] = {}
        self._seeded = False
        self.last: BudgetDecision | None = None

    def seed(self, runners: list[Candidate]) -> None:
        """What already runs, read once at start-up; from then on decisions are made."""
        with self._lock:
            for runner in runners:
                self._candidates.setdefault(runner.uid, runner)
            self._seeded = True
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
            if candidate is None:
                self._candidates.pop(uid, None)
            else:
                if before is not None and not before.runs and not candidate.runs:
                    # A waiter keeps its place: when it began to wait, as first reported, so
                    # every pass orders the waiters the same way.
                    candidate = replace(candidate, since=before.since)
                self._candidates[uid] = candidate
            freed = (
                before is not None
                and before.runs
                and (
                    candidate is None
                    or not candidate.runs
                    or _less(candidate.hourly, before.hourly)
                    or (before.activity == Activity.UPDATING != candidate.activity)
                )
            )
        if freed:
            self._wake_waiters()

    def verdict(self, uid: str) -> Verdict:
        with self._lock:
            if not self._seeded:
                return STARTING
            known = set(self._budgets)
            # A budget whose policy went meanwhile no longer counts.
            candidates = [replace(c, budgets=c.budgets & known) for c in self._candidates.values()]
            decision = decide(candidates, self._budgets)
            self.last = decision
        if uid in decision.park:
            return Verdict(False, decision.park[uid].message, park=decision.park[uid])
        if uid in decision.wait:
            return Verdict(False, decision.wait[uid].message, wait=decision.wait[uid])
        return Verdict(True)

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
            waiting = [uid for uid, c in self._candidates.items() if not c.runs]
        for uid in waiting:
            self._wake(uid)


def _less(now: Decimal | None, before: Decimal | None) -> bool:
    return now is not None and before is not None and now < before
