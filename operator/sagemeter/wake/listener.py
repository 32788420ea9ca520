"""Long-poll an event queue and hand each message over: one daemon thread per queue.

`ReceiveMessage` waits up to 20 s for messages, so a quiet queue costs three calls a minute
and a message arrives within about a second. Each message goes to `handle(queue, message, age)`;
it is deleted when `handle` says it is done with it, or when it is older than 60 s (a stale
wake request, an old event; a stale extend request is handed over marked stale, to be
refused), or when it cannot be read. A message `handle` could not act on yet
stays and comes back after its visibility timeout (a restarted operator sees it again).
While the process runs no object (a replica that peering paused) it does not receive, and
what a long poll brings back after the pause it leaves alone: the messages are the active
replica's (they are visible again after the queue's visibility timeout).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sagemeter.aws.clients import Identity
from sagemeter.aws.errors import AwsError
from sagemeter.aws.sqs_events import QueueGateway
from sagemeter.core.self_service import ExtendRequest
from sagemeter.core.wake import (
    MAX_MESSAGE_AGE_SECONDS,
    AlarmChange,
    EndpointChange,
    WakeRequest,
    message_age_seconds,
    parse_message,
)
from sagemeter.runtime.metrics import EVENT_QUEUES_RECEIVING
from sagemeter.wake.event_queues import Queue

log = logging.getLogger("sagemeter.wake")
Message = WakeRequest | ExtendRequest | AlarmChange | EndpointChange
Handle = Callable[[Queue, Message], bool]
BACKOFF = 5.0
PAUSED_CHECK = 1.0


class QueueListener:
    def __init__(
        self,
        queue: Queue,
        handle: Handle,
        wait: int = 20,
        active: Callable[[], bool] = lambda: True,
        identity: Identity | None = None,
    ) -> None:
        """Receives as `identity`: a shared reader of the queue's account (a policy's session,
        or None for the operator's own identity)."""
        self.queue = queue
        self.identity = identity
        self._handle = handle
        self._active = active
        self._wait = wait
        self._stop = threading.Event()
        self._gateway = QueueGateway(queue.region, identity=identity)
        self.received = 0

    def start(self) -> None:
        reader = self.identity.policy if self.identity is not None else "operator"
        name = f"sagemeter-queue-{self.queue.account}-{self.queue.region}-{reader}"
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        receiving = False
        try:
            while not self._stop.is_set():
                if not self._active():
                    # A paused replica (peering) leaves the queue to the active one.
                    if receiving:
                        EVENT_QUEUES_RECEIVING.dec()
                        receiving = False
                    self._stop.wait(PAUSED_CHECK)
                    continue
                if not receiving:
                    EVENT_QUEUES_RECEIVING.inc()
                    receiving = True
                self._receive()
        finally:
            if receiving:
                EVENT_QUEUES_RECEIVING.dec()

    def _receive(self) -> None:
        try:
            messages = self._gateway.receive(self.queue.url, self._wait)
        except AwsError as error:
            log.warning("receiving from %s failed: %s", self.queue.url, error)
            self._stop.wait(BACKOFF)
            return
        if not self._active():
            return  # paused during the long poll: the messages come back to the active replica
        done: list[str] = []
        for message in messages:
            self.received += 1
            try:
                if self._done(message):
                    done.append(str(message["ReceiptHandle"]))
            except Exception:  # one bad message must not stop the queue
                log.exception("handling a message from %s failed", self.queue.url)
        try:
            if failed := self._gateway.delete(self.queue.url, done):
                log.warning(
                    "%d handled messages not deleted from %s; they come back",
                    failed,
                    self.queue.url,
                )
        except AwsError as error:
            log.warning("deleting handled messages from %s failed: %s", self.queue.url, error)

    def _done(self, message: dict[str, object]) -> bool:
        attributes = message.get("Attributes") or {}
        sent = attributes.get("SentTimestamp") if isinstance(attributes, dict) else None
        age = message_age_seconds(str(sent) if sent else None, datetime.now(UTC))
        stale = age is not None and age > MAX_MESSAGE_AGE_SECONDS
        parsed = parse_message(str(message.get("Body") or ""))
        if parsed is None:
            return True
        if stale:
            if not isinstance(parsed, ExtendRequest):
                return True
            # Refused, and its object told so (SPEC §7).
            parsed = dataclasses.replace(parsed, stale=True)
        return self._handle(self.queue, parsed)
