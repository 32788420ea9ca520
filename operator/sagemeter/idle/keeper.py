"""The idle alarm of a pass's endpoint, kept in a worker thread, with an Event for every
change made to it in AWS (`IdleAlarms` does the AWS side, `core.idle` decides)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sagemeter.core.endpoint import naming
from sagemeter.core.endpoint.tags import resource_tags
from sagemeter.core.meter.times import parse_time
from sagemeter.idle.alarms import IdleAlarms, IdleView
from sagemeter.runtime.context import Context
from sagemeter.runtime.workers import Workers

# An Event on the object: (ctx, type, reason, message).
Event = Callable[[Context, str, str, str], None]


class AlarmKeeper:
    def __init__(self, idle: IdleAlarms, workers: Workers, event: Event) -> None:
        self.idle = idle
        self.workers = workers
        self.event = event

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
            self.event(
                ctx,
                "Normal",
                "IdleAlarmSet",
                f"alarm {naming.alarm_name(ctx.endpoint_name)} parks the endpoint after"
                f" {ctx.spec.idle.after} without invocations",
            )
        return view

    async def drop(self, ctx: Context, remembered: bool = True) -> None:
        if remembered and self.idle.dropped(ctx):
            return
        if await self.workers.run(self.idle.drop, ctx, remembered):
            self.event(
                ctx,
                "Normal",
                "IdleAlarmDeleted",
                f"deleted alarm {naming.alarm_name(ctx.endpoint_name)}",
            )
