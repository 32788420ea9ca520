"""Coalesced, paced API Gateway deployments: many route changes, few CreateDeployment calls, and
never more than API Gateway allows.

Owns ``DeploymentScheduler``: one per (account, region), over every REST API (and so every
stage) sagemeter deploys there. API Gateway allows one ``CreateDeployment`` per 5 s per account
(https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html, a fixed quota that
cannot be increased), whichever REST API it is for: so the scheduler of an account and region
deploys one REST API at a time, and never sooner than that account's next slot
(``aws.quotas.PACER``, which the call itself also respects).

A route change only marks its REST API dirty and gets a change generation; the scheduler's
thread deploys a dirty API once it has been quiet for ``quiet_seconds``, and at the latest
``max_delay_seconds`` after its first undeployed change (later if slots are taken), so a steady
trickle of changes cannot postpone deployment forever. A route is served once its API's
deployed generation reaches the route's own. Changes that only heal what a restart may have
missed (``heal=True``) wait behind real ones. How long a change waited for its deployment is
reported (``sagemeter_route_deployment_lag_seconds``), and so are the APIs still waiting.
``flush`` deploys one API at once (waiting for the slot): tests use it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, TypeVar

from sagemeter.runtime.metrics import ROUTE_DEPLOYMENT_LAG, ROUTE_DEPLOYMENTS_PENDING

__all__ = ["DeploymentScheduler"]

log = logging.getLogger("sagemeter.routes")

MAX_RETRY_SECONDS = 60.0
K = TypeVar("K", bound=Hashable)


@dataclass
class _Api:
    changed: int = 0  # generation of the last change
    deployed: int = 0  # generation the stage is known to serve
    first_change_at: float = 0.0  # first change not yet deployed
    last_change_at: float = 0.0
    not_before: float = 0.0  # backoff after a failed deployment
    failures: int = 0
    heal_only: bool = False  # every undeployed change is a restart's heal

    @property
    def dirty(self) -> bool:
        return self.changed > self.deployed


class DeploymentScheduler(Generic[K]):
    """Debounced, paced ``deploy(api)`` over the REST APIs of one account and region.

    ``lock_for(api)`` is the lock route changes of that API hold (re-entrant): a deployment
    runs under it, so it never snapshots a half-written route, and the generation it records
    covers exactly the changes completed before it started. ``slot_wait()`` says how long until
    the account's next CreateDeployment slot.
    """

    def __init__(
        self,
        deploy: Callable[[K], None],
        lock_for: Callable[[K], AbstractContextManager[object]],
        *,
        name: str = "",
        slot_wait: Callable[[], float] = lambda: 0.0,
        quiet_seconds: float = 1.5,
        max_delay_seconds: float = 10.0,
        retry_seconds: float = 5.0,
        on_deployed: Callable[[K], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deploy = deploy
        self._lock_for = lock_for
        self._name = name
        self._slot_wait = slot_wait
        self._quiet = quiet_seconds
        self._max_delay = max_delay_seconds
        self._retry = retry_seconds
        self._on_deployed = on_deployed
        self._clock = clock
        self._cond = threading.Condition()
        self._apis: dict[K, _Api] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------ state

    def changed(self, api: K, heal: bool = False) -> int:
        """Records a completed route change of ``api``; its generation."""
        with self._cond:
            state = self._apis.setdefault(api, _Api())
            now = self._clock()
            if not state.dirty:
                state.first_change_at = now
                state.heal_only = heal
                ROUTE_DEPLOYMENTS_PENDING.inc()
            elif not heal:
                state.heal_only = False
            state.changed += 1
            state.last_change_at = now
            self._start()
            self._cond.notify_all()
            return state.changed

    def deployed(self, api: K, generation: int) -> bool:
        """Whether the stage serves every change up to ``generation`` (0: nothing to wait for)."""
        with self._cond:
            state = self._apis.get(api)
            return generation <= (state.deployed if state else 0)

    def pending(self, api: K) -> bool:
        with self._cond:
            state = self._apis.get(api)
            return bool(state and state.dirty)

    def forget(self, api: K) -> None:
        """The REST API is gone: nothing of it is deployed any more."""
        with self._cond:
            state = self._apis.pop(api, None)
            if state is not None and state.dirty:
                ROUTE_DEPLOYMENTS_PENDING.dec()

    def flush(self, api: K) -> None:
        """Deploys ``api`` now if it has undeployed changes (after the account's next slot);
        errors propagate."""
        if self.pending(api):
            time.sleep(self._slot_wait())
            self._run(api)

    def close(self) -> None:
        """Stops the background thread (pending changes stay undeployed)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=10)

    # ------------------------------------------------------------------ deploying

    def _run(self, api: K) -> None:
        with self._lock_for(api):
            with self._cond:
                state = self._apis.get(api)
                if state is None or state.changed <= state.deployed:
                    return
                target, since = state.changed, state.first_change_at
            self._deploy(api)
            with self._cond:
                was_dirty = state.dirty
                state.deployed = max(state.deployed, target)
                state.failures = 0
                state.not_before = 0.0
                if not state.dirty:
                    state.first_change_at = 0.0
                    if was_dirty:
                        ROUTE_DEPLOYMENTS_PENDING.dec()
        lag = self._clock() - since
        ROUTE_DEPLOYMENT_LAG.observe(lag)
        log.debug("deployed %s %.1f s after its first change", api, lag)
        if self._on_deployed is not None:
            self._on_deployed(api)

    def _due_at(self, state: _Api) -> float:
        debounced = min(state.last_change_at + self._quiet, state.first_change_at + self._max_delay)
        return max(debounced, state.not_before)

    def _start(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(
                target=self._loop, name=f"sagemeter-deployments-{self._name}", daemon=True
            )
            self._thread.start()

    def _next_due(self) -> K | None:
        """Waits for the next API that is due and the account's next slot; None once closed.
        Real changes go before heals, then the earliest due."""
        with self._cond:
            while not self._closed:
                now = self._clock()
                dirty = [
                    (self._due_at(state), state.heal_only, api)
                    for api, state in self._apis.items()
                    if state.dirty
                ]
                ready = [entry for entry in dirty if entry[0] <= now]
                if ready:
                    wait = self._slot_wait()
                    if wait <= 0:
                        ready.sort(key=lambda entry: (entry[1], entry[0]))
                        return ready[0][2]
                    self._cond.wait(timeout=wait)
                    continue
                soonest = min((entry[0] for entry in dirty), default=None)
                self._cond.wait(timeout=(soonest - now) if soonest is not None else None)
            return None

    def _loop(self) -> None:
        while (api := self._next_due()) is not None:
            try:
                self._run(api)
            except Exception as exc:  # a background thread must outlive any one failure
                with self._cond:
                    state = self._apis.get(api)
                    if state is None:
                        continue
                    state.failures += 1
                    delay = min(MAX_RETRY_SECONDS, self._retry * 2 ** (state.failures - 1))
                    state.not_before = self._clock() + delay
                log.warning(
                    "API Gateway deployment of %s failed (%s); retrying in %.0fs", api, exc, delay
                )
