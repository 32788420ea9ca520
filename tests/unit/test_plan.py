"""The decision table: what one pass does for each SageMaker status, running or parked.

Endpoint views come from recorded DescribeEndpoint responses (one per status,
`tests/fixtures/describe_endpoint/`), the way ACK's sagemaker-controller
replays recorded responses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagemeter.api.models import ParkedReason, Phase
from sagemeter.core.endpoint.plan import (
    Action,
    Attempt,
    EndpointView,
    Step,
    plan_parked,
    plan_running,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "describe_endpoint"
RECORDED = sorted(path.stem for path in FIXTURES.glob("*.json"))

DESIRED = "falcon-c-new"
OLD = "falcon-c-old"
GENERATION = 3


def recorded(status: str, config_name: str | None = None) -> EndpointView:
    """A view of the recorded DescribeEndpoint response for `status`, optionally re-pointed."""
    response = json.loads((FIXTURES / f"{status}.json").read_text())
    assert response["EndpointStatus"] == status
    return EndpointView(
        status=response["EndpointStatus"],
        config_name=config_name or response["EndpointConfigName"],
        failure_reason=response.get("FailureReason"),
    )


def never_attempted() -> Attempt:
    return Attempt(config_name=None, generation=None)


def test_every_status_has_a_recording() -> None:
    assert set(RECORDED) >= {"Creating", "Updating", "Deleting", "InService", "Failed"}


# -- running --------------------------------------------------------------------------------


def test_missing_endpoint_is_created() -> None:
    step = plan_running(DESIRED, None, never_attempted(), GENERATION)
    assert (step.action, step.phase) == (Action.CREATE, Phase.CREATING)
    assert step.acts
    assert not step.failed
    assert DESIRED in step.message


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        ("Creating", Phase.CREATING),
        ("Updating", Phase.UPDATING),
        ("Deleting", Phase.DELETING),
    ],
)
@pytest.mark.parametrize("config", [DESIRED, OLD])
def test_recorded_in_progress_statuses_wait(status: str, phase: Phase, config: str) -> None:
    step = plan_running(DESIRED, recorded(status, config), never_attempted(), GENERATION)
    assert (step.action, step.phase, step.reason) == (Action.WAIT, phase, status)
    assert not step.acts
    assert not step.failed


@pytest.mark.parametrize(
    ("status", "phase"),
    [("SystemUpdating", Phase.UPDATING), ("RollingBack", Phase.UPDATING)],
)
def test_other_in_progress_statuses_wait(status: str, phase: Phase) -> None:
    # No recording for these; they differ from InService only in EndpointStatus.
    view = EndpointView(status=status, config_name=DESIRED)
    step = plan_running(DESIRED, view, Attempt(DESIRED, GENERATION), GENERATION)
    assert (step.action, step.phase, step.reason) == (Action.WAIT, phase, status)


@pytest.mark.parametrize(
    "attempt",
    [never_attempted(), Attempt(DESIRED, GENERATION), Attempt(DESIRED, GENERATION - 1)],
)
def test_in_service_on_the_desired_config_needs_nothing(attempt: Attempt) -> None:
    step = plan_running(DESIRED, recorded("InService", DESIRED), attempt, GENERATION)
    assert (step.action, step.phase, step.reason) == (Action.NOTHING, Phase.IN_SERVICE, "InService")
    assert not step.failed


def test_out_of_service_on_the_desired_config_is_left_to_sagemaker() -> None:
    view = EndpointView(status="OutOfService", config_name=DESIRED)
    step = plan_running(DESIRED, view, never_attempted(), GENERATION)
    assert (step.action, step.failed) == (Action.NOTHING, False)


@pytest.mark.parametrize(
    "attempt",
    [
        never_attempted(),
        # The previous deployment, at an older generation.
        Attempt(OLD, GENERATION - 1),
        # Even at this generation: the last try was another config.
        Attempt(OLD, GENERATION),
    ],
)
def test_in_service_on_another_config_is_updated(attempt: Attempt) -> None:
    step = plan_running(DESIRED, recorded("InService", OLD), attempt, GENERATION)
    assert (step.action, step.phase, step.reason) == (Action.UPDATE, Phase.UPDATING, "Updating")
    assert step.acts
    assert DESIRED in step.message


def test_failed_update_is_reported_not_retried() -> None:
    # UpdateEndpoint to DESIRED at this generation rolled back: still serving OLD.
    view = EndpointView("InService", OLD, "ClientError: image not found")
    step = plan_running(DESIRED, view, Attempt(DESIRED, GENERATION), GENERATION)
    assert (step.action, step.phase, step.reason) == (
        Action.NOTHING,
        Phase.IN_SERVICE,
        "UpdateFailed",
    )
    assert step.failed
    assert not step.acts
    assert "image not found" in step.message
    assert OLD in step.message


def test_failed_update_without_a_reason_says_rolled_back() -> None:
    step = plan_running(
        DESIRED, recorded("InService", OLD), Attempt(DESIRED, GENERATION), GENERATION
    )
    assert step.failed
    assert "rolled back" in step.message


def test_failed_update_is_retried_after_a_spec_change() -> None:
    # Same config name (e.g. only tags changed), but a new generation: try again once.
    view = EndpointView("InService", OLD, "ClientError: image not found")
    step = plan_running(DESIRED, view, Attempt(DESIRED, GENERATION), GENERATION + 1)
    assert (step.action, step.phase) == (Action.UPDATE, Phase.UPDATING)
    assert not step.failed


def test_recorded_failed_endpoint_on_the_desired_config_waits_for_a_spec_change() -> None:
    view = recorded("Failed", DESIRED)
    step = plan_running(DESIRED, view, Attempt(DESIRED, GENERATION), GENERATION)
    assert (step.action, step.phase, step.reason) == (
        Action.NOTHING,
        Phase.FAILED,
        "EndpointFailed",
    )
    assert step.failed
    assert step.message == view.failure_reason
    assert "ping health check" in step.message


def test_failed_endpoint_without_a_reason_still_says_so() -> None:
    view = EndpointView(status="Failed", config_name=DESIRED)
    step = plan_running(DESIRED, view, Attempt(DESIRED, GENERATION), GENERATION)
    assert step.failed
    assert step.message


@pytest.mark.parametrize(
    ("config", "attempt"),
    [
        # The spec changed (generation bump), the config name did not.
        (DESIRED, Attempt(DESIRED, GENERATION - 1)),
        # The spec changed and so did the config.
        (OLD, Attempt(OLD, GENERATION - 1)),
        # The endpoint failed on a config the spec no longer asks for.
        (OLD, Attempt(OLD, GENERATION)),
        (OLD, never_attempted()),
    ],
)
def test_failed_endpoint_is_replaced_after_a_spec_change(config: str, attempt: Attempt) -> None:
    step = plan_running(DESIRED, recorded("Failed", config), attempt, GENERATION)
    assert (step.action, step.phase, step.reason) == (
        Action.DELETE,
        Phase.DELETING,
        "ReplacingFailed",
    )
    assert not step.failed


def test_failed_endpoint_then_replacement_is_one_create() -> None:
    """Failed -> (spec change) Delete -> Deleting waits -> gone: Create, and no loop after."""
    attempt = Attempt(DESIRED, GENERATION - 1)
    steps = [
        plan_running(DESIRED, recorded("Failed", DESIRED), attempt, GENERATION),
        plan_running(DESIRED, recorded("Deleting", DESIRED), attempt, GENERATION),
        plan_running(DESIRED, None, attempt, GENERATION),
    ]
    assert [s.action for s in steps] == [Action.DELETE, Action.WAIT, Action.CREATE]
    # The create is recorded as this generation's attempt; failing again stops there.
    again = plan_running(
        DESIRED, recorded("Failed", DESIRED), Attempt(DESIRED, GENERATION), GENERATION
    )
    assert (again.action, again.failed) == (Action.NOTHING, True)


@pytest.mark.parametrize("status", ["UpdateRollbackFailed", "SomethingNew"])
def test_unknown_status_is_reported_without_acting(status: str) -> None:
    view = EndpointView(status=status, config_name=DESIRED)
    step = plan_running(DESIRED, view, never_attempted(), GENERATION)
    assert (step.action, step.phase, step.reason) == (Action.NOTHING, Phase.FAILED, status)
    assert step.failed
    assert status in step.message


def test_unknown_status_carries_sagemakers_reason() -> None:
    view = EndpointView("UpdateRollbackFailed", DESIRED, "rollback could not finish")
    assert plan_running(DESIRED, view, never_attempted(), GENERATION).message == (
        "rollback could not finish"
    )


# -- parked ---------------------------------------------------------------------------------

REASON = ParkedReason.EXPIRED


def test_parked_and_missing_is_done() -> None:
    step = plan_parked(None, REASON)
    assert (step.action, step.phase, step.reason) == (Action.NOTHING, Phase.PARKED, "Expired")
    assert not step.acts
    assert not step.failed


@pytest.mark.parametrize("status", ["InService", "Failed"])
def test_parked_deletes_a_settled_endpoint(status: str) -> None:
    step = plan_parked(recorded(status), REASON)
    assert (step.action, step.phase, step.reason) == (Action.DELETE, Phase.DELETING, "Expired")
    assert step.acts


@pytest.mark.parametrize(
    ("status", "phase"),
    [("Creating", Phase.CREATING), ("Updating", Phase.UPDATING), ("Deleting", Phase.DELETING)],
)
def test_parked_waits_while_sagemaker_is_busy(status: str, phase: Phase) -> None:
    # SageMaker refuses DeleteEndpoint while an endpoint is being created or updated.
    step = plan_parked(recorded(status), REASON)
    assert (step.action, step.phase, step.reason) == (Action.WAIT, phase, status)
    assert not step.acts


@pytest.mark.parametrize("status", ["SystemUpdating", "RollingBack"])
def test_parked_waits_for_other_in_progress_statuses(status: str) -> None:
    step = plan_parked(EndpointView(status=status, config_name=DESIRED), REASON)
    assert step.action == Action.WAIT


@pytest.mark.parametrize("reason", [*ParkedReason, "Deleting"])
def test_parked_step_names_its_reason(reason: str) -> None:
    assert plan_parked(None, reason).reason == reason
    assert plan_parked(recorded("InService"), reason).reason == reason


# -- the table as a whole -------------------------------------------------------------------

RUNNING_TABLE: list[tuple[str, EndpointView | None, Attempt, int, Action, Phase, bool]] = [
    # (case, endpoint, attempt, generation, action, phase, failed)
    ("absent", None, never_attempted(), 1, Action.CREATE, Phase.CREATING, False),
    ("creating", recorded("Creating", DESIRED), Attempt(DESIRED, 1), 1, Action.WAIT,
     Phase.CREATING, False),
    ("serving", recorded("InService", DESIRED), Attempt(DESIRED, 1), 1, Action.NOTHING,
     Phase.IN_SERVICE, False),
    ("spec-changed", recorded("InService", OLD), Attempt(OLD, 1), 2, Action.UPDATE,
     Phase.UPDATING, False),
    ("updating", recorded("Updating", OLD), Attempt(DESIRED, 2), 2, Action.WAIT,
     Phase.UPDATING, False),
    ("rolled-back", recorded("InService", OLD), Attempt(DESIRED, 2), 2, Action.NOTHING,
     Phase.IN_SERVICE, True),
    ("retry", recorded("InService", OLD), Attempt(DESIRED, 2), 3, Action.UPDATE,
     Phase.UPDATING, False),
    ("failed", recorded("Failed", DESIRED), Attempt(DESIRED, 3), 3, Action.NOTHING,
     Phase.FAILED, True),
    ("replace", recorded("Failed", DESIRED), Attempt(DESIRED, 3), 4, Action.DELETE,
     Phase.DELETING, False),
    ("deleting", recorded("Deleting", DESIRED), Attempt(DESIRED, 3), 4, Action.WAIT,
     Phase.DELETING, False),
]


@pytest.mark.parametrize(
    ("endpoint", "attempt", "generation", "action", "phase", "failed"),
    [row[1:] for row in RUNNING_TABLE],
    ids=[row[0] for row in RUNNING_TABLE],
)
def test_running_table(
    endpoint: EndpointView | None,
    attempt: Attempt,
    generation: int,
    action: Action,
    phase: Phase,
    failed: bool,
) -> None:
    step = plan_running(DESIRED, endpoint, attempt, generation)
    assert (step.action, step.phase, step.failed) == (action, phase, failed)
    assert step.acts == (action in (Action.CREATE, Action.UPDATE, Action.DELETE))


def test_step_acts_only_for_mutations() -> None:
    for action in Action:
        step = Step(action, Phase.PENDING, "r", "m")
        assert step.acts == (action in {Action.CREATE, Action.UPDATE, Action.DELETE})
