"""The decision table: what one pass does for each SageMaker status, running or parked.

Endpoint views come from DescribeEndpoint answers the sandbox's local AWS wrote, one per
status (`tests/fixtures/localaws/describe_endpoint/`, whose members are checked against
botocore's DescribeEndpointOutput), the way ACK's sagemaker-controller replays DescribeEndpoint
responses in its unit tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagemeter.api.models import ParkedReason, Phase, RefusedDeployment
from sagemeter.core.endpoint.plan import (
    Action,
    Attempt,
    EndpointView,
    Step,
    plan_parked,
    plan_running,
    refusal_holds,
    refusal_message,
    remembered_refusal,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "localaws" / "describe_endpoint"
RECORDED = sorted(path.stem for path in FIXTURES.glob("*.json"))

DESIRED = "falcon-c-new"
OLD = "falcon-c-old"
GENERATION = 3


def recorded(status: str, config_name: str | None = None) -> EndpointView:
    """A view of the local AWS's DescribeEndpoint answer for `status`, optionally re-pointed."""
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


# -- every status x desired -------------------------------------------------------------------

# What real SageMaker accepts in each status (the API reference and ACK's hooks.go: only
# Creating, Updating, SystemUpdating, RollingBack and Deleting make a client wait; Failed takes
# only a delete): the plan must never ask for a call SageMaker refuses.
DELETABLE = {"InService", "OutOfService", "Failed", "UpdateRollbackFailed"}
UPDATABLE = {"InService", "OutOfService", "UpdateRollbackFailed"}
ALL_STATUSES = [
    "Creating",
    "Updating",
    "SystemUpdating",
    "RollingBack",
    "Deleting",
    "InService",
    "OutOfService",
    "Failed",
    "UpdateRollbackFailed",
]
TRIED = Attempt(DESIRED, GENERATION)
NEW_TARGET = Attempt(OLD, GENERATION)

# (status, on config, attempt) -> (action, phase, failed): the running table, exhaustively.
RUNNING: dict[tuple[str, str, Attempt], tuple[Action, Phase, bool]] = {}
for _status, _phase in [
    ("Creating", Phase.CREATING),
    ("Updating", Phase.UPDATING),
    ("SystemUpdating", Phase.UPDATING),
    ("RollingBack", Phase.UPDATING),
    ("Deleting", Phase.DELETING),
]:
    for _config in (DESIRED, OLD):
        for _attempt in (TRIED, NEW_TARGET):
            RUNNING[(_status, _config, _attempt)] = (Action.WAIT, _phase, False)
RUNNING.update(
    {
        ("OutOfService", DESIRED, TRIED): (Action.WAIT, Phase.PENDING, True),
        ("OutOfService", DESIRED, NEW_TARGET): (Action.WAIT, Phase.PENDING, True),
        ("OutOfService", OLD, TRIED): (Action.WAIT, Phase.PENDING, True),
        ("OutOfService", OLD, NEW_TARGET): (Action.UPDATE, Phase.UPDATING, False),
        ("InService", DESIRED, TRIED): (Action.NOTHING, Phase.IN_SERVICE, False),
        ("InService", DESIRED, NEW_TARGET): (Action.NOTHING, Phase.IN_SERVICE, False),
        ("InService", OLD, NEW_TARGET): (Action.UPDATE, Phase.UPDATING, False),
        ("Failed", DESIRED, TRIED): (Action.NOTHING, Phase.FAILED, True),
        ("Failed", DESIRED, NEW_TARGET): (Action.DELETE, Phase.DELETING, False),
        ("Failed", OLD, TRIED): (Action.DELETE, Phase.DELETING, False),
        ("Failed", OLD, NEW_TARGET): (Action.DELETE, Phase.DELETING, False),
        ("UpdateRollbackFailed", DESIRED, TRIED): (Action.NOTHING, Phase.FAILED, True),
        ("UpdateRollbackFailed", OLD, TRIED): (Action.NOTHING, Phase.FAILED, True),
        ("UpdateRollbackFailed", DESIRED, NEW_TARGET): (Action.UPDATE, Phase.UPDATING, False),
        ("UpdateRollbackFailed", OLD, NEW_TARGET): (Action.UPDATE, Phase.UPDATING, False),
    }
)


# A rolled-back update (InService on the old config after trying the desired one) depends on
# SageMaker's FailureReason: tested below, with and without one.
ROLLED_BACK = ("InService", OLD, TRIED)


def test_the_running_table_covers_every_case_but_the_rolled_back_update() -> None:
    every = {
        (status, config, attempt)
        for status in ALL_STATUSES
        for config in (DESIRED, OLD)
        for attempt in (TRIED, NEW_TARGET)
    }
    assert set(RUNNING) == every - {ROLLED_BACK}


def _case_id(key: tuple[str, str, Attempt]) -> str:
    status, config, attempt = key
    return "-".join(
        [status, "desired" if config == DESIRED else "old", "tried" if attempt == TRIED else "new"]
    )


@pytest.mark.parametrize("key", list(RUNNING), ids=[_case_id(key) for key in RUNNING])
def test_every_status_while_running(key: tuple[str, str, Attempt]) -> None:
    status, config, attempt = key
    step = plan_running(DESIRED, EndpointView(status, config), attempt, GENERATION)
    assert (step.action, step.phase, step.failed) == RUNNING[key], key
    if step.action == Action.DELETE:
        assert status in DELETABLE
    if step.action == Action.UPDATE:
        assert status in UPDATABLE


@pytest.mark.parametrize("status", ALL_STATUSES)
@pytest.mark.parametrize("reason", [*ParkedReason, "Deleting"])
def test_every_status_while_parked(status: str, reason: str) -> None:
    step = plan_parked(EndpointView(status, DESIRED), reason)
    if status in DELETABLE:
        assert (step.action, step.phase, step.reason) == (Action.DELETE, Phase.DELETING, reason)
    else:
        # SageMaker refuses the delete now: wait, and delete as soon as it allows.
        assert (step.action, step.reason) == (Action.WAIT, status)
        assert step.phase != Phase.IN_SERVICE


def test_out_of_service_is_not_ready_and_says_so() -> None:
    step = plan_running(DESIRED, EndpointView("OutOfService", DESIRED), TRIED, GENERATION)
    assert step.phase != Phase.IN_SERVICE and step.failed and step.reason == "OutOfService"


def test_in_service_on_the_desired_config_needs_nothing() -> None:
    step = plan_running(DESIRED, recorded("InService", DESIRED), TRIED, GENERATION)
    assert (step.action, step.phase, step.reason) == (Action.NOTHING, Phase.IN_SERVICE, "InService")
    assert not step.failed


def test_failed_update_is_reported_not_retried() -> None:
    # UpdateEndpoint to DESIRED rolled back: still serving OLD, with SageMaker's reason.
    view = EndpointView("InService", OLD, "ClientError: image not found")
    step = plan_running(DESIRED, view, TRIED, GENERATION)
    assert (step.action, step.phase, step.reason) == (
        Action.NOTHING,
        Phase.IN_SERVICE,
        "UpdateFailed",
    )
    assert step.failed and not step.acts
    assert "image not found" in step.message and OLD in step.message


def test_a_generation_bump_alone_never_retries_a_failed_deployment() -> None:
    # An expiry top-up (or a tag edit) bumps the generation; the configuration is the same.
    failed_update = EndpointView("InService", OLD, "ClientError: image not found")
    for generation in (GENERATION, GENERATION + 1, GENERATION + 10):
        assert plan_running(DESIRED, failed_update, TRIED, generation).action == Action.NOTHING
        failed = EndpointView("Failed", DESIRED, "ping health check")
        assert plan_running(DESIRED, failed, TRIED, generation).action == Action.NOTHING


def test_a_new_target_configuration_retries() -> None:
    failed_update = EndpointView("InService", OLD, "ClientError: image not found")
    assert plan_running("falcon-c-newer", failed_update, TRIED, GENERATION).action == Action.UPDATE
    failed = recorded("Failed", DESIRED)
    assert plan_running("falcon-c-newer", failed, TRIED, GENERATION).action == Action.DELETE


def test_an_update_made_behind_sagemeters_back_is_undone() -> None:
    # The sweep saw a new LastModifiedTime; the endpoint now serves a config nobody asked for,
    # with no failure: that is drift, and the target config goes back.
    drifted = EndpointView("InService", "someones-config")
    step = plan_running(DESIRED, drifted, TRIED, GENERATION)
    assert (step.action, step.phase) == (Action.UPDATE, Phase.UPDATING)


def test_recorded_failed_endpoint_on_the_desired_config_waits_for_a_new_target() -> None:
    view = recorded("Failed", DESIRED)
    step = plan_running(DESIRED, view, TRIED, GENERATION)
    assert (step.action, step.phase, step.reason) == (
        Action.NOTHING,
        Phase.FAILED,
        "EndpointFailed",
    )
    assert step.failed and step.message.startswith(view.failure_reason.rstrip("."))
    assert step.message.endswith("a change of the model or capacity in the spec creates it again")
    assert "ping health check" in step.message


def test_failed_endpoint_then_replacement_is_one_create() -> None:
    """Failed -> (new target) Delete -> Deleting waits -> gone: Create, and no loop after."""
    steps = [
        plan_running(DESIRED, recorded("Failed", OLD), NEW_TARGET, GENERATION),
        plan_running(DESIRED, recorded("Deleting", OLD), NEW_TARGET, GENERATION),
        plan_running(DESIRED, None, NEW_TARGET, GENERATION),
    ]
    assert [s.action for s in steps] == [Action.DELETE, Action.WAIT, Action.CREATE]
    again = plan_running(DESIRED, recorded("Failed", DESIRED), TRIED, GENERATION)
    assert (again.action, again.failed) == (Action.NOTHING, True)


@pytest.mark.parametrize("status", ["SomethingNew"])
def test_a_status_sagemaker_may_add_is_reported_without_acting(status: str) -> None:
    view = EndpointView(status, DESIRED, "details")
    step = plan_running(DESIRED, view, never_attempted(), GENERATION)
    assert (step.action, step.phase, step.reason, step.message) == (
        Action.NOTHING,
        Phase.FAILED,
        status,
        "details",
    )
    assert step.failed


# -- parked ---------------------------------------------------------------------------------

REASON = ParkedReason.EXPIRED


def test_parked_and_missing_is_done() -> None:
    step = plan_parked(None, REASON)
    assert (step.action, step.phase, step.reason) == (Action.NOTHING, Phase.PARKED, "Expired")
    assert not step.acts
    assert not step.failed


@pytest.mark.parametrize("reason", [*ParkedReason, "Deleting"])
def test_parked_step_names_its_reason(reason: str) -> None:
    assert plan_parked(None, reason).reason == reason
    assert plan_parked(recorded("InService"), reason).reason == reason


def test_step_acts_only_for_mutations() -> None:
    for action in Action:
        step = Step(action, Phase.PENDING, "r", "m")
        assert step.acts == (action in {Action.CREATE, Action.UPDATE, Action.DELETE})


# -- a refused deployment -----------------------------------------------------------------

REFUSED = RefusedDeployment(
    operation="CreateEndpoint",
    config_name="ep-c-1",
    generation=3,
    wake="2026-11-28T08:00:00Z",
    reason="ResourceLimitExceeded",
    message="The account-level service limit 'ml.p4d.24xlarge for endpoint usage' is 0 Instances",
)


@pytest.mark.parametrize(
    ("case", "config", "generation", "wake", "holds"),
    [
        ("the same deployment, nothing changed: not sent again", "ep-c-1", 3, REFUSED.wake, True),
        (
            "a spec change that keeps the config (an expiry top-up)",
            "ep-c-1",
            4,
            REFUSED.wake,
            False,
        ),
        ("a spec change that makes another config", "ep-c-2", 4, REFUSED.wake, False),
        ("kubectl sagemeter wake: try again now", "ep-c-1", 3, "2026-11-28T09:00:00Z", False),
        ("the wake annotation removed", "ep-c-1", 3, None, False),
    ],
)
def test_a_refusal_holds_until_the_object_changes(
    case: str, config: str, generation: int, wake: str | None, holds: bool
) -> None:
    assert refusal_holds(REFUSED, config, generation, wake) is holds, case
    assert not refusal_holds(None, config, generation, wake)


@pytest.mark.parametrize(
    ("code", "terminal", "remembered"),
    [
        ("ResourceLimitExceeded", True, True),
        ("ValidationException", True, True),
        ("AccessDeniedException", True, False),  # fixed in IAM: tried again each sync
        ("AccessDenied", True, False),
        ("ThrottlingException", False, False),  # retried with backoff anyway
        ("InternalFailure", False, False),
    ],
)
def test_which_refusals_are_remembered(code: str, terminal: bool, remembered: bool) -> None:
    assert remembered_refusal(code, terminal) is remembered


def test_the_refusal_message_says_sagemakers_words_and_what_retries() -> None:
    message = refusal_message(REFUSED, "falcon")
    assert message.startswith(f"CreateEndpoint: {REFUSED.message}")
    assert "kubectl sagemeter wake falcon" in message
