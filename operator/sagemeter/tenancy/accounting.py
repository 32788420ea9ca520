"""What one reconcile pass tells the budget book about its object, and hears back.

hold(book, ctx, now)   -> why the object must wait for budget, or None: it may run
count(book, ctx, desired, phase, now)   after the pass: what the object counts now
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sagemeter.api.models import ConditionType, ParkedReason, Phase
from sagemeter.core.endpoint.desired import Desired
from sagemeter.core.meter.times import parse_time
from sagemeter.core.tenancy.budget import Activity, Candidate, activity_for
from sagemeter.runtime.context import Context
from sagemeter.tenancy.book import BudgetBook


def candidate(
    ctx: Context, phase: Phase | None, now: datetime, hourly: Decimal | None
) -> Candidate:
    """The object as the book counts it: running since it became ready, or waiting since a
    budget first held it back (the book keeps the first report's instant; after a restart the
    Parked condition's transition time keeps the order, to the second)."""
    activity = activity_for(phase)
    conditions = {c.type: c for c in ctx.status.conditions}
    held = conditions.get(ConditionType.PARKED)
    ready = conditions.get(ConditionType.READY)
    since = now
    if activity == Activity.WAITING and held is not None and held.reason == "OverBudget":
        since = parse_time(held.last_transition_time) if held.last_transition_time else now
    elif activity != Activity.WAITING and ready is not None and ready.status == "True":
        since = parse_time(ready.last_transition_time) if ready.last_transition_time else now
    return Candidate(ctx.uid, ctx.budgets, hourly, activity, since, ctx.namespace)


def hold(book: BudgetBook, ctx: Context, now: datetime, hourly: Decimal | None) -> str | None:
    book.report(candidate(ctx, ctx.status.phase, now, hourly), ctx.uid)
    verdict = book.verdict(ctx.uid)
    return None if verdict.runs else (verdict.message or "over budget")


def count(
    book: BudgetBook,
    ctx: Context,
    desired: Desired,
    phase: Phase | None,
    now: datetime,
    hourly: Decimal | None,
) -> None:
    if not ctx.budgets:
        book.report(None, ctx.uid)
        return
    runs = activity_for(phase) != Activity.WAITING
    wants = desired.running or desired.reason == ParkedReason.OVER_BUDGET
    book.report(candidate(ctx, phase, now, hourly) if runs or wants else None, ctx.uid)
