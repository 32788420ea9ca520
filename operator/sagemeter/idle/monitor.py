"""Idle signals per endpoint, from region-wide CloudWatch batches.

One ``IdleMonitor`` per region keeps the latest idle-alarm state and last invocation of every
watched endpoint. When its batch is older than ``max_age`` (the operator's sync interval), the
next ``signal`` refreshes all watched endpoints of the region at once: one ``DescribeAlarms``
per 100 alarm names and one ``GetMetricData`` per 500 metric queries (one per production
variant an endpoint serves; the variants of an endpoint are added up). So 100 idle-policed
endpoints cost about 2 CloudWatch calls per interval, not 200, which keeps the SPEC's "idle
data in batches" and its call budget.

Endpoints watched or invalidated since the last batch (a new object, an alarm just created or
changed) are read on their next ``signal`` in a small batch of their own, without resetting
the region's refresh clock, so a fresh alarm is never judged by a stale read.

The metric window is the last 3 hours (``METRIC_WINDOW``), aligned to whole minutes: long
enough to show recent traffic in ``status.lastInvocationAt``, short enough that 500 queries
fit in one ``GetMetricData`` response. An endpoint last called before the window gets None, and
callers keep the value they had. The idle decision itself never depends on the window: it is
the alarm's state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sagemeter.aws.cloudwatch import CloudWatchGateway
from sagemeter.core.endpoint.naming import alarm_name
from sagemeter.core.idle import ALARM_STATE

__all__ = ["METRIC_WINDOW", "IdleMonitor", "IdleSignal", "metric_window"]

METRIC_WINDOW: Final = timedelta(hours=3)
_MINUTE: Final = timedelta(minutes=1)


@dataclass(frozen=True)
class IdleSignal:
    """What CloudWatch said about one endpoint in the latest batch."""

    alarm_state: str | None  # OK | ALARM | INSUFFICIENT_DATA; None: there is no alarm
    alarm: dict[str, Any] | None  # the DescribeAlarms entry, for core.idle.alarm_matches
    last_invocation_at: datetime | None  # start of the latest minute with invocations

    @property
    def idle(self) -> bool:
        return self.alarm_state == ALARM_STATE


_NO_SIGNAL: Final = IdleSignal(None, None, None)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def metric_window(now: datetime, window: timedelta = METRIC_WINDOW) -> tuple[datetime, datetime]:
    """[start, end) in whole minutes, ending after the current minute.

    CloudWatch answers fastest for times aligned to the period, and the current, unfinished
    minute may already hold invocations.
    """
    end = now.replace(second=0, microsecond=0) + _MINUTE
    return end - window, end


class IdleMonitor:
    """Idle signals for the endpoints of one region, refreshed in batches. Thread-safe."""

    def __init__(
        self,
        gateway: CloudWatchGateway,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
        window: timedelta = METRIC_WINDOW,
    ) -> None:
        self._gateway = gateway
        self._max_age = max_age
        self._clock = clock
        self._now = now
        self._window = window
        # One lock for state and refreshes: threads that find the batch stale wait for the one
        # refreshing it instead of each sending the same calls.
        self._lock = threading.Lock()
        self._watched: dict[str, tuple[str, ...]] = {}  # endpoint name -> its variants
        self._pending: set[str] = set()  # watched or invalidated since their last read
        self._signals: dict[str, IdleSignal] = {}
        self._refreshed_at: float | None = None

    # ------------------------------------------------------------------ what to watch

    def watch(self, endpoint_name: str, variants: Sequence[str]) -> None:
        """Includes the endpoint, with the production variants it serves (``DescribeEndpoint``'s
        names), in every batch from now on; idempotent. Other variants than last time are read
        again on the next ``signal``."""
        names = tuple(sorted(set(variants)))
        if not names:
            raise ValueError(f"{endpoint_name}: no production variants to watch")
        with self._lock:
            if self._watched.get(endpoint_name) != names:
                self._watched[endpoint_name] = names
                self._pending.add(endpoint_name)

    def unwatch(self, endpoint_name: str) -> None:
        """Drops the endpoint from the batches (parked, deleted or without an idle policy)."""
        with self._lock:
            self._watched.pop(endpoint_name, None)
            self._pending.discard(endpoint_name)
            self._signals.pop(endpoint_name, None)

    def note(self, endpoint_name: str) -> bool:
        """An alarm state change arrived on the event queue: the endpoint's next ``signal``
        reads its alarm again. The state the message claims is never taken as it is: in the
        queue's account an IAM identity policy is enough to send to the queue, so whoever may
        send could otherwise park any endpoint there with a forged "ALARM". True when the
        endpoint is watched."""
        with self._lock:
            if endpoint_name not in self._watched:
                return False
            self._pending.add(endpoint_name)
            return True

    def invalidate(self, endpoint_name: str) -> None:
        """Re-reads the endpoint on its next ``signal`` (after its alarm was put or deleted)."""
        with self._lock:
            if endpoint_name in self._watched:
                self._pending.add(endpoint_name)

    @property
    def watched(self) -> list[str]:
        with self._lock:
            return sorted(self._watched)

    # ------------------------------------------------------------------ reading

    def signal(self, endpoint_name: str) -> IdleSignal:
        """The endpoint's idle signal from the latest batch, refreshing the region's batch
        when it is older than ``max_age``; nothing for an endpoint not watched (``watch``
        first: only the caller knows its variants). Raises ``AwsError`` when a needed read
        fails; the next call tries again."""
        with self._lock:
            if endpoint_name not in self._watched:
                return _NO_SIGNAL
            started = self._clock()
            if self._refreshed_at is None or started - self._refreshed_at >= self._max_age:
                self._refresh_all()
            elif endpoint_name in self._pending:
                # Everything pending rides along: endpoints watched at about the same time
                # (an operator start, a burst of new objects) share these calls.
                self._read(sorted(self._pending))
            return self._signals.get(endpoint_name, _NO_SIGNAL)

    def _refresh_all(self) -> None:
        names = sorted(self._watched)
        self._read(names)
        # Signals of endpoints unwatched meanwhile are gone with unwatch; keep only these.
        self._signals = {name: self._signals[name] for name in names if name in self._signals}
        self._refreshed_at = self._clock()

    def _read(self, names: list[str]) -> None:
        """One batch over ``names``: their alarms and their last invocations. Called with the
        lock held."""
        if not names:
            return
        start, end = metric_window(self._now(), self._window)
        alarms = self._gateway.describe_alarms([alarm_name(name) for name in names])
        invocations = self._gateway.last_invocations(
            {name: (name, self._watched[name]) for name in names}, start, end
        )
        for name in names:
            alarm = alarms.get(alarm_name(name))
            self._signals[name] = IdleSignal(
                alarm_state=alarm.get("StateValue") if alarm is not None else None,
                alarm=alarm,
                last_invocation_at=invocations.get(name),
            )
        self._pending.difference_update(names)
