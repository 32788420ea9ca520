"""What arrives on the event queues, carried into the operator: wake requests from routes, idle
alarm and endpoint state changes from EventBridge.

Runs on the queues' listener threads. Alarm and endpoint changes update what the next pass
reads (the idle monitor, the sweep directory) and wake the object whose endpoint it is: the
object that proved the endpoint's incarnation its own (or created it), and no other. An object
that merely names the endpoint (an `EndpointNameConflict`) never registers for its events, and
deleting it changes nothing for the owner. A wake
request is acted on only when everything a real request through the object's route implies
holds: the object exists under that uid, namespace and name; its route at that path is in the
route registry under the same uid; `wakeOnRequest` is on; it is parked because it was idle now,
with wakes left today. Then its `sagemeter.io/wake` annotation is set to a value derived from
that park, so the same request twice, a forged copy, or a restart while the message waits,
wakes it once. An extend request (`POST <path>/_meter`) is checked the same way (the object,
its account and region, `selfService` at that path, the route registry) and handed to the
object's self-service (`controller.self_service`), which applies it or refuses it with an Event.

The queue of an account is shared by every namespace there, and a tenant can send to it as
fast as its own route is called. So a wake request the dispatcher has already acted on costs
nothing more: the annotation is patched once per (object, park), and a refusal is logged once
per (object, reason), however many copies follow. Handling a flood is then the queue's
receive and delete calls alone, ten messages each.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sagemeter.api.models import WAKE_ANNOTATION
from sagemeter.controller.observer import Observer
from sagemeter.core.endpoint.naming import endpoint_of_alarm
from sagemeter.core.routes import RouteRecord
from sagemeter.core.self_service import MAX_MESSAGE_AGE, ExtendRequest
from sagemeter.core.wake import (
    AlarmChange,
    EndpointChange,
    Wakeable,
    WakeRequest,
    extend_refusal,
    holder_refusal,
    wake_refusal,
    wake_token,
)
from sagemeter.idle.alarms import IdleAlarms
from sagemeter.runtime.kube import Kube
from sagemeter.runtime.loops import Nudge
from sagemeter.wake.event_queues import Queue
from sagemeter.wake.listener import Message

log = logging.getLogger("sagemeter.wake")
# After a start, a wake request for an object not seen yet waits (its pass may simply not have
# run yet); after this long an unknown uid is dropped.
STARTUP_GRACE_SECONDS = 30.0
# Carries an extend request into the object: (the object, the request, why it is refused or
# None); True when the message is done with (`controller.self_service.Extensions.handle`).
Extend = Callable[["Known", ExtendRequest, str | None], bool]


@dataclass(frozen=True)
class Known(Wakeable):
    """An object as its last pass left it, as much as events need."""

    endpoint_name: str
    wake: str | None  # the sagemeter.io/wake annotation now
    # Who holds the object's path in its route's REST API (the route registry), when routed.
    holder: Callable[[], RouteRecord | None] | None
    # True: the last pass proved the endpoint's incarnation the object's own (or created it);
    # False: it is someone else's, or absent; None: the pass could not tell (keep as it was).
    owns_endpoint: bool | None = None
    max_extends_per_day: int = 24


class EventDispatcher:
    def __init__(
        self,
        observer: Observer,
        idle: IdleAlarms,
        kube: Kube,
        nudge: Nudge,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.observer = observer
        self.idle = idle
        self.kube = kube
        self._nudge = nudge
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._objects: dict[str, Known] = {}
        self._endpoints: dict[tuple[str, str, str], str] = {}
        self.extend: Extend | None = None
        # Per uid: the wake token this process last set, and the refusal it last logged.
        self._woken: dict[str, str] = {}
        self._refusals: dict[str, str] = {}

    def kept(self) -> int:
        """Objects known (one per live object)."""
        return len(self._objects)

    def remember(self, known: Known) -> None:
        with self._lock:
            previous = self._objects.get(known.uid)
            self._objects[known.uid] = known
            if previous is not None and _endpoint_key(previous) != _endpoint_key(known):
                self._release(previous)
            key = _endpoint_key(known)
            if known.owns_endpoint:
                self._endpoints[key] = known.uid
            elif known.owns_endpoint is False:
                self._release(known)

    def forget(self, uid: str) -> None:
        with self._lock:
            known = self._objects.pop(uid, None)
            self._woken.pop(uid, None)
            self._refusals.pop(uid, None)
            if known is not None:
                self._release(known)

    def _release(self, known: Known) -> None:
        """Drops the object's registration for its endpoint's events, never another's."""
        key = _endpoint_key(known)
        if self._endpoints.get(key) == known.uid:
            del self._endpoints[key]

    def owner_of(self, scope: str, region: str, endpoint_name: str) -> str | None:
        """The uid whose pass proved the endpoint its own (whom its events wake)."""
        with self._lock:
            return self._endpoints.get((scope, region, endpoint_name))

    def handle(self, queue: Queue, message: Message) -> bool:
        """True when the message is done with (delete it), False to see it again later."""
        if isinstance(message, AlarmChange):
            endpoint = endpoint_of_alarm(message.alarm_name)
            if endpoint is not None:
                self.idle.note(queue.scope, queue.region, endpoint)
                # An idle alarm is a deadline: its park goes ahead of ordinary passes.
                self._nudge_endpoint(queue, endpoint, urgent=True)
            return True
        if isinstance(message, EndpointChange):
            if self.observer.note(queue.scope, queue.region, message.endpoint_name, message.status):
                self._nudge_endpoint(queue, message.endpoint_name)
            return True
        if isinstance(message, ExtendRequest):
            return self._extend_request(queue, message)
        return self._wake_request(queue, message)

    def _extend_request(self, queue: Queue, request: ExtendRequest) -> bool:
        with self._lock:
            known = self._objects.get(request.uid)
        if known is None:
            # Not seen since the start (yet): wait a little, then drop.
            return self._clock() - self._started > STARTUP_GRACE_SECONDS
        refused = extend_refusal(known, queue.scope, queue.region, request)
        if refused is None:
            refused = _holder_refusal(known)
        if refused is None and request.stale:
            refused = f"the request is older than {MAX_MESSAGE_AGE} s"
        if refused is not None:
            log.warning(
                "extend request for %s/%s refused: %s", request.namespace, request.name, refused
            )
        if self.extend is None:
            return True
        return self.extend(known, request, refused)

    def _nudge_endpoint(self, queue: Queue, endpoint_name: str, urgent: bool = False) -> None:
        with self._lock:
            uid = self._endpoints.get((queue.scope, queue.region, endpoint_name))
        if uid is not None:
            self._nudge(uid, urgent)

    def _wake_request(self, queue: Queue, request: WakeRequest) -> bool:
        with self._lock:
            known = self._objects.get(request.uid)
        if known is None:
            # Not seen since the start (yet): wait a little, then drop.
            return self._clock() - self._started > STARTUP_GRACE_SECONDS
        refused = wake_refusal(known, queue.scope, queue.region, request)
        if refused is None:
            refused = _holder_refusal(known)
        if refused is not None:
            with self._lock:
                repeated = self._refusals.get(request.uid) == refused
                self._refusals[request.uid] = refused
            if not repeated:
                log.warning(
                    "wake request for %s/%s refused: %s", request.namespace, request.name, refused
                )
            return True
        assert known.idle_parked_at is not None
        token = wake_token(known.idle_parked_at)
        with self._lock:
            self._refusals.pop(request.uid, None)
            done = known.wake == token or self._woken.get(request.uid) == token
        if not done:
            if not self.kube.set_annotation(known.namespace, known.name, WAKE_ANNOTATION, token):
                return True
            with self._lock:
                self._woken[request.uid] = token
            log.info(
                "woken by a request: %s/%s (request %s)",
                known.namespace,
                known.name,
                request.request_id or "-",
            )
        return True


def _endpoint_key(known: Known) -> tuple[str, str, str]:
    return (known.scope, known.region, known.endpoint_name)


def _holder_refusal(known: Known) -> str | None:
    """Only what the object's record allows asks the route registry (which may read the REST
    API from AWS)."""
    holder = known.holder() if known.holder else None
    return holder_refusal(known.uid, holder.uid if holder else None)
