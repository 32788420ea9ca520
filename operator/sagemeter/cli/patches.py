"""The patches `kubectl sagemeter` and its web page send: one builder per action.

`extend`, `park`, `resume` and `wake` on the command line and the page's Extend, Suspend,
Resume and Wake buttons send exactly these JSON merge patches, with field manager
`FIELD_MANAGER`, so `metadata.managedFields` tells a person's change from the operator's and
from a GitOps tool's. The builders are pure (the object as read and the clock are parameters);
`sagemeter.cli.actions` reads, patches and retries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sagemeter.api.models import WAKE_ANNOTATION
from sagemeter.core.endpoint.desired import current_expiry, extended_expiry, max_expiry
from sagemeter.core.meter.times import format_time

FIELD_MANAGER = "sagemeter-cli"

Patch = dict[str, Any]


class NothingToExtend(ValueError):
    """The endpoint has no expiry at all, so there is no meter to top up."""


def suspended(obj: dict[str, Any]) -> bool:
    return bool((obj.get("spec") or {}).get("suspend"))


def extend_patch(obj: dict[str, Any], duration: Any, now: datetime) -> tuple[Patch, datetime]:
    """`expiresAt = max(now, current expiry) + duration`, capped at the maximum lifetime
    (`status.maxExpiresAt`: the operator's and the EndpointPolicies'), and the new expiry.

    The patch carries the `resourceVersion` it was computed from: a top-up made meanwhile by
    someone else is a 409, re-read and added to, never overwritten. A top-up the cap leaves
    nothing of is refused, saying why.
    """
    name = obj["metadata"]["name"]
    current = current_expiry(obj)
    if current is None:
        raise NothingToExtend(
            f"{name} never expires (no spec.expiry and no operator default),"
            " so there is nothing to extend; set spec.expiry.ttl or"
            " spec.expiry.expiresAt to put it on a meter"
        )
    new = extended_expiry(current, now, duration)
    limit = max_expiry(obj)
    if limit is not None:
        if max(current, now) >= limit:
            raise NothingToExtend(
                f"{name} has reached its maximum lifetime: it cannot run past"
                f" {format_time(limit)} (the operator's SAGEMETER_MAX_LIFETIME or an"
                " EndpointPolicy's maxLifetime), so there is nothing to extend"
            )
        new = min(new, limit)
    patch = {
        "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
        "spec": {"expiry": {"expiresAt": format_time(new)}},
    }
    return patch, new


def park_patch(obj: dict[str, Any]) -> Patch | None:
    """`spec.suspend: true`; None when it is already suspended."""
    return None if suspended(obj) else {"spec": {"suspend": True}}


def resume_patch(obj: dict[str, Any]) -> Patch | None:
    """`spec.suspend: false`; None when it is not suspended."""
    return {"spec": {"suspend": False}} if suspended(obj) else None


def wake_value(obj: dict[str, Any], clock: datetime) -> str:
    """A new value for the wake annotation: the time, to the microsecond if the second's
    value is already there (woken twice in a second is still a new value)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = format_time(clock)
    if annotations.get(WAKE_ANNOTATION) == value:
        value = clock.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def wake_patch(obj: dict[str, Any], clock: datetime) -> Patch:
    """The wake annotation set to a new value and, when suspended, `spec.suspend: false`."""
    patch: Patch = {"metadata": {"annotations": {WAKE_ANNOTATION: wake_value(obj, clock)}}}
    if suspended(obj):
        patch["spec"] = {"suspend": False}
    return patch
