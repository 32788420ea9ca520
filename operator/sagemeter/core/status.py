"""The status a pass writes: phase, names, times and conditions, from what it saw and did.

Pure: the reconcile pass hands over its observations and the step it took; this
module decides what users read in `kubectl get` and `kubectl describe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sagemeter.api.models import (
    ConditionType,
    ManagedEndpointStatus,
    ParkedReason,
    Phase,
)
from sagemeter.core.conditions import get_condition, set_condition
from sagemeter.core.desired import Desired, is_expiring_soon
from sagemeter.core.plan import Action, Attempt, Step
from sagemeter.core.times import format_time


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
    # Set when this pass started a deployment (CreateEndpoint / UpdateEndpoint).
    attempt: Attempt | None = None


def compose_status(
    old: ManagedEndpointStatus,
    *,
    desired: Desired,
    step: Step | None,
    seen: Seen,
    problem: Problem | None,
    generation: int,
    now: datetime,
    dry_run_park: bool = False,
) -> ManagedEndpointStatus:
    new = old.model_copy(deep=True)
    new.endpoint_name = seen.endpoint_name
    new.sagemaker_status = seen.sagemaker_status
    new.failure_reason = seen.failure_reason
    if seen.endpoint_arn:
        new.endpoint_arn = seen.endpoint_arn
    # Keep the last known config and model while parked: resuming needs them.
    new.endpoint_config_name = seen.config_name or old.endpoint_config_name
    new.model_name = seen.model_name or old.model_name
    new.expires_at = format_time(desired.expiry.at) if desired.expiry.at else None
    new.next_transition_at = (
        format_time(desired.next_transition_at) if desired.next_transition_at else None
    )
    new.observed_generation = generation
    if seen.attempt is not None:
        new.attempted_config_name = seen.attempt.config_name
        new.attempted_generation = seen.attempt.generation

    if step is not None:
        new.phase = step.phase
    elif new.phase is None:
        new.phase = Phase.PENDING
    if dry_run_park and step is not None and new.phase == Phase.DELETING:
        # Dry run: nothing was deleted, the endpoint keeps its real phase.
        new.phase = Phase.IN_SERVICE if seen.sagemaker_status == "InService" else new.phase
    parked_reason = None if desired.running else desired.reason
    new.parked_reason = parked_reason if new.phase in (Phase.PARKED, Phase.DELETING) else None

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
        "InService" if ready else (step.reason if step else "Pending"),
        "the endpoint is serving" if ready else (step.message if step else "not reconciled yet"),
    )
    parked = new.phase == Phase.PARKED
    put(
        ConditionType.PARKED,
        parked,
        (parked_reason or "Parked") if parked else "Running" if desired.running else "Parking",
        _parked_message(desired, parked_reason) if not desired.running else "not parked",
    )
    if problem is not None:
        put(ConditionType.DEGRADED, True, problem.reason, problem.message)
    elif step is not None and step.failed:
        put(ConditionType.DEGRADED, True, step.reason, step.message)
    elif dry_run_park:
        put(
            ConditionType.DEGRADED,
            False,
            "DryRun",
            f"would park ({parked_reason}); dry run is on, nothing was deleted",
        )
    else:
        put(ConditionType.DEGRADED, False, "AsExpected", "no problems")
    expiring = is_expiring_soon(desired, now) and desired.running
    put(
        ConditionType.EXPIRING_SOON,
        expiring,
        "ExpiringSoon" if expiring else ("Capped" if desired.expiry.capped else "NotExpiring"),
        _expiry_message(desired),
    )
    new.conditions = conditions
    return new


def _parked_message(desired: Desired, reason: ParkedReason | None) -> str:
    if reason == ParkedReason.EXPIRED and desired.expiry.at is not None:
        return f"expired at {format_time(desired.expiry.at)}; extend spec.expiry to resume"
    if reason == ParkedReason.SCHEDULE:
        return "outside every spec.schedule.uptime window"
    if reason == ParkedReason.SUSPENDED:
        return "spec.suspend is true"
    if reason == ParkedReason.IDLE:
        return "no invocations for spec.idle.after; extend the expiry or set sagemeter.io/wake"
    return "parked"


def _expiry_message(desired: Desired) -> str:
    if desired.expiry.at is None:
        return "no expiry"
    text = f"expires at {format_time(desired.expiry.at)}"
    if desired.expiry.capped:
        text += " (capped by the operator's maximum lifetime)"
    return text


def degraded_changed(old: ManagedEndpointStatus, new: ManagedEndpointStatus) -> bool:
    """True when a new problem appeared (to emit one Warning Event per problem)."""
    before = get_condition(old.conditions, ConditionType.DEGRADED)
    after = get_condition(new.conditions, ConditionType.DEGRADED)
    if after is None or after.status != "True":
        return False
    return before is None or (before.status, before.reason, before.message) != (
        after.status,
        after.reason,
        after.message,
    )


def acted(step: Step | None) -> bool:
    return step is not None and step.action in (Action.CREATE, Action.UPDATE, Action.DELETE)
