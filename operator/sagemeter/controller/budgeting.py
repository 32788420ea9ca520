"""Budgets in the reconcile pass: what the object's endpoint counts, priced from what AWS
shows, and what the budget book says about starting it or sending its update.

* The target's price: the spec's (`core.meter.pricing.endpoint_hourly`) for a config sagemeter
  writes; for one it uses as is (an existing EndpointConfig, an adopted endpoint's), the price
  of the fleet AWS describes (`Fleets`).
* While the endpoint runs a fleet other than the target (an update is wanted or under way), that
  fleet is priced from its own config as AWS describes it, never from status: both count while
  SageMaker runs them side by side, and an update is sent only when both fit (SPEC §5 "Budget").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sagemeter.aws.sagemaker import EndpointDescription
from sagemeter.controller.fleets import Fleets
from sagemeter.core.endpoint.requests import Target
from sagemeter.core.meter.pricing import PriceTable, endpoint_hourly
from sagemeter.core.tenancy.budget import Activity, activity_of
from sagemeter.runtime.context import Context
from sagemeter.tenancy.accounting import Spend, hold, report
from sagemeter.tenancy.book import BudgetBook


@dataclass(frozen=True)
class BudgetCall:
    """What the book allows this pass: `over_budget` (a message) when the endpoint may not
    run; `update_waits` (a message) when it runs on and its update is not to be sent yet."""

    over_budget: str | None = None
    update_waits: str | None = None


class Budgeting:
    def __init__(self, book: BudgetBook | None, fleets: Fleets, prices: PriceTable) -> None:
        self.book = book
        self.fleets = fleets
        self.prices = prices

    async def target_hourly(self, ctx: Context, target: Target | None) -> Decimal | None:
        """The target fleet's price (no target: the spec's)."""
        if target is None or target.owns_config:
            return endpoint_hourly(ctx.spec, self.prices)
        return await self.fleets.hourly(ctx, target.config_name)

    async def spend(
        self,
        ctx: Context,
        endpoint: EndpointDescription | None,
        status: str | None,
        target: Target | None,
        hourly: Decimal | None,
    ) -> Spend:
        """The object's own endpoint (`endpoint`, as observed before this pass acted; `status`
        what it is now), priced. A fleet that is not the target is priced from its config."""
        runs = activity_of(status) in (Activity.RUNNING, Activity.UPDATING)
        config = endpoint.config_name if endpoint is not None else None
        if target is None and runs and config:
            return Spend(status, await self.fleets.hourly(ctx, config), started=_started(endpoint))
        replacing = runs and target is not None and bool(config) and config != target.config_name
        current = await self.fleets.hourly(ctx, config) if replacing and config else None
        return Spend(status, hourly, current, replacing, _started(endpoint))

    async def before(
        self, ctx: Context, endpoint: EndpointDescription | None, target: Target, now: datetime
    ) -> tuple[Decimal | None, BudgetCall]:
        """Before a running object acts: its target's price, and what the book allows (nothing
        to ask without budgets)."""
        if self.book is None or not ctx.budgets:
            return None, BudgetCall()
        hourly = await self.target_hourly(ctx, target)
        status = endpoint.status if endpoint else None
        spend = await self.spend(ctx, endpoint, status, target, hourly)
        return hourly, self.hold(ctx, spend, now)

    def hold(self, ctx: Context, spend: Spend, now: datetime) -> BudgetCall:
        """Before acting: may the endpoint start, may its update go out?"""
        if self.book is None or not ctx.budgets:
            return BudgetCall()
        verdict = hold(self.book, ctx, spend, now)
        if not verdict.runs:
            return BudgetCall(over_budget=verdict.message or "over budget")
        if verdict.update_waits:
            return BudgetCall(update_waits=verdict.message or "over budget")
        return BudgetCall()

    def report(self, ctx: Context, spend: Spend | None, wants: bool, now: datetime) -> None:
        """After the pass: what the object counts now."""
        if self.book is not None:
            report(self.book, ctx, spend, wants, now)


def _started(endpoint: EndpointDescription | None) -> datetime | None:
    return endpoint.creation_time if endpoint is not None else None
