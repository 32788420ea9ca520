"""Requests and events that reach sagemeter through AWS: the pure half (SPEC §6).

* **What a route does while its endpoint is not serving** (`route_hold`): parked because it was
  idle, with `spec.api.wakeOnRequest` and wakes left today, the route sends a constant message
  naming the object to the region's event queue and answers `503` "waking"
  (`HoldKind.WAKING`); parked for any other reason, or still starting, it answers `503` saying
  why through a MOCK integration (`HoldKind.PARKED`). Only an endpoint that serves (InService
  or Updating on the object's own endpoint) is routed to SageMaker. So a parked route never
  points at a name someone else may take meanwhile.
* **Who may ask** (`wake_refusal`, `extend_refusal`, `holder_refusal`): a wake or extend
  request is acted on only when what a real request through the object's route implies holds,
  first by the object's own record (`Wakeable`), then by the route registry's holder of its path.
* **The queue's messages** (`parse_message`): a wake request a route sent, a CloudWatch alarm
  state change, or a SageMaker endpoint state change, as EventBridge delivers them.
* **The queue and its rules** (`queue_policy`, `alarm_rule_pattern`, `endpoint_rule_pattern`):
  the queue policy lets only the API's invoke role and EventBridge (from sagemeter's own rules)
  send.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from enum import StrEnum
from typing import Any, Final

from sagemeter.api.models import GROUP, ParkedReason, Phase, WakeCount
from sagemeter.core.self_service import (
    EXTEND_KIND,
    MAX_MESSAGE_AGE,
    ExtendRequest,
    parse_extend_message,
)

__all__ = [
    "ALARM_RULE",
    "ENDPOINT_RULE",
    "MAX_MESSAGE_AGE_SECONDS",
    "AlarmChange",
    "EndpointChange",
    "HoldKind",
    "RouteHold",
    "WakeRequest",
    "Wakeable",
    "alarm_rule_pattern",
    "endpoint_rule_pattern",
    "endpoint_status",
    "extend_refusal",
    "holder_refusal",
    "parse_message",
    "queue_policy",
    "route_hold",
    "wake_message",
    "wake_refusal",
    "wake_token",
    "wakes_today",
]

# The rules carry the queue's name in front: `<queue>-idle-alarms`, `<queue>-endpoint-states`.
ALARM_RULE: Final = "idle-alarms"
ENDPOINT_RULE: Final = "endpoint-states"
# Messages older than this are dropped: a wake request nobody acted on for a minute is stale.
MAX_MESSAGE_AGE_SECONDS: Final = MAX_MESSAGE_AGE
WAKE_KIND: Final = "sagemeter.wake"
WAKE_PREFIX: Final = "request-"
# What a client is told to wait before any create was observed (SPEC §6: 600 s); afterwards the
# duration of the last Creating -> InService (`status.lastCreateSeconds`).
DEFAULT_RETRY_SECONDS: Final = 600

SERVING: Final = frozenset({Phase.IN_SERVICE, Phase.UPDATING})


class HoldKind(StrEnum):
    WAKING = "waking"
    PARKED = "parked"


@dataclass(frozen=True)
class RouteHold:
    """What the route answers instead of the endpoint's own answer. `retry_after` is the
    `Retry-After` header's value: seconds, or an HTTP date; it never changes from one pass to
    the next (the route is rewritten, and redeployed, only when what it says changes)."""

    kind: HoldKind
    reason: str
    retry_after: str | None = None


def wakes_today(recorded: WakeCount | None, today: date) -> int:
    """Wakes counted for `today` (a count recorded for another day is over)."""
    return recorded.count if recorded is not None and recorded.date == today.isoformat() else 0


def route_hold(
    *,
    running: bool,
    reason: str | None,
    phase: Phase | str | None,
    wake_on_request: bool,
    wakes_left: bool,
    woken: bool,
    create_seconds: int | None,
    next_transition_at: datetime | None,
) -> RouteHold | None:
    """None when the route serves the endpoint; else what it answers meanwhile.

    `woken`: the endpoint is starting because a request woke it (requests meanwhile are told
    it is waking, and wake nothing more).
    """
    if running and phase in SERVING:
        return None
    retry = str(create_seconds if create_seconds is not None else DEFAULT_RETRY_SECONDS)
    if running:
        kind = HoldKind.WAKING if woken else HoldKind.PARKED
        return RouteHold(kind, "Idle" if woken else "Starting", retry)
    if reason == ParkedReason.IDLE and wake_on_request:
        if wakes_left:
            return RouteHold(HoldKind.WAKING, "Idle", retry)
        return RouteHold(HoldKind.PARKED, "WakeLimit")
    retry_after = (
        format_datetime(next_transition_at.astimezone(UTC), usegmt=True)
        if reason == ParkedReason.SCHEDULE and next_transition_at is not None
        else None
    )
    return RouteHold(HoldKind.PARKED, reason or "Parked", retry_after)


def hold_body(hold: RouteHold) -> str:
    return json.dumps({"state": hold.kind.value, "reason": hold.reason}, separators=(", ", ": "))


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class WakeRequest:
    uid: str
    namespace: str
    name: str
    path: str
    request_id: str = ""


@dataclass(frozen=True)
class Wakeable:
    """An object as its last pass left it, as much as a wake or extend request is checked
    against."""

    uid: str
    namespace: str
    name: str
    scope: str  # the account's scope ("self" or a policy's account)
    region: str
    path: str | None  # the route's path, when routed
    wake_on_request: bool
    self_service: bool  # spec.api.selfService: the route has `<path>/_meter`
    idle_parked_at: str | None  # set while parked because it was idle
    wakes_left: bool


def _sender_refusal(
    known: Wakeable, queue_scope: str, queue_region: str, namespace: str, name: str
) -> str | None:
    """Why a message for `known`'s uid cannot have come from its route: it names another
    object, or came through another account's or region's queue."""
    if (known.namespace, known.name) != (namespace, name):
        return "the message names another object for this uid"
    if (known.scope, known.region) != (queue_scope, queue_region):
        return "the message came through another account's or region's queue"
    return None


def wake_refusal(
    known: Wakeable, queue_scope: str, queue_region: str, request: WakeRequest
) -> str | None:
    """Why a wake request does not match what a real request through the object's route
    implies (None: it does, as far as the object's own record tells; `holder_refusal` then
    asks the route registry)."""
    refused = _sender_refusal(known, queue_scope, queue_region, request.namespace, request.name)
    if refused is not None:
        return refused
    if not known.wake_on_request or known.path is None or known.path != request.path:
        return "the object's route does not wake on request at this path"
    if known.idle_parked_at is None:
        return "the endpoint is not parked for being idle"
    if not known.wakes_left:
        return "no wakes left today"
    return None


def extend_refusal(
    known: Wakeable, queue_scope: str, queue_region: str, request: ExtendRequest
) -> str | None:
    """Why an extend request does not match what a real `POST <path>/_meter` through the
    object's route implies (None: it does, as far as the object's own record tells;
    `holder_refusal` then asks the route registry)."""
    refused = _sender_refusal(known, queue_scope, queue_region, request.namespace, request.name)
    if refused is not None:
        return refused
    if not known.self_service or known.path is None or known.path != request.path:
        return "the object's route has no self-service at this path"
    return None


def holder_refusal(uid: str, holder_uid: str | None) -> str | None:
    """Why a wake or extend request is refused when the route registry lists `holder_uid`
    (None: no one) at the object's path: only the object holding its route is woken or
    extended through it."""
    if holder_uid is None or holder_uid != uid:
        return "the route registry does not list this object at that path"
    return None


@dataclass(frozen=True)
class AlarmChange:
    alarm_name: str
    state: str
    previous: str | None


@dataclass(frozen=True)
class EndpointChange:
    endpoint_name: str
    status: str  # as the SageMaker API writes it: InService, Creating, ...


def wake_message(uid: str, namespace: str, name: str, path: str) -> str:
    """The constant a route sends while it waits to wake: the object's identity, never the
    caller's request; `$context.requestId` is API Gateway's own id for the request."""
    return json.dumps(
        {
            "kind": WAKE_KIND,
            "uid": uid,
            "namespace": namespace,
            "name": name,
            "path": path,
            "requestId": "$context.requestId",
        },
        separators=(",", ":"),
    )


def wake_token(parked_at: str) -> str:
    """The `sagemeter.io/wake` value a request-wake sets: one per park, so a second request
    (or the same message delivered twice) wakes nothing more."""
    return f"{WAKE_PREFIX}{parked_at}"


def endpoint_status(upper_snake: str) -> str:
    """EventBridge's `IN_SERVICE` as the SageMaker API's `InService` (`OUT_OF_SERVICE` ->
    `OutOfService`, `UPDATE_ROLLBACK_FAILED` -> `UpdateRollbackFailed`)."""
    return "".join(part.capitalize() for part in upper_snake.split("_"))


def parse_message(
    body: str,
) -> WakeRequest | ExtendRequest | AlarmChange | EndpointChange | None:
    """A queue message, or None when it is none of the four (it is dropped)."""
    try:
        doc: Any = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    if doc.get("kind") == EXTEND_KIND:
        return parse_extend_message(doc)
    if doc.get("kind") == WAKE_KIND:
        uid, namespace, name, path = (doc.get(k) for k in ("uid", "namespace", "name", "path"))
        if not all(isinstance(f, str) and f for f in (uid, namespace, name, path)):
            return None
        return WakeRequest(
            str(uid), str(namespace), str(name), str(path), str(doc.get("requestId") or "")
        )
    found = doc.get("detail")
    detail: dict[str, Any] = found if isinstance(found, dict) else {}
    if doc.get("detail-type") == "CloudWatch Alarm State Change":
        state = (detail.get("state") or {}).get("value")
        name = detail.get("alarmName")
        if isinstance(name, str) and isinstance(state, str):
            previous = (detail.get("previousState") or {}).get("value")
            return AlarmChange(name, state, previous if isinstance(previous, str) else None)
    if doc.get("detail-type") == "SageMaker Endpoint State Change":
        name, status = detail.get("EndpointName"), detail.get("EndpointStatus")
        if isinstance(name, str) and isinstance(status, str):
            return EndpointChange(name, endpoint_status(status))
    return None


def message_age_seconds(sent_ms: str | None, now: datetime) -> float | None:
    """The age of a message from SQS's `SentTimestamp` (epoch milliseconds)."""
    if not sent_ms or not sent_ms.isdigit():
        return None
    return now.timestamp() - int(sent_ms) / 1000


# --------------------------------------------------------------------------- queue and rules


def queue_policy(queue_arn: str, senders: list[str], rule_arns: list[str]) -> dict[str, Any]:
    """Only the API's invoke role(s) and EventBridge, from sagemeter's own rules, may send."""
    statements: list[dict[str, Any]] = []
    if senders:
        statements.append(
            {
                "Sid": "RoutesWake",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(senders)},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
            }
        )
    statements.append(
        {
            "Sid": "EventBridgeRules",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": sorted(rule_arns)}},
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}


def alarm_rule_pattern() -> dict[str, Any]:
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [{"prefix": "sagemeter-"}]},
    }


def endpoint_rule_pattern() -> dict[str, Any]:
    return {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Endpoint State Change"]}


QUEUE_TAGS: Final = {f"{GROUP}/managed-by": "sagemeter"}


def queue_tags(cluster: str | None) -> dict[str, str]:
    """Tags of the event queue and its rules: sagemeter's, and the cluster's."""
    return {**QUEUE_TAGS, **({f"{GROUP}/cluster": cluster} if cluster else {})}
