"""Coalesced API Gateway deployments: many route changes in a burst, few CreateDeployment calls.

Owns ``DeploymentScheduler``. A route change only marks its region dirty and gets a change
generation; one background thread deploys a dirty region once it has been quiet for
``quiet_seconds``, and at the latest ``max_delay_seconds`` after its first undeployed change,
so a steady trickle of changes cannot postpone deployment forever. A route is deployed once
the region's deployed generation reaches the route's own. ``flush`` deploys at once (tests,
and the first API key of a region, whose usage plan needs the stage to exist).

Why coalesce: each deployment is a full snapshot of the API, API Gateway throttles
CreateDeployment hard (a few per minute per account sustained), and 30 objects applied at
once would otherwise mean 30 deployments.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sagemeter.runtime.metrics import ROUTE_DEPLOYMENTS_PENDING

__all__ = ["DeploymentScheduler"]

log = logging.getLogger("sagemeter.routes")

MAX_RETRY_SECONDS = 60.0


@dataclass
class _Region:
    changed: int = 0  # generation of the last change
    deployed: int = 0  # generation the stage is known to serve
    first_change_at: float = 0.0  # first change not yet deployed
    last_change_at: float = 0.0
    not_before: float = 0.0  # backoff after a failed deployment
    failures: int = 0

    @property
    def dirty(self) -> bool:
        return self.changed > self.deployed


class DeploymentScheduler:
    """Per-region debouncer around ``deploy(region)``.

    ``lock_for(region)`` is the lock route changes hold (re-entrant): a deployment runs under
    it, so it never snapshots a half-written route, and the generation it records covers
    exactly the changes completed before it started.
    """

    def __init__(
        self,
        deploy: Callable[[str], None],
        lock_for: Callable[[str], AbstractContextManager[object]],
        *,
        quiet_seconds: float = 1.5,
        max_delay_seconds: float = 10.0,
        retry_seconds: float = 5.0,
        on_deployed: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deploy = deploy
        self._lock_for = lock_for
        self._quiet = quiet_seconds
        self._max_delay = max_delay_seconds
        self._retry = retry_seconds
        self._on_deployed = on_deployed
        self._clock = clock
        self._cond = threading.Condition()
        self._regions: dict[str, _Region] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------ state

    def changed(self, region: str) -> int:
        """Records a completed route change in ``region``; its generation."""
        with self._cond:
            state = self._regions.setdefault(region, _Region())
            now = self._clock()
            if not state.dirty:
                state.first_change_at = now
                ROUTE_DEPLOYMENTS_PENDING.inc()
            state.changed += 1
            state.last_change_at = now
            self._start()
            self._cond.notify_all()
            return state.changed

    def deployed(self, region: str, generation: int) -> bool:
        """Whether the stage serves every change up to ``generation`` (0: nothing to wait for)."""
        with self._cond:
            state = self._regions.get(region)
            return generation <= (state.deployed if state else 0)

    def pending(self, region: str) -> bool:
        with self._cond:
            state = self._regions.get(region)
            return bool(state and state.dirty)

    def flush(self, region: str) -> None:
        """Deploys ``region`` now if it has undeployed changes; errors propagate."""
        self._run(region)

    def close(self) -> None:
        """Stops the background thread (pending changes stay undeployed)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=10)

    # ------------------------------------------------------------------ deploying

    def _run(self, region: str) -> None:
        with self._lock_for(region):
            with self._cond:
                state = self._regions.setdefault(region, _Region())
                target = state.changed
                if target <= state.deployed:
                    return
            self._deploy(region)
            with self._cond:
                was_dirty = state.dirty
                state.deployed = max(state.deployed, target)
                state.failures = 0
                state.not_before = 0.0
                if not state.dirty:
                    state.first_change_at = 0.0
                    if was_dirty:
                        ROUTE_DEPLOYMENTS_PENDING.dec()
        if self._on_deployed is not None:
            self._on_deployed(region)

    def _due_at(self, state: _Region) -> float:
        debounced = min(state.last_change_at + self._quiet, state.first_change_at + self._max_delay)
        return max(debounced, state.not_before)

    def _start(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(
                target=self._loop, name="sagemeter-route-deployments", daemon=True
            )
            self._thread.start()

    def _next_due(self) -> str | None:
        """Waits for the next region that is due; None once closed."""
        with self._cond:
            while not self._closed:
                now = self._clock()
                due = sorted(
                    (self._due_at(state), region)
                    for region, state in self._regions.items()
                    if state.dirty
                )
                if due and due[0][0] <= now:
                    return due[0][1]
                self._cond.wait(timeout=(due[0][0] - now) if due else None)
            return None

    def _loop(self) -> None:
        while (region := self._next_due()) is not None:
            try:
                self._run(region)
            except Exception as exc:  # a background thread must outlive any one failure
                with self._cond:
                    state = self._regions[region]
                    state.failures += 1
                    delay = min(MAX_RETRY_SECONDS, self._retry * 2 ** (state.failures - 1))
                    state.not_before = self._clock() + delay
                log.warning(
                    "API Gateway deployment in %s failed (%s); retrying in %.0fs",
                    region,
                    exc,
                    delay,
                )
