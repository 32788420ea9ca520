"""Budgets: who runs and who waits (SPEC §5 "Budget").

    decide(candidates, budgets) -> BudgetDecision

A candidate is an endpoint that should run by every other rule (not suspended,
expired, out of schedule or idle): it runs now (`Running`, `Creating`,
`Updating`) or wants to start (`Waiting`: new, or parked `OverBudget`). Each
carries the budgets that apply to it (one per selecting policy that has one)
and the hourly price of one fleet (None: unknown).

What an endpoint counts under a budget: its price, or the budget's
`unknownPriceUSDPerHour` when the price is unknown (unset: the endpoint is
refused by that budget); twice while `Updating` (blue/green runs both fleets).
Serverless prices come from `sagemeter.core.meter.pricing.endpoint_hourly`.

The decision, in two passes:

1. **Park** (budgets with `onDecrease: Park` only): running endpoints are
   visited newest first (latest `since`); one is parked when a Park budget of
   its is over its limit at that moment, or refuses it (unknown price). Budgets
   with `onDecrease: Queue` never park anything: running endpoints keep their
   place (one a Queue budget refuses keeps running and counts nothing there).
2. **Start**: waiting endpoints are visited in the order they began to wait
   (`since`, then uid); one starts when every budget of its has room for it on
   top of what runs (including those started before it in this pass), else it
   waits, naming the first budget without room. A later, smaller endpoint may
   start while an earlier, larger one waits (backfill).

Properties (tested with Hypothesis in tests/unit/test_tenancy_budget.py):

* **Limits.** After a decision, for every budget B: spend(B) <= limit(B); except
  when B is a Queue budget under which nothing was started: then spend(B) is the
  spend of B's running endpoints that were kept, which may exceed a lowered limit.
* **Order with backfill.** A waiting endpoint W waits only if it does not fit:
  some budget of W has no room for W on top of the kept running endpoints and the
  endpoints started before W in the order of waiting (or refuses W). In particular
  no endpoint waits while one that began to wait later was started, unless W did
  not fit then; and no endpoint waits that would fit on top of everything that runs.
* **Removing spend never parks.** Deleting or parking a running endpoint, or
  raising a budget, parks no endpoint the original decision did not park; and
  once a decision's result runs, such a change parks nothing at all.
* **Determinism.** The decision depends on the candidates as a set, not their order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sagemeter.api.models import Phase
from sagemeter.api.policy import OnDecrease
from sagemeter.core.meter.pricing import format_usd
from sagemeter.core.tenancy.effective import BudgetLimit


class Activity(StrEnum):
    WAITING = "Waiting"
    CREATING = "Creating"
    RUNNING = "Running"
    UPDATING = "Updating"


@dataclass(frozen=True)
class Candidate:
    """An endpoint that should run by every rule but budgets.

    `since`: when it began to wait (Waiting), or when it started running (the
    others; only the order matters, for "park the newest first").
    """

    uid: str
    budgets: frozenset[str]
    hourly: Decimal | None
    activity: Activity
    since: datetime
    namespace: str = ""

    @property
    def runs(self) -> bool:
        return self.activity != Activity.WAITING


@dataclass(frozen=True)
class Wait:
    """Why a candidate waits: the first of its budgets without room."""

    budget: str
    spend: Decimal
    limit: Decimal
    cost: Decimal | None  # None: unknown price, no unknownPriceUSDPerHour
    message: str


@dataclass(frozen=True)
class Park:
    """Why a running candidate is parked: a lowered Park budget it belonged to."""

    budget: str
    spend: Decimal
    limit: Decimal
    message: str


@dataclass(frozen=True)
class BudgetDecision:
    run: frozenset[str]  # may run: running ones kept, and waiting ones started
    start: frozenset[str]  # of those, the ones that start now
    wait: Mapping[str, Wait]
    park: Mapping[str, Park]
    spend: Mapping[str, Decimal]  # per budget (policy name), once the decision is carried out
    waiting: Mapping[str, int]  # per budget: candidates waiting for room in it


def activity_for(phase: Phase | str | None) -> Activity:
    """How an endpoint that should run counts, by its phase: Creating, InService and
    Updating endpoints run (Updating twice); any other phase waits to start."""
    match phase:
        case Phase.CREATING:
            return Activity.CREATING
        case Phase.IN_SERVICE:
            return Activity.RUNNING
        case Phase.UPDATING:
            return Activity.UPDATING
    return Activity.WAITING


def counted_cost(candidate: Candidate, budget: BudgetLimit) -> Decimal | None:
    """What `candidate` counts under `budget`; None when the budget refuses it."""
    price = candidate.hourly if candidate.hourly is not None else budget.unknown_price
    if price is None:
        return None
    return price * 2 if candidate.activity == Activity.UPDATING else price


def _usd(amount: Decimal | None) -> str:
    return f"{format_usd(amount)} USD/h"


def _wait(candidate: Candidate, budget: BudgetLimit, spend: Decimal) -> Wait:
    cost = counted_cost(candidate, budget)
    if cost is None:
        message = (
            f"the price of this endpoint is unknown and EndpointPolicy {budget.policy}"
            " sets no budget.unknownPriceUSDPerHour"
        )
    else:
        message = (
            f"waiting for room in the budget of EndpointPolicy {budget.policy}:"
            f" {_usd(spend)} of {_usd(budget.usd_per_hour)} in use,"
            f" this endpoint needs {_usd(cost)}"
        )
    return Wait(budget.policy, spend, budget.usd_per_hour, cost, message)


def _park(budget: BudgetLimit, spend: Decimal, refused: bool) -> Park:
    if refused:
        message = (
            f"the price of this endpoint is unknown and EndpointPolicy {budget.policy}"
            " (onDecrease: Park) sets no budget.unknownPriceUSDPerHour"
        )
    else:
        message = (
            f"over the budget of EndpointPolicy {budget.policy} (onDecrease: Park):"
            f" {_usd(spend)} running for {_usd(budget.usd_per_hour)}; the newest are parked first"
        )
    return Park(budget.policy, spend, budget.usd_per_hour, message)


def _order(candidate: Candidate) -> tuple[datetime, str]:
    return candidate.since, candidate.uid


def decide(candidates: Iterable[Candidate], budgets: Mapping[str, BudgetLimit]) -> BudgetDecision:
    """Who runs, who waits and who is parked; see the module docstring for the rules."""
    everyone = sorted(candidates, key=_order)
    if len({c.uid for c in everyone}) != len(everyone):
        raise ValueError("candidates must have distinct uids")
    unknown = {name for c in everyone for name in c.budgets} - set(budgets)
    if unknown:
        raise ValueError(f"candidates name budgets that were not given: {sorted(unknown)}")

    spend = {name: Decimal(0) for name in budgets}
    for runner in (c for c in everyone if c.runs):
        for name in runner.budgets:
            spend[name] += counted_cost(runner, budgets[name]) or Decimal(0)

    park: dict[str, Park] = {}
    for runner in reversed([c for c in everyone if c.runs]):  # newest first
        for name in sorted(runner.budgets):
            budget = budgets[name]
            if budget.on_decrease != OnDecrease.PARK:
                continue
            refused = counted_cost(runner, budget) is None
            if refused or spend[name] > budget.usd_per_hour:
                park[runner.uid] = _park(budget, spend[name], refused)
                for other in runner.budgets:
                    spend[other] -= counted_cost(runner, budgets[other]) or Decimal(0)
                break

    start: set[str] = set()
    wait: dict[str, Wait] = {}
    for waiter in (c for c in everyone if not c.runs):
        blocking = None
        for name in sorted(waiter.budgets):
            cost = counted_cost(waiter, budgets[name])
            if cost is None or spend[name] + cost > budgets[name].usd_per_hour:
                blocking = name
                break
        if blocking is not None:
            wait[waiter.uid] = _wait(waiter, budgets[blocking], spend[blocking])
            continue
        start.add(waiter.uid)
        for name in waiter.budgets:
            spend[name] += counted_cost(waiter, budgets[name]) or Decimal(0)

    kept = {c.uid for c in everyone if c.runs and c.uid not in park}
    waiting = {name: sum(1 for w in wait.values() if w.budget == name) for name in budgets}
    return BudgetDecision(
        run=frozenset(kept | start),
        start=frozenset(start),
        wait=wait,
        park=park,
        spend=spend,
        waiting=waiting,
    )


def budgets_by_policy(limits: Iterable[BudgetLimit]) -> dict[str, BudgetLimit]:
    """The `budgets` argument of `decide`, from the budgets of the policies in force."""
    return {limit.policy: limit for limit in limits}
