"""Publishing notifications over SNS, off the reconcile pass: retried with backoff, never in the
way of a pass, each transition once.

A pass hands over a `Delivery` (one notice, every topic it goes to, the identity to publish as)
and moves on. One daemon thread publishes, topic by topic; a failed publish is tried again after
2, 4, 8 ... up to 300 seconds, until the transition is no longer news (`NOTIFY_WITHIN` after it
happened), and its first failure per topic is reported (an Event on the object). Once every
topic has it, the notice waits in `sent(uid)` and the object's pass is woken to record it in
`status.notified`; `recorded` then forgets it. A notice already sent or on its way is not taken
twice. While peering pauses this replica nothing is published: the active replica sends what
was not recorded, with the same `dedupeKey`.

One object notifies at most `per_hour` times an hour: a tenant who rewrites its own status to
move a transition time cannot flood the topic its EndpointPolicy shares with other namespaces.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sagemeter.aws.clients import Identity
from sagemeter.aws.errors import AwsError
from sagemeter.aws.sns import TopicGateway, topic_region
from sagemeter.core.notify import Notice

__all__ = ["Delivery", "Notifier"]

log = logging.getLogger("sagemeter.notify")

FIRST_RETRY = 2.0
LAST_RETRY = 300.0
Report = Callable[[str, str], None]  # (topic, what went wrong)
Publisher = Callable[[str, Identity | None], TopicGateway]


@dataclass
class Delivery:
    uid: str
    notice: Notice
    topics: list[str]
    identity: Identity | None
    subject: str
    message: Mapping[str, object]
    attributes: Mapping[str, str]
    # Monotonic time after which the transition is no longer news: the delivery is dropped.
    stale_at: float
    report: Report = field(default=lambda topic, error: None, repr=False)
    attempts: int = 0
    failed: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        return self.notice.key(self.uid)


class Notifier:
    def __init__(
        self,
        wake: Callable[[str], None],
        active: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
        publisher: Publisher | None = None,
        per_hour: int = 12,
        first_retry: float = FIRST_RETRY,
    ) -> None:
        self._wake = wake
        self._active = active
        self._clock = clock
        self._publisher = publisher or self._gateway
        self._per_hour = per_hour
        self._first_retry = first_retry
        self._cv = threading.Condition()
        self._due: list[tuple[float, int, Delivery]] = []
        self._order = itertools.count()
        self._busy: set[str] = set()  # keys queued or being published
        self._sent: dict[str, list[Notice]] = {}
        self._history: dict[str, deque[float]] = {}
        self._gateways: dict[tuple[str, Identity | None], TopicGateway] = {}
        self._stopped = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ what passes call

    def submit(self, delivery: Delivery) -> bool:
        """Queues the delivery; False when that transition is already on its way or sent, or
        the object has notified `per_hour` times this hour."""
        with self._cv:
            key = delivery.key
            if key in self._busy or delivery.notice in self._sent.get(delivery.uid, ()):
                return False
            now = self._clock()
            history = self._history.setdefault(delivery.uid, deque())
            while history and now - history[0] > 3600:
                history.popleft()
            if len(history) >= self._per_hour:
                log.warning(
                    "%s: not sent, the object already notified %d times this hour",
                    key,
                    len(history),
                )
                return False
            history.append(now)
            self._busy.add(key)
            heapq.heappush(self._due, (now, next(self._order), delivery))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sagemeter-notifier", daemon=True
                )
                self._thread.start()
            self._cv.notify()
            return True

    def sent(self, uid: str) -> list[Notice]:
        """Notices published to every topic, not yet recorded in the object's status."""
        with self._cv:
            return list(self._sent.get(uid, ()))

    def recorded(self, uid: str, notices: list[Notice]) -> None:
        """The object's status now lists these: forget them."""
        with self._cv:
            left = [n for n in self._sent.get(uid, ()) if n not in notices]
            if left:
                self._sent[uid] = left
            else:
                self._sent.pop(uid, None)

    def in_flight(self) -> int:
        """Deliveries queued or being published."""
        with self._cv:
            return len(self._busy)

    def forget(self, uid: str) -> None:
        with self._cv:
            self._sent.pop(uid, None)
            self._history.pop(uid, None)
            self._due = [item for item in self._due if item[2].uid != uid]
            heapq.heapify(self._due)
            self._busy = {k for k in self._busy if not k.startswith(f"{uid}/")}

    def stop(self, wait: float = 5.0) -> None:
        """Stops publishing; waits up to `wait` seconds for a publish under way."""
        with self._cv:
            self._stopped = True
            self._cv.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(wait)

    # ------------------------------------------------------------------ the thread

    def _gateway(self, topic: str, identity: Identity | None) -> TopicGateway:
        key = (topic_region(topic), identity)
        if key not in self._gateways:
            self._gateways[key] = TopicGateway(key[0], identity=identity)
        return self._gateways[key]

    def _next(self) -> Delivery | None:
        with self._cv:
            while not self._stopped:
                if self._due and self._due[0][0] <= self._clock():
                    return heapq.heappop(self._due)[2]
                wait = self._due[0][0] - self._clock() if self._due else None
                self._cv.wait(wait)
            return None

    def _run(self) -> None:
        while (delivery := self._next()) is not None:
            try:
                self._deliver(delivery)
            except Exception:  # one bad delivery must not stop the others
                log.exception("notification %s failed", delivery.key)
                self._done(delivery, sent=False)

    def _deliver(self, delivery: Delivery) -> None:
        if not self._active():
            # Paused by peering: what is unrecorded is the active replica's to send.
            self._done(delivery, sent=False)
            return
        body = json.dumps(delivery.message, separators=(",", ":"))
        for topic in list(delivery.topics):
            try:
                self._publisher(topic, delivery.identity).publish(
                    topic,
                    delivery.subject,
                    body,
                    delivery.attributes,
                    delivery.key,
                    delivery.uid,
                )
            except AwsError as error:
                if topic not in delivery.failed:
                    delivery.failed.add(topic)
                    delivery.report(topic, f"{error.code}: {error.message}")
                log.warning("publishing %s to %s failed: %s", delivery.key, topic, error)
                continue
            delivery.topics.remove(topic)
            log.info("notified %s: %s", topic, delivery.subject)
        if not delivery.topics:
            self._done(delivery, sent=True)
            return
        delivery.attempts += 1
        delay = min(self._first_retry * 2 ** (delivery.attempts - 1), LAST_RETRY)
        if self._clock() + delay > delivery.stale_at:
            log.warning(
                "giving up on %s: %s still failing and the news is old",
                delivery.key,
                ", ".join(delivery.topics),
            )
            self._done(delivery, sent=False)
            return
        with self._cv:
            heapq.heappush(self._due, (self._clock() + delay, next(self._order), delivery))

    def _done(self, delivery: Delivery, sent: bool) -> None:
        with self._cv:
            self._busy.discard(delivery.key)
            if sent:
                self._sent.setdefault(delivery.uid, []).append(delivery.notice)
        if sent:
            self._wake(delivery.uid)
