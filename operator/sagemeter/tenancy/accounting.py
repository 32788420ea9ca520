"""What one reconcile pass tells the budget book about its object, and hears back.

    hold(book, ctx, spend, now) -> BudgetVerdict    may it start; may its update be sent
    report(book, ctx, spend, wants, now)      after the pass: what it counts now

What an object counts comes from what SageMaker shows for the object's own endpoint (`Spend`,
built by the pass from its observation: the status there, the price of the target fleet and
of the fleet that runs), never from the object's status, which tenants may write: a forged
phase or `hourlyCostUSD` neither frees room nor takes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sagemeter.core.tenancy.budget import Activity, Candidate, activity_of
from sagemeter.runtime.context import Context
from sagemeter.tenancy.book import BudgetBook, BudgetVerdict


@dataclass(frozen=True)
class Spend:
    """The object's endpoint as SageMaker shows it, priced.

    `status`: SageMaker's status (None: no endpoint); `hourly`: the target fleet's price;
    `current`: the price of the fleet that runs while it is not the target (`replacing`);
    `started`: the endpoint's CreationTime (for "park the newest first")."""

    status: str | None
    hourly: Decimal | None
    current: Decimal | None = None
    replacing: bool = False
    started: datetime | None = None


def candidate(ctx: Context, spend: Spend, now: datetime) -> Candidate:
    """The object as the book counts it. A waiter's place is the instant of its first report
    (the book keeps it); a runner's is when its endpoint was created."""
    activity = activity_of(spend.status)
    since = spend.started if activity != Activity.WAITING and spend.started else now
    return Candidate(
        uid=ctx.uid,
        budgets=ctx.budgets,
        hourly=spend.hourly,
        activity=activity,
        since=since,
        namespace=ctx.namespace,
        current=spend.current,
        replacing=spend.replacing,
        asked=now,
    )


def hold(book: BudgetBook, ctx: Context, spend: Spend, now: datetime) -> BudgetVerdict:
    book.report(candidate(ctx, spend, now), ctx.uid)
    return book.verdict(ctx.uid)


def report(book: BudgetBook, ctx: Context, spend: Spend | None, wants: bool, now: datetime) -> None:
    """After the pass: `spend` None when the object has no endpoint of its own there (a
    conflict, a deletion done); `wants`: it should run, or waits for budget to."""
    if not ctx.budgets or spend is None:
        book.report(None, ctx.uid)
        return
    counted = candidate(ctx, spend, now)
    book.report(counted if counted.runs or wants else None, ctx.uid)
