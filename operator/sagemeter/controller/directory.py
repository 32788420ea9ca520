"""What SageMaker endpoints exist, per region, from paged `ListEndpoints` sweeps.

One sweep serves every object in a region, so the steady state costs a few
calls per region per sync interval instead of a `DescribeEndpoint` per object.
Each row carries the endpoint's incarnation (creation and modification times), so a
pass can tell from the sweep alone whether the endpoint is still the one its status
describes. Entries learnt from a `DescribeEndpoint` or from our own action in between
are kept until the next sweep, so an endpoint created a moment ago is not mistaken
for a missing one. A sweep that failed is not tried again for a few seconds: the objects
waiting on it share its error instead of each sending the same failing call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sagemeter.aws.sagemaker import EndpointSummary
from sagemeter.core.endpoint.observe import SETTLED, Sighting
from sagemeter.core.endpoint.ownership import Incarnation

FAILED_SWEEP_PAUSE = 5.0  # seconds before a failed sweep is tried again


@dataclass(frozen=True)
class _Entry:
    sighting: Sighting
    seen_at: float


def sighting_of(summary: EndpointSummary) -> Sighting:
    return Sighting(
        summary.status,
        Incarnation(summary.name, summary.creation_time, summary.last_modified_time),
        summary.arn,
    )


class EndpointDirectory:
    def __init__(
        self,
        sweep: Callable[[], dict[str, EndpointSummary]],
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sweep = sweep
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._swept_at: float | None = None
        self._entries: dict[str, _Entry] = {}
        self._failure: tuple[float, Exception] | None = None

    def lookup(self, name: str) -> Sighting:
        """The endpoint as of the latest sweep or describe (sweeping when stale)."""
        with self._lock:
            self._fresh()
            found = self._entries.get(name)
            return found.sighting if found is not None else Sighting(None)

    def cached(self, name: str) -> Sighting | None:
        """The endpoint as of the latest sweep or describe, without sweeping and without waiting
        for a sweep under way: None when one is due or running (then `lookup`, from a worker
        thread). A pass whose listing is fresh takes no thread for it."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if self._stale(self._clock()):
                return None
            found = self._entries.get(name)
            return found.sighting if found is not None else Sighting(None)
        finally:
            self._lock.release()

    def entries(self) -> dict[str, Sighting]:
        """Every endpoint of the region as of the latest sweep or describe (sweeping when
        stale): the orphan sweep reads the same listing the passes do."""
        with self._lock:
            self._fresh()
            return {name: entry.sighting for name, entry in self._entries.items()}

    def _fresh(self) -> None:
        """Sweep when the last sweep is stale (lock held)."""
        now = self._clock()
        if self._stale(now):
            if self._failure is not None and now - self._failure[0] < min(
                FAILED_SWEEP_PAUSE, self._max_age
            ):
                raise self._failure[1].with_traceback(None)
            try:
                swept = self._sweep()
            except Exception as error:
                self._failure = (self._clock(), error)
                raise
            self._failure = None
            self._swept_at = self._clock()
            fresh = {n: _Entry(sighting_of(s), self._swept_at) for n, s in swept.items()}
            # Keep describes that are newer than this sweep's start.
            for other, entry in self._entries.items():
                if entry.seen_at > now and other not in fresh:
                    fresh[other] = entry
            self._entries = fresh

    def _stale(self, now: float) -> bool:
        """Whether a sweep is due (lock held)."""
        return self._swept_at is None or now - self._swept_at >= self._max_age

    def record(self, name: str, sighting: Sighting) -> None:
        """Remember what a describe (or our own action) just showed."""
        with self._lock:
            self._entries[name] = _Entry(sighting, self._clock())

    def note(self, name: str, status: str) -> bool:
        """An endpoint state change event: True when it tells something new. An event
        repeating the settled status already known (EventBridge may send one twice; our own
        describe may have come first) leaves the entry, incarnation and all, as it is."""
        with self._lock:
            found = self._entries.get(name)
            if found is not None and found.sighting.status == status and status in SETTLED:
                return False
            self._entries[name] = _Entry(Sighting(status), self._clock())
            return True

    def forget(self, name: str) -> None:
        """Drop what is known of `name`: the next pass describes it."""
        with self._lock:
            self._entries.pop(name, None)
