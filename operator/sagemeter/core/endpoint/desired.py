"""Desired state: should the endpoint run now, and when can that answer change?

    desired_state(spec, created, now, policy, idle) -> Desired
    parked_for(desired, reason) -> Desired   (what a pass learns later: idle, over budget)

Running exactly when not suspended, not expired, inside an uptime window (if a
schedule is set) and not idle-parked; otherwise Parked with the first matching
reason of Suspended > Expired > Schedule > Idle. `next_transition_at` is the
next instant at which the answer (or the ExpiringSoon warning) can change by
itself, so the operator can sleep exactly until then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sagemeter.api.models import IdlePark, ManagedEndpointSpec, ParkedReason
from sagemeter.core.meter.durations import parse_duration
from sagemeter.core.meter.schedule import Window, in_any_window, next_edge, parse_window
from sagemeter.core.meter.times import format_time, parse_time

# Far enough to mean "never", near enough that warnings can still be subtracted.
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
EARLIEST = datetime(1, 1, 8, tzinfo=UTC)


def later(instant: datetime, delta: timedelta) -> datetime:
    """`instant + delta`, clamped: a `999999w` ttl means "far away", not a crash."""
    try:
        return min(instant + delta, LATEST)
    except OverflowError:
        return LATEST


def earlier(instant: datetime, delta: timedelta) -> datetime:
    try:
        return max(instant - delta, EARLIEST)
    except OverflowError:
        return EARLIEST


@dataclass(frozen=True)
class ExpiryPolicy:
    """Operator-wide expiry settings."""

    default_ttl: timedelta | None = None
    max_lifetime: timedelta | None = None


@dataclass(frozen=True)
class Expiry:
    at: datetime | None
    capped: bool = False
    # spec.expiry sets both expiresAt and ttl: expiresAt wins (SPEC §1), whichever is later;
    # the status says so (a top-up with `kubectl sagemeter extend` writes expiresAt).
    over_ttl: bool = False


@dataclass(frozen=True)
class Desired:
    running: bool
    reason: ParkedReason | None
    expiry: Expiry
    warn_at: datetime | None
    next_transition_at: datetime | None
    schedule_error: str | None = None
    # Why the endpoint waits for budget (reason OverBudget).
    budget_message: str | None = None
    # The object is being deleted: the endpoint should go, whatever the meter says.
    deleting: bool = False


def expiry_cap(created: datetime, policy: ExpiryPolicy) -> datetime | None:
    """The latest expiry the maximum lifetime allows (`maxExpiresAt`), or None without one."""
    return later(created, policy.max_lifetime) if policy.max_lifetime is not None else None


def effective_expiry(spec: ManagedEndpointSpec, created: datetime, policy: ExpiryPolicy) -> Expiry:
    """`expiresAt` if set, else creation + `ttl`, else creation + the default; capped."""
    at: datetime | None = None
    if spec.expiry is not None and spec.expiry.expires_at:
        at = min(max(parse_time(spec.expiry.expires_at), EARLIEST), LATEST)
    elif spec.expiry is not None and spec.expiry.ttl is not None:
        at = later(created, parse_duration(spec.expiry.ttl))
    elif policy.default_ttl is not None:
        at = later(created, policy.default_ttl)
    cap = expiry_cap(created, policy)
    over_ttl = (
        spec.expiry is not None and bool(spec.expiry.expires_at) and spec.expiry.ttl is not None
    )
    if cap is not None and (at is None or at > cap):
        return Expiry(at=cap, capped=True, over_ttl=over_ttl)
    return Expiry(at=at, over_ttl=over_ttl)


def warn_before(spec: ManagedEndpointSpec) -> timedelta:
    return parse_duration(spec.expiry.warn_before if spec.expiry else "10m")


def parse_windows(spec: ManagedEndpointSpec) -> tuple[list[Window], list[str]]:
    """The windows that parse, and an error for each that does not (an unknown zone)."""
    windows: list[Window] = []
    errors: list[str] = []
    for text in spec.schedule.uptime if spec.schedule else []:
        try:
            windows.append(parse_window(text))
        except ValueError as error:
            errors.append(str(error))
    return windows, errors


def desired_state(
    spec: ManagedEndpointSpec,
    created: datetime,
    now: datetime,
    policy: ExpiryPolicy,
    *,
    idle: bool = False,
    over_budget: str | None = None,
) -> Desired:
    expiry = effective_expiry(spec, created, policy)
    warn_at = earlier(expiry.at, warn_before(spec)) if expiry.at is not None else None
    # Admission checks the shape of windows; only an unknown time zone gets here.
    # Valid windows still count; a schedule with none valid keeps the endpoint parked
    # rather than running it around the clock.
    windows, errors = parse_windows(spec)
    schedule_error = "; ".join(errors) or None
    scheduled = spec.schedule is not None

    expired = expiry.at is not None and now >= expiry.at
    outside = scheduled and not in_any_window(windows, now)
    reason: ParkedReason | None = None
    if spec.suspend:
        reason = ParkedReason.SUSPENDED
    elif expired:
        reason = ParkedReason.EXPIRED
    elif outside:
        reason = ParkedReason.SCHEDULE

    instants = [t for t in (expiry.at, warn_at) if t is not None and t > now]
    edge = next_edge(windows, now) if windows else None
    if edge is not None:
        instants.append(edge)
    desired = Desired(
        running=reason is None,
        reason=reason,
        expiry=expiry,
        warn_at=warn_at,
        next_transition_at=min(instants) if instants else None,
        schedule_error=schedule_error,
    )
    if idle:
        desired = parked_for(desired, ParkedReason.IDLE)
    if over_budget is not None:
        desired = parked_for(desired, ParkedReason.OVER_BUDGET, over_budget)
    return desired


def parked_for(desired: Desired, reason: ParkedReason, message: str | None = None) -> Desired:
    """`desired` once the pass finds that the endpoint is idle (`Idle`) or waits for budget
    (`OverBudget`, with `message`): the meter's own reasons (Suspended, Expired, Schedule) and
    an earlier one of these rank first, and when the answer can next change stays the meter's.
    So a pass computes the meter once and parks on what it learns later."""
    if not desired.running or desired.deleting:
        return desired
    return replace(
        desired,
        running=False,
        reason=reason,
        budget_message=message if reason == ParkedReason.OVER_BUDGET else None,
    )


def deleting_state(desired: Desired) -> Desired:
    """What is desired once the object is being deleted: no endpoint, no reason to park."""
    return replace(desired, running=False, reason=None, next_transition_at=None, deleting=True)


def is_expiring_soon(desired: Desired, now: datetime) -> bool:
    """Inside the warning period of an expiry that has not passed yet."""
    return (
        desired.warn_at is not None
        and desired.expiry.at is not None
        and desired.warn_at <= now < desired.expiry.at
    )


def extended_expiry(current: datetime | None, now: datetime, duration: timedelta) -> datetime:
    """`kubectl sagemeter extend`: an expired endpoint is extended from now."""
    base = current if current is not None and current > now else now
    return later(base, duration)


def still_idle_parked(record: IdlePark | None, expiry: Expiry, wake: str | None) -> bool:
    """An idle park holds until the expiry is extended or the wake annotation changes."""
    if record is None:
        return False
    if wake != record.wake:
        return False
    if expiry.at is not None:
        parked_with = parse_time(record.expires_at) if record.expires_at else None
        if parked_with is None or expiry.at > parked_with:
            return False
    return True


def idle_record(
    current: IdlePark | None,
    desired: Desired,
    still_parked: bool,
    expiry: Expiry,
    wake: str | None,
    now: datetime,
    *,
    dry_run: bool = False,
) -> IdlePark | None:
    """The idle-park record this pass leaves in status: kept while the park holds,
    written when the endpoint is parked for idleness now, cleared otherwise."""
    if still_parked:
        return current
    if desired.reason != ParkedReason.IDLE or dry_run:
        return None
    return IdlePark(
        parked_at=format_time(now),
        expires_at=format_time(expiry.at) if expiry.at else None,
        wake=wake,
    )


def current_expiry(obj: dict[str, Any]) -> datetime | None:
    """When the endpoint expires now: the operator's `status.expiresAt`, else the spec's.

    The status wins because it includes operator-wide caps and defaults, but only
    while it describes the current spec: right after someone patched the expiry,
    a stale status would make `extend` shorten their top-up.
    """
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    if status.get("expiresAt") and (observed is None or observed >= metadata.get("generation", 0)):
        return parse_time(status["expiresAt"])
    spec = ManagedEndpointSpec.model_validate(obj.get("spec") or {})
    created = parse_time(metadata["creationTimestamp"])
    return effective_expiry(spec, created, ExpiryPolicy()).at


def max_expiry(obj: Mapping[str, Any]) -> datetime | None:
    """The latest expiry the maximum lifetime allows (`status.maxExpiresAt`), or None."""
    value = (obj.get("status") or {}).get("maxExpiresAt")
    try:
        return parse_time(value) if value else None
    except ValueError:
        return None
