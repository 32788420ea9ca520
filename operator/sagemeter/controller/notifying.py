"""Notifications, as one reconcile pass sees them (SPEC §7).

Before its status write a pass records what the notifier has sent since (`record`); after the
write it hands over what the written status shows and nobody was told yet (`send`), each to
every topic of the object's EndpointPolicies (or the operator's own topic for a namespace no
policy selects), published as the object's identity. So every message names a transition
already in status with its time, and its `dedupeKey` is the same however often a crash makes
it go out again. A publish that failed is reported once per topic as a `NotificationFailed`
Event.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sagemeter.api.models import ManagedEndpointStatus
from sagemeter.core.endpoint.desired import expiry_cap
from sagemeter.core.meter.times import format_time, parse_time
from sagemeter.core.notify import (
    NOTIFY_WITHIN,
    ExtendHints,
    Notice,
    active_notices,
    attributes,
    kubectl_extend,
    message,
    pending,
    recorded,
    subject,
)
from sagemeter.notify.notifier import Delivery, Notifier, Report
from sagemeter.runtime.context import Context

__all__ = ["Notices"]

Event = Callable[[Context, str, str, str], None]


class Notices:
    def __init__(self, notifier: Notifier, event: Event) -> None:
        self.notifier = notifier
        self._event = event

    def record(
        self, ctx: Context, new: ManagedEndpointStatus, extended: list[Notice] | None = None
    ) -> None:
        """Lists in `new.notified` what went out since the last pass (and drops records of
        transitions that are over)."""
        active = active_notices(new, extended or ())
        new.notified = recorded(new.notified, self.notifier.sent(ctx.uid), active)

    def written(self, ctx: Context, new: ManagedEndpointStatus) -> None:
        """`new` is in the object's status now."""
        listed = {(r.reason, r.at) for r in new.notified or ()}
        sent = self.notifier.sent(ctx.uid)
        self.notifier.recorded(ctx.uid, [n for n in sent if (n.reason, n.at) in listed])

    def send(
        self,
        ctx: Context,
        new: ManagedEndpointStatus,
        now: datetime,
        extended: list[Notice] | None = None,
        hints: ExtendHints | None = None,
    ) -> None:
        if not ctx.topics:
            return
        cap = expiry_cap(ctx.created, ctx.expiry_policy)
        hints = hints or ExtendHints(kubectl_extend(ctx.namespace, ctx.name))
        report = self._reporter(ctx)
        for notice in pending(active_notices(new, extended or ()), new.notified, now):
            news_until = parse_time(notice.at) + NOTIFY_WITHIN
            self.notifier.submit(
                Delivery(
                    uid=ctx.uid,
                    notice=notice,
                    topics=list(ctx.topics),
                    identity=ctx.identity,
                    subject=subject(ctx.namespace, ctx.name, notice.reason),
                    message=message(
                        notice,
                        uid=ctx.uid,
                        namespace=ctx.namespace,
                        name=ctx.name,
                        status=new,
                        now=now,
                        hints=hints,
                        max_expires_at=format_time(cap) if cap else None,
                    ),
                    attributes=attributes(ctx.namespace, ctx.name, notice, ctx.uid),
                    stale_at=_monotonic_at(news_until, now),
                    report=report,
                )
            )

    def _reporter(self, ctx: Context) -> Report:
        """A Warning Event on the object, callable from the notifier's thread: Events go out
        through the operator's event loop, reached from the pass's context."""
        captured = contextvars.copy_context()
        event = self._event

        def report(topic: str, error: str) -> None:
            captured.run(
                event,
                ctx,
                "Warning",
                "NotificationFailed",
                f"publishing to {topic} failed ({error}); retrying with backoff",
            )

        return report


def _monotonic_at(instant: datetime, now: datetime) -> float:
    return time.monotonic() + max((instant - now) / timedelta(seconds=1), 0.0)
