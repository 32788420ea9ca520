"""One backoff per (account, region), shared by every object and every call there.

When AWS throttles an account or fails (5xx, connection errors, an outage), the first calls
that see it open the account's backoff: until it ends, calls there are refused locally (an
``AwsError`` of the same kind, no request sent), so a thousand objects do not each run their own
retry loop against an account that is already throttled. A failure once the wait is over doubles
it (with jitter, from ``BASE`` up to ``CAP`` seconds); failures of calls that were already in
flight when it opened do not, so a burst of concurrent failures counts once, and the account is
tried again within seconds of an outage ending. The first success closes it. The reconciler sleeps
the objects until the backoff ends (`remaining`), each with its own jitter, so they do not all
come back in the same instant.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["BACKOFFS", "Backoffs"]

BASE = 1.0
CAP = 60.0


@dataclass
class _State:
    failures: int = 0
    until: float = 0.0


class Backoffs:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, rand: random.Random | None = None
    ) -> None:
        self._clock = clock
        self._random = rand or random.Random()
        self._lock = threading.Lock()
        self._states: dict[tuple[str, str], _State] = {}

    def remaining(self, scope: str, region: str) -> float:
        """Seconds until calls to (scope, region) go out again (0: now)."""
        with self._lock:
            state = self._states.get((scope, region))
            return max(0.0, state.until - self._clock()) if state else 0.0

    def failed(self, scope: str, region: str) -> float:
        """A call there was throttled or failed; the wait from now."""
        with self._lock:
            state = self._states.setdefault((scope, region), _State())
            now = self._clock()
            if now < state.until:  # in flight when the backoff opened: already counted
                return state.until - now
            state.failures += 1
            wait: float = min(CAP, BASE * 2.0 ** (state.failures - 1))
            wait *= 0.5 + self._random.random() / 2  # "equal jitter"
            state.until = now + wait
            return wait

    def succeeded(self, scope: str, region: str) -> None:
        with self._lock:
            self._states.pop((scope, region), None)

    def reset(self) -> None:
        with self._lock:
            self._states.clear()

    def jitter(self, seconds: float) -> float:
        """`seconds` plus up to a quarter more, so sleepers spread out."""
        with self._lock:
            return seconds * (1 + self._random.random() / 4)


BACKOFFS = Backoffs()
