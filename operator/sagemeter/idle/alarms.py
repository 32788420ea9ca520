"""The idle policy's AWS side for one reconcile pass: the alarm and what it says.

While an endpoint (proven the object's own) is InService for longer than
`idle.gracePeriod`, its CloudWatch alarm exists with the settings `idle.after` asks
for; its state and the last invocation come from the region's batched `IdleMonitor`.
Parking or deleting the endpoint, or dropping `spec.idle`, deletes the alarm, so no
alarm outlives what it watches.

An alarm is changed or deleted only when its own tags name the object: an alarm of the
same name that another owner left is reported (`AlarmConflict`), never taken over.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sagemeter.aws.clients import Identity
from sagemeter.aws.cloudwatch import CloudWatchGateway
from sagemeter.aws.gateway import known_scope
from sagemeter.core.endpoint import naming
from sagemeter.core.endpoint.ownership import Owner, owner_of
from sagemeter.core.idle import alarm_matches, build_idle_alarm_request, idle_armed
from sagemeter.core.meter.durations import parse_duration
from sagemeter.idle.monitor import IdleMonitor, IdleSignal
from sagemeter.runtime.context import Context, Degraded

log = logging.getLogger("sagemeter")


@dataclass(frozen=True)
class IdleView:
    """What the pass learnt about idleness, and what it changed."""

    idle: bool = False
    last_invocation_at: datetime | None = None
    # When the grace period ends and the alarm starts to count (None: not pending).
    armed_at: datetime | None = None
    # The alarm was created or changed by this pass.
    alarm_set: bool = False


class IdleAlarms:
    """Alarms and batched idle signals. An object's alarm is put, read for its tags and deleted
    as the object (its namespace's session); the batches of an account and region are read by
    its shared reader (the policy's session, or the operator's own identity), so each call goes
    to, and backs off in, the account it really lands in."""

    def __init__(self, max_age: float) -> None:
        self._max_age = max_age
        self._gateways: dict[tuple[str, Identity | None], CloudWatchGateway] = {}
        self._monitors: dict[tuple[str, str, Identity | None], IdleMonitor] = {}
        # Objects whose alarm this process knows is not there (a drop found none, not its
        # own, or deleted it), so their next drops cost no DescribeAlarms: a parked or
        # idle-less endpoint's every pass asked again. Per object (uid), for one (account,
        # region, endpoint): another account's endpoint of the same name, or a new object of
        # the same name, is another alarm. An alarm seen or put (keep) forgets it, and the
        # object's deletion asks CloudWatch again whatever is known.
        self._absent: dict[str, tuple[str, str, str]] = {}

    def _gateway(self, region: str, identity: Identity | None) -> CloudWatchGateway:
        key = (region, identity)
        if key not in self._gateways:
            self._gateways[key] = CloudWatchGateway(region, identity=identity)
        return self._gateways[key]

    def gateway(self, ctx: Context) -> CloudWatchGateway:
        """CloudWatch as the object itself."""
        return self._gateway(ctx.region, ctx.identity)

    def monitor(self, ctx: Context) -> IdleMonitor:
        key = (ctx.scope, ctx.region, ctx.reader)
        if key not in self._monitors:
            self._monitors[key] = IdleMonitor(self._gateway(ctx.region, ctx.reader), self._max_age)
        return self._monitors[key]

    def note(self, scope: str, region: str, endpoint_name: str) -> bool:
        """An alarm state change arrived on the event queue: the alarm is read again (one
        small batch) on the endpoint's next pass, which the message wakes."""
        scope = known_scope(scope)
        found = [
            m
            for (s, r, _), m in list(self._monitors.items())
            if (known_scope(s), r) == (scope, region)
        ]
        return any([monitor.note(endpoint_name) for monitor in found])

    def keep(
        self,
        ctx: Context,
        idle_after: str,
        grace: str,
        in_service_since: datetime,
        now: datetime,
        tags: dict[str, str],
        variants: Sequence[str],
    ) -> IdleView:
        """For an InService endpoint with an idle policy: arm, update and read its alarm, over
        the production ``variants`` it serves (``DescribeEndpoint``'s names). Without them no
        alarm is kept: an alarm on a variant that publishes nothing would park a busy
        endpoint."""
        endpoint_name, owner = ctx.endpoint_name, ctx.owner
        armed_at = in_service_since + parse_duration(grace)
        if not idle_armed(in_service_since, parse_duration(grace), now):
            return IdleView(armed_at=armed_at)
        if not variants:
            log.warning("%s: no production variants known; no idle alarm", endpoint_name)
            return IdleView()
        monitor = self.monitor(ctx)
        monitor.watch(endpoint_name, variants)
        signal: IdleSignal = monitor.signal(endpoint_name)
        if signal.alarm is not None:  # there, whoever put it
            self._absent.pop(ctx.uid, None)
        request = build_idle_alarm_request(
            endpoint_name, parse_duration(idle_after), tags, variants
        )
        if signal.alarm is None or not alarm_matches(signal.alarm, request):
            if signal.alarm is not None:
                self._check_owner(ctx, signal.alarm, owner)
            self._absent.pop(ctx.uid, None)
            self.gateway(ctx).put_alarm(request)
            monitor.invalidate(endpoint_name)
            # A new or changed alarm starts over; its old state says nothing.
            return IdleView(last_invocation_at=signal.last_invocation_at, alarm_set=True)
        return IdleView(
            idle=signal.alarm_state == "ALARM",
            last_invocation_at=signal.last_invocation_at,
        )

    def drop(self, ctx: Context, remembered: bool = True) -> bool:
        """Delete the endpoint's alarm if its tags name the object; stop watching it either way.
        True when an alarm was deleted. ``remembered=False`` (the object's deletion) asks
        CloudWatch even when this process knows the alarm is not there: another replica, or
        an alarm put meanwhile outside this process, is not left behind."""
        owner, name = ctx.owner, naming.alarm_name(ctx.endpoint_name)
        self.monitor(ctx).unwatch(ctx.endpoint_name)
        where = _where(ctx)
        if remembered and self._absent.get(ctx.uid) == where:
            return False
        gateway = self.gateway(ctx)
        alarm = gateway.describe_alarms([name]).get(name)
        if alarm is None or not owner.owns(gateway.alarm_tags(str(alarm["AlarmArn"]))):
            self._absent[ctx.uid] = where
            return False
        gateway.delete_alarms([name])
        self._absent[ctx.uid] = where
        return True

    def dropped(self, ctx: Context) -> bool:
        """What `drop` does when this process knows the object has no alarm, without a call
        (so a park needs no worker thread for it): stop watching the endpoint. False when
        CloudWatch must be asked (`drop`, in a worker thread)."""
        if self._absent.get(ctx.uid) != _where(ctx):
            return False
        monitor = self._monitors.get((ctx.scope, ctx.region, ctx.reader))
        if monitor is not None:  # none yet: nothing of this reader's is watched
            monitor.unwatch(ctx.endpoint_name)
        return True

    def forget(self, uid: str) -> None:
        """The object is deleted, or its loop stopped here."""
        self._absent.pop(uid, None)

    def kept(self) -> int:
        """Objects known to have no alarm (what this keeps per object)."""
        return len(self._absent)

    def _check_owner(self, ctx: Context, alarm: dict[str, object], owner: Owner) -> None:
        tags = self.gateway(ctx).alarm_tags(str(alarm["AlarmArn"]))
        if not owner.owns(tags):
            raise Degraded(
                "AlarmConflict",
                f"CloudWatch alarm {alarm['AlarmName']} exists and belongs to"
                f" {owner_of(tags) or 'someone outside sagemeter'}; sagemeter leaves it alone:"
                " delete or rename that alarm (sagemeter names its idle alarm"
                " sagemeter-<endpoint>-idle), or remove spec.idle",
            )


def _where(ctx: Context) -> tuple[str, str, str]:
    return (known_scope(ctx.scope), ctx.region, ctx.endpoint_name)
