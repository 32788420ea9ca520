"""Notifications of what a person should act on (SPEC §7), the pure half.

* **What notifies** (`active_notices`): read from the status a pass has just written, never from
  what the pass did, so every notice names a transition that is already recorded with its time:
  `ExpiringSoon` (the condition turned True), `Parked` with its reason (`OverBudget` included:
  one message per park), `WokenByRequest` (the Parked condition's reason while a request's wake
  starts the endpoint), `ExtendedByRequest` (the extension's time, handed in by the caller), and
  each kind of `Degraded` once per episode (again only after the condition cleared).
* **Once** (`pending`, `recorded`): with the object's uid, (reason, transition time) is the
  `dedupeKey`. `status.notified` lists the transitions sent; a notice not listed is sent, then
  listed by the next pass. Only a crash between sending and listing repeats one, with the same
  key. Transitions older than `NOTIFY_WITHIN` when first seen (an upgrade, a topic configured
  later, a publish that kept failing) are not sent at all.
* **The message** (`subject`, `message`, `attributes`): the subject `sagemeter: <namespace>/<name>
  <reason>` is ASCII and under SNS's 100 characters (long names cut with a hash); the message is
  JSON with the object, reason, expiry, time left and how to extend; the attributes `namespace`,
  `name`, `reason`, `event` and `dedupeKey` serve subscription filter policies.

A status a tenant forges can at worst hide its own notifications (a forged record) or announce
its own object again (a moved transition time); `Notifier` caps how often one object notifies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sagemeter.api.models import (
    Condition,
    ConditionType,
    ManagedEndpointStatus,
    NotificationRecord,
)
from sagemeter.core.endpoint.naming import short_hash
from sagemeter.core.meter.durations import format_duration
from sagemeter.core.meter.times import parse_time

__all__ = [
    "NOTIFY_WITHIN",
    "SUBJECT_MAX",
    "ExtendHints",
    "Notice",
    "active_notices",
    "attributes",
    "message",
    "pending",
    "recorded",
    "subject",
]

NOTIFY_WITHIN: Final = timedelta(hours=1)
# SNS Publish: "Subjects must be UTF-8 text with no line breaks or control characters, and less
# than 100 characters long" (botocore's sns model).
SUBJECT_MAX: Final = 99
SUBJECT_PREFIX: Final = "sagemeter: "
RECORDS_KEPT: Final = 20
WOKEN_BY_REQUEST: Final = "WokenByRequest"
EXTENDED_BY_REQUEST: Final = "ExtendedByRequest"


@dataclass(frozen=True)
class Notice:
    """One transition a person should hear about."""

    event: str  # ExpiringSoon | Parked | WokenByRequest | ExtendedByRequest | Degraded
    reason: str  # what the subject and the `reason` attribute say
    at: str  # when it happened (RFC 3339), as status recorded it
    detail: str = ""

    def key(self, uid: str) -> str:
        """The `dedupeKey`: the same transition always has the same key."""
        return f"{uid}/{self.reason}/{self.at}"

    def record(self) -> NotificationRecord:
        return NotificationRecord(event=self.event, reason=self.reason, at=self.at)


def _notice(condition: Condition, event: str, reason: str | None = None) -> Notice | None:
    if not condition.last_transition_time:
        return None
    return Notice(
        event,
        reason or condition.reason or event,
        condition.last_transition_time,
        condition.message or "",
    )


def active_notices(status: ManagedEndpointStatus, extended: Iterable[Notice] = ()) -> list[Notice]:
    """Every notifiable transition the status shows now (plus the extensions handed in)."""
    found: list[Notice | None] = []
    for condition in status.conditions:
        if condition.type == ConditionType.EXPIRING_SOON and condition.status == "True":
            found.append(_notice(condition, "ExpiringSoon", "ExpiringSoon"))
        elif condition.type == ConditionType.PARKED:
            if condition.status == "True":
                found.append(_notice(condition, "Parked"))
            elif condition.reason == WOKEN_BY_REQUEST:
                found.append(_notice(condition, WOKEN_BY_REQUEST, WOKEN_BY_REQUEST))
        elif condition.type == ConditionType.DEGRADED and condition.status == "True":
            found.append(_notice(condition, "Degraded"))
    return [n for n in found if n is not None] + list(extended)


def _fresh(notice: Notice, now: datetime) -> bool:
    try:
        return now - parse_time(notice.at) <= NOTIFY_WITHIN
    except ValueError:
        return False


def pending(
    active: Iterable[Notice], records: Iterable[NotificationRecord] | None, now: datetime
) -> list[Notice]:
    """The active notices still to send: not recorded, and recent enough to be news."""
    sent = {(r.reason, r.at) for r in records or ()}
    return [n for n in active if (n.reason, n.at) not in sent and _fresh(n, now)]


def recorded(
    records: Iterable[NotificationRecord] | None,
    sent: Iterable[Notice],
    active: Iterable[Notice],
) -> list[NotificationRecord] | None:
    """`status.notified` after `sent` went out: what still names a live transition.

    A record stays while a notice of its event with the same transition time is active, so a
    Degraded condition that changes its reason back and forth without clearing notifies each
    kind once; once the condition clears (a new transition time), its records go.
    """
    live = {(n.event, n.at) for n in active}
    merged: dict[tuple[str, str], NotificationRecord] = {}
    for record in [*(records or ()), *(n.record() for n in sent)]:
        if (record.event, record.at) in live:
            merged[(record.reason, record.at)] = record
    kept = sorted(merged.values(), key=lambda r: r.at)[-RECORDS_KEPT:]
    return kept or None


# --------------------------------------------------------------------------- the message


@dataclass(frozen=True)
class ExtendHints:
    """How to extend the object, as the message tells a person."""

    kubectl: str
    curl: str | None = None  # with spec.api.selfService


def kubectl_extend(namespace: str, name: str, duration: str = "1h") -> str:
    return f"kubectl sagemeter extend {name} {duration} -n {namespace}"


def _ascii(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)


def subject(namespace: str, name: str, reason: str) -> str:
    """`sagemeter: <namespace>/<name> <reason>`, ASCII and at most `SUBJECT_MAX` characters:
    an object named too long to fit keeps its start and a hash of the whole."""
    who, reason = _ascii(f"{namespace}/{name}"), _ascii(reason)[:40]
    room = SUBJECT_MAX - len(SUBJECT_PREFIX) - len(reason) - 1
    if len(who) > room:
        digest = short_hash(f"{namespace}/{name}")
        who = f"{who[: room - len(digest) - 1]}~{digest}"
    return f"{SUBJECT_PREFIX}{who} {reason}"


def message(
    notice: Notice,
    *,
    uid: str,
    namespace: str,
    name: str,
    status: ManagedEndpointStatus,
    now: datetime,
    hints: ExtendHints,
    max_expires_at: str | None = None,
) -> dict[str, Any]:
    """The JSON message: the object, what happened, its expiry, time left, how to extend."""
    left: str | None = None
    if status.expires_at:
        remaining = max(parse_time(status.expires_at) - now, timedelta(0))
        left = format_duration(timedelta(seconds=int(remaining.total_seconds())))
    extend: dict[str, str] = {"kubectl": hints.kubectl}
    if hints.curl:
        extend["curl"] = hints.curl
    return {
        "namespace": namespace,
        "name": name,
        "uid": uid,
        "event": notice.event,
        "reason": notice.reason,
        "detail": notice.detail,
        "at": notice.at,
        "phase": status.phase,
        "parkedReason": status.parked_reason,
        "expiresAt": status.expires_at,
        "maxExpiresAt": max_expires_at,
        "timeLeft": left,
        "hourlyCostUSD": status.hourly_cost_usd,
        "extend": extend,
        "dedupeKey": notice.key(uid),
    }


def attributes(namespace: str, name: str, notice: Notice, uid: str) -> Mapping[str, str]:
    """SNS message attributes (all strings) for subscription filter policies."""
    return {
        "namespace": namespace,
        "name": name,
        "reason": notice.reason,
        "event": notice.event,
        "dedupeKey": notice.key(uid),
    }
