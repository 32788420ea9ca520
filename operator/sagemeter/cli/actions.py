"""Extend, park, resume and wake: read the object, send its patch, say what happened.

The command line (`sagemeter.cli.plugin`) and the web page (`sagemeter.cli.ui`) both act
through these functions, so a button and a command are the same request to the API server
(patches from `sagemeter.cli.patches`, field manager `sagemeter-cli`). Each returns what it
did; the caller words it. API errors propagate as `sagemeter.cli.access.ApiError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sagemeter.api.models import ManagedEndpointSpec
from sagemeter.cli.access import Conflict, Endpoints, PluginError, utcnow
from sagemeter.cli.patches import extend_patch, park_patch, resume_patch, wake_patch
from sagemeter.cli.table import expiry_or_none, format_time_left
from sagemeter.core.endpoint.desired import parse_windows
from sagemeter.core.meter.schedule import in_any_window, next_edge
from sagemeter.core.meter.times import format_time

CONFLICT_RETRIES = 3


@dataclass(frozen=True)
class Extended:
    expires_at: datetime
    now: datetime


@dataclass(frozen=True)
class Woken:
    value: str  # the new sagemeter.io/wake annotation
    cleared_suspend: bool
    note: str | None  # why waking alone will not bring it back, if it will not


@dataclass(frozen=True)
class Toggled:
    changed: bool  # False: spec.suspend already had the value asked for
    note: str | None = None


def extend(
    endpoints: Endpoints, name: str, duration: timedelta, namespace: str | None = None
) -> Extended:
    """Top up the meter; a concurrent change is re-read and retried."""
    for _ in range(1 + CONFLICT_RETRIES):
        obj = endpoints.get(name, namespace)
        now = utcnow()
        try:
            patch, new = extend_patch(obj, duration, now)
        except ValueError as error:
            raise PluginError(str(error)) from None
        try:
            endpoints.patch(name, patch, namespace)
        except Conflict:
            continue
        return Extended(new, now)
    raise PluginError(
        f"{name} kept changing while extending it ({1 + CONFLICT_RETRIES} attempts); try again"
    )


def park(endpoints: Endpoints, name: str, namespace: str | None = None) -> Toggled:
    patch = park_patch(endpoints.get(name, namespace))
    if patch is not None:
        endpoints.patch(name, patch, namespace)
    return Toggled(changed=patch is not None)


def resume(endpoints: Endpoints, name: str, namespace: str | None = None) -> Toggled:
    obj = endpoints.get(name, namespace)
    patch = resume_patch(obj)
    if patch is not None:
        endpoints.patch(name, patch, namespace)
    clock = utcnow()
    note = still_parked_note(obj, name, clock, "resume") or (
        f"{name} was parked as idle; `kubectl sagemeter wake {name}` brings it back"
        if (obj.get("status") or {}).get("idlePark")
        else None
    )
    return Toggled(changed=patch is not None, note=note)


def wake(endpoints: Endpoints, name: str, namespace: str | None = None) -> Woken:
    obj = endpoints.get(name, namespace)
    clock = datetime.now(UTC)
    patch = wake_patch(obj, clock)
    endpoints.patch(name, patch, namespace)
    value = patch["metadata"]["annotations"]
    return Woken(
        value=next(iter(value.values())),
        cleared_suspend="spec" in patch,
        note=still_parked_note(obj, name, clock.replace(microsecond=0), "wake"),
    )


def still_parked_note(
    obj: dict[str, Any], name: str, now: datetime, verb: str = "wake"
) -> str | None:
    """Why `verb` (wake, resume) alone will not bring the endpoint back, if it will not."""
    expiry = expiry_or_none(obj)
    if expiry is not None and expiry <= now:
        return (
            f"{name} {format_time_left(expiry, now)}; {verb} does not top up the meter:"
            f" kubectl sagemeter extend {name} 1h"
        )
    try:
        windows, _ = parse_windows(ManagedEndpointSpec.model_validate(obj.get("spec") or {}))
    except ValueError:
        return None
    if windows and not in_any_window(windows, now):
        edge = next_edge(windows, now)
        when = f" at {format_time(edge)}" if edge else ""
        return f"{name} is outside its uptime schedule; it runs again{when}"
    return None
