"""One event queue per (account, region), with the EventBridge rules that feed it.

`EventQueues.ensure(...)` creates (or finds) the queue (`SAGEMETER_EVENT_QUEUE`, default
`sagemeter-events`; server-side encrypted, tagged), sets its policy (only the API's invoke
roles and sagemeter's own EventBridge rules may send), and puts the two rules (idle alarm state
changes of `sagemeter-*` alarms, SageMaker endpoint state changes) with the queue as their
target. The queue serves every namespace of the account, so it is kept as a shared reader of
the account: the asking object's policy session (SPEC §5 "Shared readers"), or the operator's
own identity; never a tenant's namespace session. Where the operator's role may not create the
rules (a tenant account the platform provisions), it logs what is missing; the periodic sweeps
remain. A provisioned queue whose policy the role may not set is used as it is. Results are
cached per
(account, region); a new invoke role re-sets the policy.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sagemeter.aws.clients import Identity
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.aws.sqs_events import EventsGateway, QueueGateway
from sagemeter.core.wake import (
    ALARM_RULE,
    ENDPOINT_RULE,
    alarm_rule_pattern,
    endpoint_rule_pattern,
    queue_policy,
    queue_tags,
)

log = logging.getLogger("sagemeter.wake")


@dataclass
class Queue:
    scope: str
    region: str
    account: str
    url: str
    arn: str
    identity: Identity | None  # the shared reader that made or found it
    senders: set[str] = field(default_factory=set)
    rule_arns: list[str] = field(default_factory=list)


class EventQueues:
    def __init__(self, name: str, cluster: str | None = None) -> None:
        self.name = name
        self._tags = queue_tags(cluster)
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, str], Queue] = {}

    def get(self, scope: str, region: str) -> Queue | None:
        with self._lock:
            return self._queues.get((scope, region))

    def ready(self, scope: str, region: str, sender: str | None) -> Queue | None:
        """The queue of (scope, region) when `ensure` would have nothing to do (it is made, and
        `sender` may send to it); None when `ensure` must call AWS. Takes no lock, so a pass
        asks it in the event loop while another thread makes a queue: a queue is recorded,
        and a sender added, only once AWS has accepted its policy."""
        queue = self._queues.get((scope, region))
        if queue is not None and (sender is None or sender in queue.senders):
            return queue
        return None

    def ensure(
        self,
        scope: str,
        region: str,
        account: str,
        identity: Identity | None,
        sender: str | None,
    ) -> Queue:
        """The queue of (scope, region), kept as `identity` (a shared reader); `sender` (an
        invoke role) may send to it."""
        key = (scope, region)
        with self._lock:
            queue = self._queues.get(key)
            if queue is not None and (sender is None or sender in queue.senders):
                return queue
            sqs = QueueGateway(region, identity=identity)
            events = EventsGateway(region, identity=identity)
            made = queue or self._create(sqs, events, scope, region, account, identity)
            senders = made.senders | ({sender} if sender is not None else set())
            # Recorded only once the policy is set: were it refused, the next call sets it
            # again (a queue without it receives no events, and its senders are refused).
            self._set_policy(sqs, made, senders)
            made.senders = senders
            self._queues[key] = made
        return made

    def _create(
        self,
        sqs: QueueGateway,
        events: EventsGateway,
        scope: str,
        region: str,
        account: str,
        identity: Identity | None,
    ) -> Queue:
        arn = f"arn:aws:sqs:{region}:{account}:{self.name}"
        url = sqs.ensure_queue(self.name, queue_policy(arn, [], []), self._tags)
        arn = sqs.queue_arn(url)
        queue = Queue(scope, region, account, url, arn, identity)
        rules = (
            (f"{self.name}-{ALARM_RULE}", alarm_rule_pattern()),
            (f"{self.name}-{ENDPOINT_RULE}", endpoint_rule_pattern()),
        )
        for name, pattern in rules:
            try:
                queue.rule_arns.append(events.ensure_rule(name, pattern, arn, self._tags))
            except AwsError as error:
                if error.kind is not ErrorKind.TERMINAL:
                    raise
                log.warning(
                    "cannot put the EventBridge rule %s in %s/%s (%s): events from AWS reach"
                    " sagemeter only through its periodic sweeps there",
                    name,
                    account,
                    region,
                    error.message,
                )
        log.info("event queue %s ready in %s/%s", url, account, region)
        return queue

    def _set_policy(self, sqs: QueueGateway, queue: Queue, senders: set[str]) -> None:
        policy = queue_policy(queue.arn, sorted(senders), queue.rule_arns)
        try:
            sqs.set_policy(queue.url, policy)
        except AwsError as error:
            if error.kind is not ErrorKind.TERMINAL:
                raise
            # A queue the platform provisioned, with a policy the operator may not change:
            # used as it is; requests reach it only if that policy lets the invoke roles send.
            log.warning(
                "cannot set the policy of %s (%s): the queue's own policy decides who may"
                " send to it",
                queue.url,
                error.message,
            )
