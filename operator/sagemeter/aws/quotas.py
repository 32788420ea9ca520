"""Fixed rate quotas of single AWS operations, per account and region, and the pacer that keeps
sagemeter under them.

API Gateway's control plane has fixed quotas per operation that cannot be increased ("API
Gateway quotas for creating, deploying and managing an API",
https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html): CreateDeployment 1
request every 5 s per account, CreateRestApi (regional) 1 every 3 s, DeleteRestApi 1 every 30 s,
UpdateUsagePlan 1 every 20 s, GetResources 5 every 2 s. They are the operation's own, not the
account's: a throttled CreateDeployment says nothing about SageMaker in that account, so such a
throttle never opens the account's backoff (``aws.backoff``); the pacer spaces the calls
instead and a caller that would have to wait long is told so at once (``reserve``).

AWS counts a call when it arrives. For the "one call per N seconds" quotas the next slot is
therefore counted from when the previous call *ended* (``done``), and no slot is handed out while
one is in flight: however long a request travels, the next one cannot arrive within N seconds
of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

__all__ = ["PACER", "QUOTAS", "RatePacer"]

# (service, operation) -> seconds between two calls per account and region (the quota page).
QUOTAS: Final[dict[tuple[str, str], float]] = {
    ("apigateway", "CreateDeployment"): 5.0,
    ("apigateway", "CreateRestApi"): 3.0,
    ("apigateway", "DeleteRestApi"): 30.0,
    ("apigateway", "UpdateUsagePlan"): 20.0,
    ("apigateway", "GetResources"): 2.0 / 5,
}


# Quotas of one call per this many seconds or more are counted from the previous call's end.
EXCLUSIVE: Final = 1.0
IN_FLIGHT_WAIT: Final = 0.1


class RatePacer:
    """Slots per (account, region, service, operation): one call per quota interval."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._next: dict[tuple[str, str, str, str], float] = {}
        self._in_flight: set[tuple[str, str, str, str]] = set()

    @staticmethod
    def paced(service: str, operation: str) -> bool:
        return (service, operation) in QUOTAS

    def wait(self, account: str, region: str, service: str, operation: str) -> float:
        """Seconds until the next free slot (0: now; a call in flight: a moment)."""
        key = (account, region, service, operation)
        with self._lock:
            if key in self._in_flight:
                return IN_FLIGHT_WAIT
            return max(0.0, self._next.get(key, 0.0) - self._clock())

    def reserve(
        self, account: str, region: str, service: str, operation: str, max_wait: float
    ) -> float | None:
        """Takes the next slot if it comes within ``max_wait`` seconds: the wait until it
        (sleep that long, then call), or None (nothing reserved: try again later)."""
        interval = QUOTAS[(service, operation)]
        key = (account, region, service, operation)
        with self._lock:
            if key in self._in_flight:
                return None
            now = self._clock()
            slot = max(now, self._next.get(key, 0.0))
            if slot - now > max_wait:
                return None
            self._next[key] = slot + interval
            if interval >= EXCLUSIVE:
                self._in_flight.add(key)
            return slot - now

    def done(self, account: str, region: str, service: str, operation: str) -> None:
        """The call of a reserved slot ended (whatever its outcome)."""
        key = (account, region, service, operation)
        interval = QUOTAS[(service, operation)]
        with self._lock:
            if key in self._in_flight:
                self._in_flight.discard(key)
                self._next[key] = max(self._next.get(key, 0.0), self._clock() + interval)

    def throttled(
        self, account: str, region: str, service: str, operation: str, retry_after: float = 0.0
    ) -> None:
        """AWS throttled the operation anyway (another client of the account used the slot):
        no slot before a whole interval (or AWS's ``Retry-After``) from now."""
        interval = max(QUOTAS[(service, operation)], retry_after)
        key = (account, region, service, operation)
        with self._lock:
            self._next[key] = max(self._next.get(key, 0.0), self._clock() + interval)

    def reset(self) -> None:
        with self._lock:
            self._next.clear()
            self._in_flight.clear()


PACER = RatePacer()
