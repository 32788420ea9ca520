"""The status a pass writes: phase, names, times and conditions, from what it saw and did.

Pure: the reconcile pass hands over its observations and the step it took; this
module decides what users read in `kubectl get` and `kubectl describe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sagemeter.api.models import (
    AwsPlacement,
    Condition,
    ConditionType,
    EndpointIncarnation,
    IdlePark,
    ManagedEndpointStatus,
    ParkedReason,
    Phase,
    RefusedDeployment,
    WakeCount,
)
from sagemeter.core.conditions import get_condition, set_condition
from sagemeter.core.endpoint.desired import Desired, is_expiring_soon
from sagemeter.core.endpoint.plan import Attempt, Step
from sagemeter.core.meter.times import format_time, parse_time

WOKEN_BY_REQUEST = "WokenByRequest"
# Parked, and should run, but a problem (the Degraded condition) stops the resume.
RESUME_BLOCKED = "ResumeBlocked"


@dataclass(frozen=True)
class Problem:
    """Something only the operator could detect (AWS said no, a name is taken, ...)."""

    reason: str
    message: str


@dataclass(frozen=True)
class Seen:
    """What the pass knows about the SageMaker side after acting."""

    endpoint_name: str
    sagemaker_status: str | None
    endpoint_arn: str | None = None
    config_name: str | None = None
    model_name: str | None = None
    failure_reason: str | None = None
    # The production variants DescribeEndpoint (or status, for a settled endpoint) shows.
    variant_names: tuple[str, ...] = ()
    # Set when this pass started a deployment (CreateEndpoint / UpdateEndpoint).
    attempt: Attempt | None = None


@dataclass(frozen=True)
class PassOutcome:
    """What one pass observed and did: everything the status it writes is made from."""

    desired: Desired
    step: Step | None
    seen: Seen
    problem: Problem | None
    generation: int
    now: datetime
    dry_run_park: bool = False
    idle_park: IdlePark | None = None
    last_invocation_at: datetime | None = None
    hourly_cost_usd: str | None = None
    invoke_url: str | None = None
    api_key_secret: str | None = None
    # Only a proof made (or confirmed) by this pass for the endpoint there now is kept.
    incarnation: EndpointIncarnation | None = None
    applied_tag_keys: list[str] | None = None  # None: leave as they were
    aws: AwsPlacement | None = None
    wakes: int | None = None
    wakes_today: WakeCount | None = None
    woken: bool = False
    cleanup_pending: bool | None = None  # None: leave as it was
    max_expires_at: datetime | None = None
    refused_deployment: RefusedDeployment | None = None


def compose_status(old: ManagedEndpointStatus, outcome: PassOutcome) -> ManagedEndpointStatus:
    """The status after a pass: `old` with what `outcome` says, one part at a time."""
    new = old.model_copy(deep=True)
    _endpoint(new, old, outcome.seen)
    _meter(new, outcome)
    _records(new, outcome)
    _deployment(new, outcome.seen, outcome.refused_deployment)
    new.phase = _phase(new, old, outcome)
    degraded = outcome.problem or (
        Problem(outcome.step.reason, outcome.step.message)
        if outcome.step and outcome.step.failed
        else None
    )
    new.parked_reason = _parked_reason(old, new.phase, outcome.desired)
    new.conditions = _conditions(
        old,
        new,
        desired=outcome.desired,
        step=outcome.step,
        degraded=degraded,
        generation=outcome.generation,
        now=outcome.now,
        dry_run_park=outcome.dry_run_park,
        woken=outcome.woken,
    )
    new.reason = degraded.reason if degraded is not None else new.parked_reason
    return new


def _endpoint(new: ManagedEndpointStatus, old: ManagedEndpointStatus, seen: Seen) -> None:
    """The SageMaker side, as the pass saw it."""
    new.endpoint_name = seen.endpoint_name
    new.sagemaker_status = seen.sagemaker_status
    new.failure_reason = seen.failure_reason
    new.variant_names = list(seen.variant_names) or None
    if seen.endpoint_arn:
        new.endpoint_arn = seen.endpoint_arn
    # Keep the last known config and model while parked: resuming needs them.
    new.endpoint_config_name = seen.config_name or old.endpoint_config_name
    new.model_name = seen.model_name or old.model_name


def _meter(new: ManagedEndpointStatus, outcome: PassOutcome) -> None:
    """Expiry, lifetime cap, next transition, idle and cost."""
    desired = outcome.desired
    new.expires_at = format_time(desired.expiry.at) if desired.expiry.at else None
    new.max_expires_at = format_time(outcome.max_expires_at) if outcome.max_expires_at else None
    new.next_transition_at = (
        format_time(desired.next_transition_at) if desired.next_transition_at else None
    )
    new.idle_park = outcome.idle_park
    if outcome.last_invocation_at is not None:
        new.last_invocation_at = format_time(outcome.last_invocation_at)
    new.hourly_cost_usd = outcome.hourly_cost_usd


def _records(new: ManagedEndpointStatus, outcome: PassOutcome) -> None:
    """What the operator keeps for itself: route, proof, tags, placement, wakes, cleanup."""
    new.observed_generation = outcome.generation
    new.invoke_url = outcome.invoke_url
    new.api_key_secret = outcome.api_key_secret
    new.incarnation = outcome.incarnation
    if outcome.applied_tag_keys is not None:
        new.applied_tag_keys = outcome.applied_tag_keys or None
    new.aws = outcome.aws
    new.wakes = outcome.wakes
    new.wakes_today = outcome.wakes_today
    if outcome.cleanup_pending is not None:
        new.cleanup_pending = outcome.cleanup_pending or None


def _deployment(new: ManagedEndpointStatus, seen: Seen, refused: RefusedDeployment | None) -> None:
    """The deployment this pass started, or the refusal kept until one is under way again."""
    if seen.attempt is not None:
        new.attempted_config_name = seen.attempt.config_name
        new.attempted_generation = seen.attempt.generation
    new.refused_deployment = None if seen.attempt is not None else refused


def _phase(new: ManagedEndpointStatus, old: ManagedEndpointStatus, outcome: PassOutcome) -> Phase:
    """The phase the step leads to (and `new.last_create_seconds`: how long the last
    Creating -> InService took)."""
    step = outcome.step
    phase = step.phase if step is not None else (new.phase or Phase.PENDING)
    # How long the last Creating -> InService took (SPEC §6: a waking route's Retry-After):
    # judged on the phase this pass writes, against the incarnation SageMaker created.
    if phase == Phase.IN_SERVICE and old.phase == Phase.CREATING and new.incarnation is not None:
        took = outcome.now - parse_time(new.incarnation.creation_time)
        new.last_create_seconds = max(0, int(took.total_seconds()))
    if outcome.dry_run_park and step is not None and phase == Phase.DELETING:
        # Dry run: nothing was deleted, the endpoint keeps its real phase.
        return Phase.IN_SERVICE if outcome.seen.sagemaker_status == "InService" else phase
    return phase


def _parked_reason(
    old: ManagedEndpointStatus, phase: Phase, desired: Desired
) -> ParkedReason | None:
    """Why the endpoint is parked (or being parked). A park whose resume is blocked (the
    endpoint should run, but a problem stops the create) keeps the reason it was parked for."""
    if phase not in (Phase.PARKED, Phase.DELETING) or desired.deleting:
        return None
    if not desired.running:
        return desired.reason
    return old.parked_reason if phase == Phase.PARKED else None


def _conditions(
    old: ManagedEndpointStatus,
    new: ManagedEndpointStatus,
    *,
    desired: Desired,
    step: Step | None,
    degraded: Problem | None,
    generation: int,
    now: datetime,
    dry_run_park: bool,
    woken: bool,
) -> list[Condition]:
    conditions = list(old.conditions)

    def put(type_: ConditionType, status: bool, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = set_condition(
            conditions, type_, status, reason, message, now=now, generation=generation
        )

    ready = new.phase == Phase.IN_SERVICE
    put(
        ConditionType.READY,
        ready,
        "InService" if ready else (step.reason if step else _not_ready_reason(new, degraded)),
        "the endpoint is serving"
        if ready
        else (step.message if step else _not_ready_message(new, degraded)),
    )
    put(ConditionType.PARKED, *_parked(old, new, desired, degraded, dry_run_park, woken))
    if degraded is not None:
        put(ConditionType.DEGRADED, True, degraded.reason, degraded.message)
    else:
        put(ConditionType.DEGRADED, False, "AsExpected", "no problems")
    put(ConditionType.EXPIRING_SOON, *_expiring(desired, now))
    return conditions


def _not_ready_reason(new: ManagedEndpointStatus, degraded: Problem | None) -> str:
    if new.phase == Phase.PARKED:
        return "Parked"
    return degraded.reason if degraded is not None else str(new.phase or Phase.PENDING)


def _not_ready_message(new: ManagedEndpointStatus, degraded: Problem | None) -> str:
    if new.phase == Phase.PARKED:
        return "the endpoint is parked"
    if degraded is not None:
        return f"waiting for the problem in the Degraded condition ({degraded.reason})"
    return "not reconciled yet" if new.phase == Phase.PENDING else f"phase {new.phase}"


def _parked(
    old: ManagedEndpointStatus,
    new: ManagedEndpointStatus,
    desired: Desired,
    degraded: Problem | None,
    dry_run_park: bool,
    woken: bool,
) -> tuple[bool, str, str]:
    """The Parked condition: True exactly when the phase is Parked, with the reason the
    endpoint is parked for, or `ResumeBlocked` when it should run but a problem stops it."""
    parked = new.phase == Phase.PARKED
    if desired.deleting:
        return parked, "Deleting", "the object is being deleted"
    if dry_run_park:
        return (
            False,
            "WouldPark",
            f"would park ({desired.reason}): {_parked_message(desired, desired.reason)};"
            " dry run, nothing was deleted",
        )
    if parked and desired.running:
        was = f"parked ({new.parked_reason})" if new.parked_reason else "parked"
        if degraded is None:
            return True, "Resuming", f"{was}; should run now, resuming"
        return (
            True,
            RESUME_BLOCKED,
            f"{was}; should run now, but cannot resume: {degraded.reason}: {degraded.message}",
        )
    if parked:
        return (
            True,
            str(new.parked_reason or desired.reason),
            _parked_message(desired, new.parked_reason or desired.reason),
        )
    if not desired.running:
        return (
            False,
            "Parking",
            f"parking ({desired.reason}): {_parked_message(desired, desired.reason)}",
        )
    # Woken by a request: said until the endpoint serves again.
    old_parked = get_condition(old.conditions, ConditionType.PARKED)
    waking = new.phase != Phase.IN_SERVICE and (
        woken or (old_parked is not None and old_parked.reason == WOKEN_BY_REQUEST)
    )
    if waking:
        return False, WOKEN_BY_REQUEST, "woken by a request; starting"
    return False, "Running", "not parked"


def _expiring(desired: Desired, now: datetime) -> tuple[bool, str, str]:
    """ExpiringSoon: True inside the warning period of a running endpoint; otherwise a reason
    that says which of the other cases holds (expired, no expiry, capped, parked, not yet)."""
    at = desired.expiry.at
    message = _expiry_message(desired)
    if at is None:
        return False, "NoExpiry", message
    if now >= at:
        return False, "Expired", message
    if is_expiring_soon(desired, now):
        if desired.running:
            return True, "ExpiringSoon", message
        return False, "NotRunning", f"{message}; parked, so nothing to warn about"
    return False, "Capped" if desired.expiry.capped else "NotExpiring", message


def _parked_message(desired: Desired, reason: ParkedReason | None) -> str:
    if reason == ParkedReason.EXPIRED and desired.expiry.at is not None:
        return f"expired at {format_time(desired.expiry.at)}; extend spec.expiry to resume"
    if reason == ParkedReason.SCHEDULE:
        return "outside every spec.schedule.uptime window"
    if reason == ParkedReason.SUSPENDED:
        return "spec.suspend is true"
    if reason == ParkedReason.IDLE:
        return "no invocations for spec.idle.after; extend the expiry or set sagemeter.io/wake"
    if reason == ParkedReason.OVER_BUDGET:
        return desired.budget_message or "waiting for room in an EndpointPolicy budget"
    return "parked"


def _expiry_message(desired: Desired) -> str:
    if desired.expiry.at is None:
        return "no expiry"
    text = f"expires at {format_time(desired.expiry.at)}"
    if desired.expiry.over_ttl:
        text += " (spec.expiry.expiresAt, which wins over spec.expiry.ttl when both are set)"
    if desired.expiry.capped:
        text += " (capped by the maximum lifetime)"
    return text


def newly(
    old: ManagedEndpointStatus,
    new: ManagedEndpointStatus,
    type_: ConditionType,
    status: str = "True",
    reason: str | None = None,
) -> Condition | None:
    """The condition `type_` if this pass made it `status` (and `reason`) or changed its
    message, else None: one Event per new problem, warning or dry-run verdict."""
    before = get_condition(old.conditions, type_)
    after = get_condition(new.conditions, type_)
    if after is None or after.status != status or (reason and after.reason != reason):
        return None
    if before is not None and (before.status, before.reason, before.message) == (
        after.status,
        after.reason,
        after.message,
    ):
        return None
    return after


@dataclass(frozen=True)
class Announcement:
    """An Event the status change calls for."""

    type: str  # Normal | Warning
    reason: str
    message: str


def announcements(old: ManagedEndpointStatus, new: ManagedEndpointStatus) -> list[Announcement]:
    """One Event per new problem, expiry warning, dry-run verdict or park.

    A park is announced with the reason it was parked for; a resume that a problem blocks
    (`ResumeBlocked`) is told by the problem's own Warning, never as a new park.
    """
    said: list[Announcement] = []
    if (condition := newly(old, new, ConditionType.DEGRADED)) is not None:
        said.append(
            Announcement("Warning", condition.reason or "Degraded", condition.message or "")
        )
    if (condition := newly(old, new, ConditionType.EXPIRING_SOON)) is not None:
        said.append(Announcement("Normal", "ExpiringSoon", condition.message or ""))
    if (condition := newly(old, new, ConditionType.PARKED, "False", "WouldPark")) is not None:
        said.append(Announcement("Normal", "WouldPark", condition.message or ""))
    condition = newly(old, new, ConditionType.PARKED)
    if condition is not None and condition.reason in set(ParkedReason):
        said.append(Announcement("Normal", "Parked", condition.message or ""))
    return said
