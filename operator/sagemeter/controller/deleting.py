"""The deleting half of the reconcile pass: what an object takes with it from AWS.

The pass observes and proves ownership as always; `core.endpoint.deletion.plan_deletion`
decides; this carries the plan out: delete the endpoint (one step, then the pass comes back),
then release an adopted endpoint, drop the alarm, remove the route and key, and collect the
models and configs, each only where it is proven the object's own.
"""

from __future__ import annotations

from collections.abc import Callable

from sagemeter.controller.acting import Actor
from sagemeter.controller.cleanup import Cleanup
from sagemeter.controller.observer import Observation
from sagemeter.controller.reporting import Reporter
from sagemeter.core.discovery import DISCOVERED
from sagemeter.core.endpoint.deletion import plan_deletion
from sagemeter.core.endpoint.plan import Action, Step
from sagemeter.core.endpoint.status import Seen
from sagemeter.idle.keeper import AlarmKeeper
from sagemeter.routes.sync import RouteSync
from sagemeter.runtime.context import Context


class Deleter:
    def __init__(
        self,
        dry_run: bool,
        actor: Actor,
        cleanup: Cleanup,
        alarms: AlarmKeeper,
        routes: RouteSync,
        reporter: Reporter,
    ) -> None:
        self.dry_run = dry_run
        self.actor = actor
        self.cleanup = cleanup
        self.alarms = alarms
        self.routes = routes
        self.reporter = reporter

    async def delete(
        self,
        ctx: Context,
        observation: Observation,
        seen: Callable[[], Seen],
    ) -> tuple[Step | None, Seen | None]:
        """(the step taken, what it leaves) while the endpoint still has to go; (None, None)
        once nothing is left to do in AWS."""
        endpoint, ownership = observation.endpoint, observation.ownership
        plan = plan_deletion(
            ctx.spec.deletion_policy,
            self.dry_run,
            ctx.spec.adopt,
            ownership.verdict if ownership else None,
            endpoint.view() if endpoint else None,
            ctx.endpoint_name,
        )
        if plan.step is not None:
            now = seen()
            if plan.step.action == Action.DELETE:
                now = await self.actor.act(ctx, plan.step, None, now)
            return plan.step, now
        if plan.release and endpoint is not None:
            discovered = ctx.labels.get(DISCOVERED) == "true"
            await self.cleanup.release(ctx, endpoint.arn, ctx.spec.adopt, discovered)
        if plan.drop_alarm:
            await self.alarms.drop(ctx, remembered=False)  # one question per deletion
        if plan.remove_route and (
            ctx.spec.api is not None or ctx.status.invoke_url or ctx.status.api_key_secret
        ):
            await self.routes.remove(ctx)
        if plan.collect_garbage:
            await self.cleanup.collect_garbage(ctx, keep=set())
        if plan.event is not None:
            self.reporter.event(ctx, *plan.event)
        return None, None

    def leave(self, ctx: Context, reason: str | None, message: str | None) -> None:
        """Deletion of an object sagemeter may not act for: nothing in AWS is touched."""
        where = ctx.status.aws
        left = (
            f"; endpoint {ctx.endpoint_name} is left in account {where.account_id} region"
            f" {where.region}"
            if where is not None and ctx.status.endpoint_arn
            else ""
        )
        self.reporter.event(ctx, "Warning", "NotDeleted", f"{reason}: {message}{left}")
