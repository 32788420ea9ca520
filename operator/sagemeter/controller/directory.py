"""What SageMaker endpoints exist, per region, from paged `ListEndpoints` sweeps.

One sweep serves every object in a region, so the steady state costs a few
calls per region per sync interval instead of a `DescribeEndpoint` per object.
Entries learnt from a `DescribeEndpoint` in between are kept until the next
sweep, so an endpoint created a moment ago is not mistaken for a missing one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sagemeter.aws.sagemaker import EndpointSummary


@dataclass(frozen=True)
class Sighting:
    status: str | None  # None: not there
    seen_at: float


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
        self._entries: dict[str, Sighting] = {}

    def lookup(self, name: str) -> Sighting:
        """The endpoint's status as of the latest sweep or describe (sweeping when stale)."""
        with self._lock:
            now = self._clock()
            if self._swept_at is None or now - self._swept_at >= self._max_age:
                found = self._sweep()
                self._swept_at = self._clock()
                fresh = {n: Sighting(s.status, self._swept_at) for n, s in found.items()}
                # Keep describes that are newer than this sweep's start.
                for other, sighting in self._entries.items():
                    if sighting.seen_at > now and other not in fresh:
                        fresh[other] = sighting
                self._entries = fresh
            return self._entries.get(name, Sighting(None, self._swept_at or now))

    def record(self, name: str, status: str | None) -> None:
        """Remember what a describe (or our own action) just showed."""
        with self._lock:
            self._entries[name] = Sighting(status, self._clock())
