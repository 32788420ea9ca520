"""Wake on request and events from AWS, as one reconcile pass sees them.

`Waking` owns the event queues (one per account and region, made on the first pass that needs
one), their listeners (one per queue and shared reader: each policy of the account long-polls
as its own session), and the dispatcher that carries their messages into the operator. A pass
asks it: was this object just woken by a request (`woken_by_request`), what its route answers
while the endpoint does not serve (`hold`), and tells it what the object is now (`remember`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sagemeter.api.models import WAKE_ANNOTATION, ManagedEndpointStatus, ParkedReason, WakeCount
from sagemeter.aws.clients import Identity
from sagemeter.aws.errors import AwsError
from sagemeter.aws.gateway import known_scope
from sagemeter.controller.events import EventDispatcher, Known
from sagemeter.controller.observer import Observer
from sagemeter.core.endpoint.desired import Desired
from sagemeter.core.wake import RouteHold, route_hold, wake_token, wakes_today
from sagemeter.idle.alarms import IdleAlarms
from sagemeter.routes.sync import RouteSync
from sagemeter.runtime.context import Context
from sagemeter.runtime.kube import Kube
from sagemeter.runtime.loops import Nudge
from sagemeter.runtime.workers import Workers
from sagemeter.wake.event_queues import EventQueues, Queue
from sagemeter.wake.listener import QueueListener

log = logging.getLogger("sagemeter.wake")


class Waking:
    def __init__(
        self,
        queue_name: str,
        observer: Observer,
        idle: IdleAlarms,
        kube: Kube,
        workers: Workers,
        routes: RouteSync,
        nudge: Nudge,
        active: Callable[[], bool] = lambda: True,
        cluster: str | None = None,
    ) -> None:
        self._active = active
        self.workers = workers
        self.routes = routes
        self.dispatcher = EventDispatcher(observer, idle, kube, nudge)
        self.queues = EventQueues(queue_name, cluster)
        self._lock = threading.Lock()
        self._listeners: dict[tuple[str, str, Identity | None], QueueListener] = {}

    @property
    def listeners(self) -> list[QueueListener]:
        with self._lock:
            return list(self._listeners.values())

    def _listen(self, queue: Queue, reader: Identity | None) -> None:
        """One long poll per (queue, shared reader), started on first use."""
        key = (queue.scope, queue.region, reader)
        with self._lock:
            if key in self._listeners:
                return
            listener = QueueListener(
                queue, self.dispatcher.handle, active=self._active, identity=reader
            )
            self._listeners[key] = listener
        listener.start()

    def stop(self) -> None:
        for listener in self.listeners:
            listener.stop()

    async def ensure(self, ctx: Context) -> Queue | None:
        """The queue of the object's account and region (made on first use); None when the
        operator cannot tell its own account, or AWS would not make it (the periodic sweeps
        and batches carry on without it)."""
        account = self.scope(ctx)
        if account == "self":
            return None
        api = ctx.spec.api
        sends = api is not None and (api.wake_on_request or api.self_service)
        sender = ctx.invoke_role if sends else None
        # Keyed by the account, not by ctx.scope: a context made before the operator's
        # account was learnt ("self") and one made after share one queue and one listener.
        queue = self.queues.ready(account, ctx.region, sender)
        try:
            # Made, or given a new sender, in a worker thread; known, without one (every pass
            # asks: a deadline's pass must not queue for a thread to learn nothing).
            if queue is None:
                queue = await self.workers.run(
                    self.queues.ensure, account, ctx.region, account, ctx.reader, sender
                )
        except AwsError as error:
            log.warning("no event queue in %s/%s: %s", account, ctx.region, error)
            return None
        self._listen(queue, ctx.reader)
        return queue

    def scope(self, ctx: Context) -> str:
        """The account of the object's queue: its context's scope, with "self" (the operator's
        own account before it was learnt) replaced by the account once known."""
        return known_scope(ctx.scope)

    @staticmethod
    def woken_by_request(ctx: Context) -> bool:
        """This pass ends an idle park because a request asked (see `EventDispatcher`)."""
        record = ctx.status.idle_park
        token = (ctx.body["metadata"].get("annotations") or {}).get(WAKE_ANNOTATION)
        return record is not None and token == wake_token(record.parked_at) != record.wake

    @staticmethod
    def counts(ctx: Context, woken: bool, now: datetime) -> tuple[int | None, WakeCount | None]:
        status = ctx.status
        count = wakes_today(status.wakes_today, now.date())
        if not woken:
            return status.wakes, status.wakes_today if count else None
        return (status.wakes or 0) + 1, WakeCount(date=now.date().isoformat(), count=count + 1)

    def hold(
        self,
        ctx: Context,
        desired: Desired,
        phase: str | None,
        now: datetime,
        woken: bool,
        today: WakeCount | None,
    ) -> RouteHold | None:
        api = ctx.spec.api
        if api is None:
            return None
        count = wakes_today(today, now.date())
        parked = next((c for c in ctx.status.conditions if c.type == "Parked"), None)
        return route_hold(
            running=desired.running,
            reason=desired.reason,
            phase=phase,
            wake_on_request=api.wake_on_request,
            wakes_left=count < api.max_wakes_per_day,
            woken=woken or (parked is not None and parked.reason == "WokenByRequest"),
            create_seconds=ctx.status.last_create_seconds,
            next_transition_at=desired.next_transition_at,
        )

    def remember(
        self,
        ctx: Context,
        new: ManagedEndpointStatus,
        now: datetime,
        owns_endpoint: bool | None = None,
    ) -> None:
        """What the pass left; `owns_endpoint`: whether it proved the endpoint there now the
        object's own (only then do its events reach the object)."""
        api = ctx.spec.api
        count = wakes_today(new.wakes_today, now.date())
        idle = new.parked_reason == ParkedReason.IDLE and new.idle_park is not None
        self.dispatcher.remember(
            Known(
                uid=ctx.uid,
                namespace=ctx.namespace,
                name=ctx.name,
                scope=self.scope(ctx),
                region=ctx.region,
                endpoint_name=ctx.endpoint_name,
                path=api.path.strip("/") if api else None,
                wake_on_request=bool(api and api.wake_on_request),
                idle_parked_at=new.idle_park.parked_at if idle and new.idle_park else None,
                wakes_left=api is not None and count < api.max_wakes_per_day,
                wake=(ctx.body["metadata"].get("annotations") or {}).get(WAKE_ANNOTATION),
                holder=self.routes.holder(ctx),
                owns_endpoint=owns_endpoint,
                self_service=bool(api and api.self_service),
                max_extends_per_day=api.max_extends_per_day if api else 24,
            )
        )

    def forget(self, uid: str) -> None:
        self.dispatcher.forget(uid)
