"""Status, conditions, Events and columns tell one story, in every case.

A table over every (phase, parked reason, Degraded reason) combination, each composed twice:
with the step the planner takes for that phase, and with no step (a pass that a problem stopped
before it acted). Whatever the combination, `kubectl get`'s columns, `kubectl sagemeter ls`, the
four conditions and the Events this pass announces must agree with each other.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sagemeter.api.crd import PRINTER_COLUMNS
from sagemeter.api.models import (
    ConditionType,
    ManagedEndpointSpec,
    ManagedEndpointStatus,
    ParkedReason,
    Phase,
)
from sagemeter.cli.table import reason as ls_reason
from sagemeter.core.conditions import get_condition
from sagemeter.core.endpoint.desired import Desired, ExpiryPolicy, desired_state
from sagemeter.core.endpoint.plan import Attempt, EndpointView, Step, plan_parked, plan_running
from sagemeter.core.endpoint.status import (
    RESUME_BLOCKED,
    PassOutcome,
    Problem,
    Seen,
    announcements,
    compose_status,
)

CREATED = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
NOW = CREATED + timedelta(hours=1)
CONFIG = "team-a-falcon-c-1234abcd"
PARKED_REASONS: list[ParkedReason | None] = [None, *ParkedReason]
# Every Degraded reason the operator reports (the pass's own, AWS's, routes', tenancy's).
DEGRADED_REASONS: list[str | None] = [
    None,
    "EndpointNameConflict",
    "AdoptionNotAllowed",
    "EndpointNotFound",
    "EndpointConfigNotFound",
    "ExecutionRoleMissing",
    "ModelNotFound",
    "EulaNotAccepted",
    "AlarmConflict",
    "RouteConflict",
    "UnauthenticatedRouteRefused",
    "AuthorizerNotFound",
    "LambdaNotFound",
    "InvokeRoleNotConfigured",
    "RestApiNotFound",
    "SecretConflict",
    "InvalidSchedule",
    "AWSUnavailable",
    "AccessDenied",
    "NotFound",
    "ResourceLimitExceeded",
    "InvalidRequest",
    "NoPolicy",
    "PolicyConflict",
    "PolicyViolation",
    "AccountChanged",
]
# The SageMaker status behind each phase (None: no endpoint).
SAGEMAKER = {
    Phase.PENDING: None,
    Phase.CREATING: "Creating",
    Phase.IN_SERVICE: "InService",
    Phase.UPDATING: "Updating",
    Phase.PARKED: None,
    Phase.FAILED: "Failed",
    Phase.DELETING: "Deleting",
}


def desired_for(reason: ParkedReason | None) -> Desired:
    fields: dict[str, Any] = {"expiry": {"ttl": "8h"}}
    over_budget = None
    idle = False
    if reason == ParkedReason.SUSPENDED:
        fields["suspend"] = True
    elif reason == ParkedReason.EXPIRED:
        fields["expiry"] = {"ttl": "30m"}
    elif reason == ParkedReason.SCHEDULE:
        fields["schedule"] = {"uptime": ["Mon-Fri 00:00-00:01 UTC"]}
    elif reason == ParkedReason.IDLE:
        idle = True
    elif reason == ParkedReason.OVER_BUDGET:
        over_budget = "EndpointPolicy team-a budget 1.00 USD/h, 0.90 running"
    spec = ManagedEndpointSpec.model_validate(
        {"model": {"container": {"image": "img:1"}}, "instanceType": "ml.m5.large", **fields}
    )
    desired = desired_state(spec, CREATED, NOW, ExpiryPolicy(), idle=idle, over_budget=over_budget)
    assert desired.reason == reason
    return desired


def planned(phase: Phase, desired: Desired) -> Step:
    status = SAGEMAKER[phase]
    view = EndpointView(status, CONFIG) if status else None
    if desired.running:
        return plan_running(CONFIG, view, Attempt(CONFIG, 1), 1)
    assert desired.reason is not None
    return plan_parked(view, desired.reason)


def column(obj: dict[str, Any], json_path: str) -> str:
    """A printer column as kubectl prints it: the value at `json_path`, or blank."""
    value: Any = obj
    for part in json_path.strip(".").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def compose(
    old: ManagedEndpointStatus,
    desired: Desired,
    step: Step | None,
    problem: Problem | None = None,
    sagemaker: str | None = None,
    generation: int = 1,
) -> ManagedEndpointStatus:
    return compose_status(
        old,
        PassOutcome(
            desired=desired,
            step=step,
            seen=Seen("team-a-falcon", sagemaker, config_name=CONFIG if sagemaker else None),
            problem=problem,
            generation=generation,
            now=NOW,
        ),
    )


CASES = [
    pytest.param(phase, reason, degraded, with_step, id=f"{phase}-{reason}-{degraded}-{with_step}")
    for phase, reason, degraded, with_step in itertools.product(
        Phase, PARKED_REASONS, DEGRADED_REASONS, (True, False)
    )
]


@pytest.mark.parametrize(("phase", "parked", "degraded", "with_step"), CASES)
def test_status_conditions_events_and_columns_agree(
    phase: Phase, parked: ParkedReason | None, degraded: str | None, with_step: bool
) -> None:
    desired = desired_for(parked)
    step = planned(phase, desired) if with_step else None
    # Before this pass: the phase of the table (a parked endpoint was parked for Expired).
    old = ManagedEndpointStatus(
        phase=phase, parked_reason=ParkedReason.EXPIRED if phase == Phase.PARKED else None
    )
    problem = Problem(degraded, f"{degraded}: what is wrong, and the fix") if degraded else None
    new = compose(old, desired, step, problem, SAGEMAKER[phase])
    conditions = {c.type: c for c in new.conditions}
    ready, parked_c = conditions[ConditionType.READY], conditions[ConditionType.PARKED]
    degraded_c, expiring = (
        conditions[ConditionType.DEGRADED],
        conditions[ConditionType.EXPIRING_SOON],
    )

    # Ready and Parked follow the phase.
    assert (ready.status == "True") == (new.phase == Phase.IN_SERVICE)
    assert (parked_c.status == "True") == (new.phase == Phase.PARKED)
    if parked_c.status == "True":
        # Parked for a reason, or parked and blocked from resuming by the Degraded problem.
        assert parked_c.reason in {*ParkedReason, RESUME_BLOCKED, "Resuming"}
        assert "not parked" not in (parked_c.message or "")
        if parked_c.reason in (RESUME_BLOCKED, "Resuming"):
            assert desired.running
            assert (parked_c.reason == RESUME_BLOCKED) == (degraded_c.status == "True")
            assert degraded_c.status == "False" or degraded_c.reason in (parked_c.message or "")
        else:
            assert parked_c.reason == new.parked_reason
    else:
        assert parked_c.reason not in set(ParkedReason)
    if new.parked_reason is not None:
        assert new.phase in (Phase.PARKED, Phase.DELETING)

    # Degraded says the problem (or the failed deployment), nothing else.
    failed_step = step is not None and step.failed
    assert (degraded_c.status == "True") == (problem is not None or failed_step)
    if problem is not None:
        assert (degraded_c.reason, degraded_c.message) == (problem.reason, problem.message)

    # ExpiringSoon never contradicts the expiry.
    expired = desired.expiry.at is not None and desired.expiry.at <= NOW
    assert (expiring.reason == "Expired") == expired
    if expiring.status == "True":
        assert desired.running and not expired

    # REASON: the Degraded reason when there is one, else the parked reason.
    shown = degraded_c.reason if degraded_c.status == "True" else new.parked_reason
    assert new.reason == shown
    wire = {"status": new.model_dump(by_alias=True, exclude_none=True, mode="json")}
    by_name = {c["name"]: column(wire, c["jsonPath"]) for c in PRINTER_COLUMNS}
    assert by_name["Reason"] == (shown or "")
    assert by_name["Phase"] == new.phase
    # `kubectl sagemeter ls` shows the same reason (and the parked one beside a problem).
    assert shown is None or str(shown) in ls_reason(wire["status"]).split(",")

    # The Events this pass announces say what the conditions say.
    said = announcements(old, new)
    for event in said:
        assert "not parked" not in event.message
        if event.reason == "Parked":
            assert event.type == "Normal" and parked_c.status == "True"
            assert parked_c.reason == new.parked_reason
            assert event.message == parked_c.message
        if event.type == "Warning":
            assert degraded_c.status == "True" and event.reason == degraded_c.reason
    warned = [e for e in said if e.type == "Warning"]
    assert len(warned) == (1 if degraded_c.status == "True" else 0)
    parks = [e for e in said if e.reason == "Parked"]
    newly_parked = parked_c.status == "True" and parked_c.reason in set(ParkedReason)
    assert len(parks) == (1 if newly_parked else 0)


def test_a_blocked_resume_is_parked_and_says_why() -> None:
    """The case that read "Parked: not parked": an expired endpoint is extended, but a policy
    violation stops the create."""
    expired = desired_for(ParkedReason.EXPIRED)
    old = compose(ManagedEndpointStatus(phase=Phase.PARKED), expired, plan_parked(None, "Expired"))
    blocked = Problem("PolicyViolation", "EndpointPolicy team-a (instanceTypes): no")
    new = compose(old, desired_for(None), None, blocked, generation=2)
    parked = get_condition(new.conditions, ConditionType.PARKED)
    assert parked is not None
    assert (parked.status, parked.reason) == ("True", RESUME_BLOCKED)
    assert parked.message == (
        "parked (Expired); should run now, but cannot resume:"
        " PolicyViolation: EndpointPolicy team-a (instanceTypes): no"
    )
    assert (new.phase, new.parked_reason, new.reason) == (
        Phase.PARKED,
        ParkedReason.EXPIRED,
        "PolicyViolation",
    )
    assert [(e.type, e.reason) for e in announcements(old, new)] == [("Warning", "PolicyViolation")]


def test_an_expired_endpoint_is_not_called_not_expiring() -> None:
    expired = desired_for(ParkedReason.EXPIRED)
    new = compose(ManagedEndpointStatus(), expired, plan_parked(None, ParkedReason.EXPIRED))
    expiring = get_condition(new.conditions, ConditionType.EXPIRING_SOON)
    assert expiring is not None
    assert (expiring.status, expiring.reason, expiring.message) == (
        "False",
        "Expired",
        "expires at 2026-11-18T10:30:00Z",
    )


def test_an_expiry_set_twice_says_which_wins() -> None:
    """spec.expiry with both ttl and expiresAt: expiresAt wins, even when later (SPEC §1), and
    the ExpiringSoon condition's message says so."""
    spec = ManagedEndpointSpec.model_validate(
        {
            "model": {"container": {"image": "img:1"}},
            "instanceType": "ml.m5.large",
            "expiry": {"ttl": "30m", "expiresAt": "2026-11-18T20:00:00Z"},
        }
    )
    desired = desired_state(spec, CREATED, NOW, ExpiryPolicy())
    assert desired.running
    new = compose(ManagedEndpointStatus(), desired, None)
    expiring = get_condition(new.conditions, ConditionType.EXPIRING_SOON)
    assert expiring is not None and expiring.message == (
        "expires at 2026-11-18T20:00:00Z (spec.expiry.expiresAt, which wins over"
        " spec.expiry.ttl when both are set)"
    )
