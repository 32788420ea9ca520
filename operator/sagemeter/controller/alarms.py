"""The idle alarm of a pass's endpoint, with an Event for every change made to it in AWS."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sagemeter.controller.reporting import Reporter
from sagemeter.core.endpoint import naming
from sagemeter.core.endpoint.tags import resource_tags
from sagemeter.core.meter.times import parse_time
from sagemeter.idle.alarms import IdleAlarms, IdleView
from sagemeter.runtime.context import Context
from sagemeter.runtime.workers import Workers


class Alarms:
    def __init__(self, idle: IdleAlarms, workers: Workers, reporter: Reporter) -> None:
        self.idle = idle
        self.workers = workers
        self.reporter = reporter

    async def keep(self, ctx: Context, now: datetime, variants: Sequence[str]) -> IdleView:
        """Keep the idle alarm of an InService endpoint (proven ours) over the production
        ``variants`` it serves; is it idle?"""
        if ctx.spec.idle is None:
            return IdleView()
        ready = next((c for c in ctx.status.conditions if c.type == "Ready"), None)
        since = (
            parse_time(ready.last_transition_time)
            if ready is not None and ready.status == "True" and ready.last_transition_time
            else now
        )
        view = await self.workers.run(
            self.idle.keep,
            ctx,
            ctx.spec.idle.after,
            ctx.spec.idle.grace_period,
            since,
            now,
            resource_tags(ctx.owner, ctx.spec.tags, adopted=ctx.spec.adopt),
            variants,
        )
        if view.alarm_set:
            self.reporter.event(
                ctx,
                "Normal",
                "IdleAlarmSet",
                f"alarm {naming.alarm_name(ctx.endpoint_name)} parks the endpoint after"
                f" {ctx.spec.idle.after} without invocations",
            )
        return view

    async def drop(self, ctx: Context) -> None:
        if await self.workers.run(self.idle.drop, ctx):
            self.reporter.event(
                ctx,
                "Normal",
                "IdleAlarmDeleted",
                f"deleted alarm {naming.alarm_name(ctx.endpoint_name)}",
            )
