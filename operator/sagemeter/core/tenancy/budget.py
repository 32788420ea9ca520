"""Budgets: who runs and who waits (SPEC §5 "Budget").

    decide(candidates, budgets) -> BudgetDecision

A candidate is an endpoint that should run by every other rule (not suspended,
expired, out of schedule or idle): it runs now (`Running`, `Creating`,
`Updating`) or wants to start (`Waiting`: new, or parked `OverBudget`). Each
carries the budgets that apply to it (one per selecting policy that has one),
the hourly price of its target fleet (None: unknown) and, while the fleet that
runs is not the target (`replacing`: an update is wanted or under way), the price
of the fleet that runs (`current`). What decides the activity is what SageMaker
shows (`activity_of`), never the object's status, which tenants may write.

What an endpoint counts under a budget: the price of what runs, or the budget's
`unknownPriceUSDPerHour` when that price is unknown (unset: the endpoint is
refused by that budget). While `Updating`, both fleets run (blue/green): the old
one and the target count together (twice the price when they cost the same).

The decision, in two passes:

1. **Park** (budgets with `onDecrease: Park` only): running endpoints are
   visited newest first (latest `since`); one is parked when a Park budget of
   its is over its limit at that moment, or refuses it (unknown price). Budgets
   with `onDecrease: Queue` never park anything: running endpoints keep their
   place (one a Queue budget refuses keeps running and counts nothing there).
2. **Start**: waiting endpoints, and running ones whose update waits to be sent,
   are visited in the order they began to wait (`since`, then uid); one starts
   (is created, or its update is sent) when every budget of its has room for what
   that adds (the new fleet) on top of what runs (including those started before it
   in this pass), else it waits, naming the first budget without room. An update
   that waits is not sent: the fleet that runs stays as it is. A later, smaller
   endpoint may start while an earlier, larger one waits (backfill).

Properties (tested with Hypothesis in tests/unit/test_tenancy_budget.py):

* **Limits.** After a decision, for every budget B: spend(B) <= limit(B); except
  when B is a Queue budget under which nothing was started: then spend(B) is the
  spend of B's running endpoints that were kept, which may exceed a lowered limit.
  An update counts as started: once sent, both its fleets fit the budget.
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

    `since`: when it began to wait (Waiting), or when it started running (the others; only
    the order matters, for "park the newest first"). `replacing`: the fleet that runs is not
    the target (`current` is its price; None: unknown): an update is wanted (Running) or under
    way (Updating); `asked`: when an update that waits began to wait (None: `since`).
    """

    uid: str
    budgets: frozenset[str]
    hourly: Decimal | None
    activity: Activity
    since: datetime
    namespace: str = ""
    current: Decimal | None = None
    replacing: bool = False
    asked: datetime | None = None

    @property
    def runs(self) -> bool:
        return self.activity != Activity.WAITING

    @property
    def update_waits(self) -> bool:
        """It runs a fleet that is not its target, and the update is not sent yet."""
        return self.activity == Activity.RUNNING and self.replacing

    @property
    def pending(self) -> bool:
        """It asks for room: to start, or to send its update."""
        return not self.runs or self.update_waits


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


def activity_of(sagemaker_status: str | None) -> Activity:
    """How an endpoint counts, by the status SageMaker shows for it (None: there is none).

    Creating counts as starting; Updating and RollingBack as both fleets (blue/green); every
    other status in which it serves or may serve again (InService, OutOfService,
    SystemUpdating, UpdateRollbackFailed) as running; nothing, Failed (replaced by a new
    create) or Deleting (its delete was accepted: the slot is free) as not running."""
    match sagemaker_status:
        case None | "Failed" | "Deleting":
            return Activity.WAITING
        case "Creating":
            return Activity.CREATING
        case "Updating" | "RollingBack":
            return Activity.UPDATING
    return Activity.RUNNING


def _price(value: Decimal | None, budget: BudgetLimit) -> Decimal | None:
    return value if value is not None else budget.unknown_price


def counted_cost(candidate: Candidate, budget: BudgetLimit) -> Decimal | None:
    """What `candidate` counts under `budget` now; None when the budget refuses it."""
    target = _price(candidate.hourly, budget)
    if not candidate.runs or candidate.activity == Activity.CREATING:
        return target
    if not candidate.replacing:
        if target is None:
            return None
        return target * 2 if candidate.activity == Activity.UPDATING else target
    running = _price(candidate.current, budget)
    if candidate.activity == Activity.RUNNING:
        return running
    return None if running is None or target is None else running + target


def added_cost(candidate: Candidate, budget: BudgetLimit) -> Decimal | None:
    """What starting `candidate` adds under `budget`: its fleet, or, for an update, the new
    fleet that runs beside the old one; None when the budget refuses it (an update also when
    it cannot price the fleet that runs: both must fit while both run)."""
    if candidate.update_waits and _price(candidate.current, budget) is None:
        return None
    return _price(candidate.hourly, budget)


def _usd(amount: Decimal | None) -> str:
    return f"{format_usd(amount)} USD/h"


def _wait(candidate: Candidate, budget: BudgetLimit, spend: Decimal) -> Wait:
    cost = added_cost(candidate, budget)
    if cost is None:
        message = (
            f"the price of this endpoint is unknown and EndpointPolicy {budget.policy}"
            " sets no budget.unknownPriceUSDPerHour"
        )
    elif candidate.update_waits:
        message = (
            f"the update waits for room in the budget of EndpointPolicy {budget.policy}:"
            f" {_usd(spend)} of {_usd(budget.usd_per_hour)} in use, the new fleet needs"
            f" {_usd(cost)} beside the one that runs (blue/green); the running fleet stays"
            " as it is, and the update is sent once there is room: raise the budget, park"
            " another endpoint, or undo the change"
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


def _asking_order(candidate: Candidate) -> tuple[datetime, str]:
    """When it began to ask for room: to start, or to send its update."""
    if candidate.update_waits and candidate.asked is not None:
        return candidate.asked, candidate.uid
    return _order(candidate)


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
    asking = sorted((c for c in everyone if c.pending and c.uid not in park), key=_asking_order)
    for waiter in asking:
        blocking = None
        for name in sorted(waiter.budgets):
            cost = added_cost(waiter, budgets[name])
            if cost is None or spend[name] + cost > budgets[name].usd_per_hour:
                blocking = name
                break
        if blocking is not None:
            wait[waiter.uid] = _wait(waiter, budgets[blocking], spend[blocking])
            continue
        start.add(waiter.uid)
        for name in waiter.budgets:
            spend[name] += added_cost(waiter, budgets[name]) or Decimal(0)

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
