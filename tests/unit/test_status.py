"""The status a pass writes: phase, kept names, attempts, conditions and their transition times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagemeter.api.models import (
    Condition,
    ConditionType,
    EndpointIncarnation,
    ManagedEndpointSpec,
    ManagedEndpointStatus,
    ParkedReason,
    Phase,
    RefusedDeployment,
)
from sagemeter.core.conditions import get_condition, set_condition
from sagemeter.core.endpoint.desired import Desired, ExpiryPolicy, desired_state
from sagemeter.core.endpoint.plan import (
    Attempt,
    EndpointView,
    Step,
    plan_parked,
    plan_running,
)
from sagemeter.core.endpoint.status import PassOutcome, Problem, Seen, announcements, compose_status
from sagemeter.core.meter.times import format_time, parse_time

CREATED = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
NOW = CREATED + timedelta(minutes=5)
LATER = NOW + timedelta(minutes=7)
ENDPOINT = "team-a-falcon"
CONFIG = "team-a-falcon-c-1234abcd"
MODEL = "team-a-falcon-m-1234abcd"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/team-a-falcon"


NO_POLICY = ExpiryPolicy()


def desired(now: datetime = NOW, policy: ExpiryPolicy = NO_POLICY, **fields: Any) -> Desired:
    spec = ManagedEndpointSpec.model_validate(
        {"model": {"container": {"image": "img:1"}}, "instanceType": "ml.m5.large", **fields}
    )
    return desired_state(spec, CREATED, now, policy)


RUNNING = desired(expiry={"ttl": "2h"})
EXPIRED = desired(now=CREATED + timedelta(hours=3), expiry={"ttl": "2h"})


def seen(status: str | None = "InService", **fields: Any) -> Seen:
    base: dict[str, Any] = {"endpoint_arn": ARN, "config_name": CONFIG, "model_name": MODEL}
    base.update(fields)
    return Seen(endpoint_name=ENDPOINT, sagemaker_status=status, **base)


def compose(
    old: ManagedEndpointStatus | None = None,
    *,
    want: Desired = RUNNING,
    step: Step | None,
    saw: Seen | None = None,
    problem: Problem | None = None,
    generation: int = 1,
    now: datetime = NOW,
    dry_run_park: bool = False,
    refused_deployment: RefusedDeployment | None = None,
) -> ManagedEndpointStatus:
    return compose_status(
        old or ManagedEndpointStatus(),
        PassOutcome(
            desired=want,
            step=step,
            seen=saw or seen(),
            problem=problem,
            generation=generation,
            now=now,
            dry_run_park=dry_run_park,
            refused_deployment=refused_deployment,
        ),
    )


def condition(status: ManagedEndpointStatus, type_: ConditionType) -> Condition:
    found = get_condition(status.conditions, type_)
    assert found is not None, f"no {type_} condition"
    return found


def summary(status: ManagedEndpointStatus) -> dict[str, tuple[str, str | None]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


IN_SERVICE = plan_running(CONFIG, EndpointView("InService", CONFIG), Attempt(CONFIG, 1), 1)
CREATING = plan_running(CONFIG, None, Attempt(None, None), 1)


# -- phase and conditions -------------------------------------------------------------------


def test_creating() -> None:
    status = compose(step=CREATING, saw=seen(None, endpoint_arn=None, attempt=Attempt(CONFIG, 1)))
    assert status.phase == Phase.CREATING
    assert status.parked_reason is None
    assert summary(status) == {
        "Ready": ("False", "Creating"),
        "Parked": ("False", "Running"),
        "Degraded": ("False", "AsExpected"),
        "ExpiringSoon": ("False", "NotExpiring"),
    }
    assert all(c.observed_generation == 1 for c in status.conditions)
    assert all(c.last_transition_time == "2026-11-18T10:05:00Z" for c in status.conditions)


def test_in_service() -> None:
    status = compose(step=IN_SERVICE, generation=4)
    assert status.phase == Phase.IN_SERVICE
    assert summary(status)["Ready"] == ("True", "InService")
    assert summary(status)["Parked"] == ("False", "Running")
    assert status.endpoint_name == ENDPOINT
    assert status.endpoint_arn == ARN
    assert status.endpoint_config_name == CONFIG
    assert status.model_name == MODEL
    assert status.sagemaker_status == "InService"
    assert status.observed_generation == 4
    assert status.expires_at == "2026-11-18T12:00:00Z"
    # The ExpiringSoon warning at 11:50 is the next thing that happens by itself.
    assert status.next_transition_at == "2026-11-18T11:50:00Z"


@pytest.mark.parametrize(
    "step",
    [
        plan_running(CONFIG, EndpointView("Updating", "old"), Attempt(CONFIG, 1), 1),
        plan_running(CONFIG, EndpointView("Failed", CONFIG, "boom"), Attempt(CONFIG, 1), 1),
        plan_running(CONFIG, EndpointView("InService", "old"), Attempt("old", 0), 1),
        CREATING,
    ],
    ids=["updating", "failed", "update", "create"],
)
def test_ready_only_when_in_service(step: Step) -> None:
    status = compose(step=step)
    assert status.phase != Phase.IN_SERVICE
    assert summary(status)["Ready"][0] == "False"
    assert condition(status, ConditionType.READY).reason == step.reason


def test_parked_keeps_names_needed_to_resume() -> None:
    running = compose(step=IN_SERVICE)
    parked = compose(
        running,
        want=EXPIRED,
        step=plan_parked(None, ParkedReason.EXPIRED),
        saw=seen(None, endpoint_arn=None, config_name=None, model_name=None),
        now=CREATED + timedelta(hours=3),
    )
    assert parked.phase == Phase.PARKED
    assert parked.parked_reason == ParkedReason.EXPIRED
    assert parked.endpoint_config_name == CONFIG
    assert parked.model_name == MODEL
    assert parked.endpoint_arn == ARN
    assert parked.sagemaker_status is None
    assert summary(parked)["Parked"] == ("True", "Expired")
    assert summary(parked)["Ready"] == ("False", "Expired")
    parked_condition = condition(parked, ConditionType.PARKED)
    assert parked_condition.message is not None
    assert "2026-11-18T12:00:00Z" in parked_condition.message
    # Expired with no schedule: nothing happens by itself any more.
    assert parked.next_transition_at is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"suspend": True}, ParkedReason.SUSPENDED),
        ({"schedule": {"uptime": ["Sat 09:00-10:00 UTC"]}}, ParkedReason.SCHEDULE),
        ({"expiry": {"ttl": "1m"}}, ParkedReason.EXPIRED),
    ],
)
def test_parked_condition_carries_the_reason(fields: dict[str, Any], reason: ParkedReason) -> None:
    want = desired(**fields)
    assert want.reason == reason
    status = compose(want=want, step=plan_parked(None, want.reason), saw=seen(None))
    assert status.phase == Phase.PARKED
    assert status.parked_reason == reason
    assert summary(status)["Parked"] == ("True", reason)


def test_deleting_on_the_way_to_parked() -> None:
    step = plan_parked(EndpointView("InService", CONFIG), ParkedReason.SUSPENDED)
    status = compose(want=desired(suspend=True), step=step)
    assert status.phase == Phase.DELETING
    assert status.parked_reason == ParkedReason.SUSPENDED
    assert summary(status)["Parked"] == ("False", "Parking")
    assert summary(status)["Ready"] == ("False", "Suspended")


def test_replacing_a_failed_endpoint_is_not_parking() -> None:
    # Failed on a config the spec no longer asks for: replaced, which is no park.
    step = plan_running(CONFIG, EndpointView("Failed", "older"), Attempt("older", 1), 2)
    status = compose(step=step, generation=2)
    assert status.phase == Phase.DELETING
    assert status.parked_reason is None
    assert summary(status)["Parked"] == ("False", "Running")


def test_no_step_keeps_the_phase_or_starts_pending() -> None:
    assert compose(step=None).phase == Phase.PENDING
    assert summary(compose(step=None))["Ready"] == ("False", "Pending")
    kept = compose(compose(step=IN_SERVICE), step=None)
    assert kept.phase == Phase.IN_SERVICE


def test_variant_names_follow_what_sagemaker_shows() -> None:
    serving = compose(step=IN_SERVICE, saw=seen(variant_names=("primary", "canary")))
    assert serving.variant_names == ["primary", "canary"]
    # Gone (parked, deleting): no variants are served; the next describe writes them again.
    gone = compose(serving, want=EXPIRED, step=plan_parked(None, "Expired"), saw=seen(None))
    assert gone.variant_names is None
    assert "variantNames" not in gone.model_dump(by_alias=True, exclude_none=True)


def test_a_refusal_is_kept_until_a_deployment_starts() -> None:
    refused = RefusedDeployment(
        operation="CreateEndpoint",
        config_name=CONFIG,
        generation=1,
        reason="ResourceLimitExceeded",
        message="The account-level service limit ...",
    )
    held = compose(step=None, saw=seen(None), refused_deployment=refused)
    assert held.refused_deployment == refused
    assert compose(held, step=None, saw=seen(None)).refused_deployment is None  # not passed on
    started = compose(
        held, step=CREATING, saw=seen(None, attempt=Attempt(CONFIG, 2)), refused_deployment=refused
    )
    assert started.refused_deployment is None


def test_compose_does_not_touch_the_old_status() -> None:
    old = compose(step=IN_SERVICE)
    snapshot = old.model_dump()
    compose(old, want=EXPIRED, step=plan_parked(None, "Expired"), problem=Problem("X", "y"))
    assert old.model_dump() == snapshot


# -- degraded -------------------------------------------------------------------------------


def test_degraded_from_a_problem() -> None:
    problem = Problem("EndpointNameConflict", "owned by ManagedEndpoint team-b/falcon")
    status = compose(step=None, problem=problem)
    degraded = condition(status, ConditionType.DEGRADED)
    assert (degraded.status, degraded.reason, degraded.message) == (
        "True",
        "EndpointNameConflict",
        "owned by ManagedEndpoint team-b/falcon",
    )


def test_degraded_from_a_failed_step() -> None:
    step = plan_running(
        CONFIG, EndpointView("InService", "old", "image not found"), Attempt(CONFIG, 1), 1
    )
    assert step.failed
    status = compose(step=step)
    assert status.phase == Phase.IN_SERVICE
    degraded = condition(status, ConditionType.DEGRADED)
    assert (degraded.status, degraded.reason) == ("True", "UpdateFailed")
    assert degraded.message is not None and "image not found" in degraded.message


def test_a_problem_wins_over_a_failed_step() -> None:
    step = plan_running(CONFIG, EndpointView("Failed", CONFIG, "x"), Attempt(CONFIG, 1), 1)
    status = compose(step=step, problem=Problem("Throttled", "slow down"))
    assert summary(status)["Degraded"] == ("True", "Throttled")


def test_degraded_clears_when_the_problem_goes() -> None:
    bad = compose(step=None, problem=Problem("X", "y"))
    good = compose(bad, step=IN_SERVICE, now=LATER)
    assert summary(good)["Degraded"] == ("False", "AsExpected")
    assert condition(good, ConditionType.DEGRADED).last_transition_time == format_time(LATER)


def warned(old: ManagedEndpointStatus, new: ManagedEndpointStatus) -> list[str]:
    """The Warning Events a pass from `old` to `new` emits (their reasons)."""
    return [said.reason for said in announcements(old, new) if said.type == "Warning"]


def test_one_warning_per_problem() -> None:
    start = compose(step=IN_SERVICE)
    first = compose(start, step=None, problem=Problem("A", "a"))
    assert warned(start, first) == ["A"]
    same = compose(first, step=None, problem=Problem("A", "a"), now=LATER)
    assert warned(first, same) == []
    other = compose(same, step=None, problem=Problem("B", "b"), now=LATER)
    assert warned(same, other) == ["B"]
    healed = compose(other, step=IN_SERVICE, now=LATER)
    assert warned(other, healed) == []
    again = compose(healed, step=None, problem=Problem("A", "a"), now=LATER)
    assert warned(healed, again) == ["A"]


def test_a_first_problem_warns_from_an_empty_status() -> None:
    fresh = ManagedEndpointStatus()
    assert warned(fresh, compose(step=None, problem=Problem("A", "a"))) == ["A"]
    assert warned(fresh, compose(step=IN_SERVICE)) == []


def test_dry_run_park_keeps_the_real_phase_and_says_why() -> None:
    step = plan_parked(EndpointView("InService", CONFIG), ParkedReason.EXPIRED)
    status = compose(want=EXPIRED, step=step, dry_run_park=True)
    assert status.phase == Phase.IN_SERVICE
    assert status.parked_reason is None
    assert summary(status)["Parked"] == ("False", "WouldPark")
    assert summary(status)["Degraded"] == ("False", "AsExpected")


# -- expiring soon --------------------------------------------------------------------------


def test_expiring_soon_inside_the_warning_window() -> None:
    now = CREATED + timedelta(hours=1, minutes=55)
    status = compose(want=desired(now=now, expiry={"ttl": "2h"}), step=IN_SERVICE, now=now)
    assert summary(status)["ExpiringSoon"] == ("True", "ExpiringSoon")
    assert status.next_transition_at == "2026-11-18T12:00:00Z"


def test_not_expiring_before_the_warning_window() -> None:
    now = CREATED + timedelta(hours=1, minutes=49)
    status = compose(want=desired(now=now, expiry={"ttl": "2h"}), step=IN_SERVICE, now=now)
    assert summary(status)["ExpiringSoon"] == ("False", "NotExpiring")


def test_capped_expiry_is_said_in_the_condition() -> None:
    want = desired(expiry={"ttl": "30d"}, policy=ExpiryPolicy(max_lifetime=timedelta(days=7)))
    assert want.expiry.capped
    status = compose(want=want, step=IN_SERVICE)
    expiring = condition(status, ConditionType.EXPIRING_SOON)
    assert (expiring.status, expiring.reason) == ("False", "Capped")
    assert expiring.message is not None and "capped" in expiring.message
    assert status.expires_at == "2026-11-25T10:00:00Z"


def test_capped_and_inside_the_warning_window_is_expiring_soon() -> None:
    policy = ExpiryPolicy(max_lifetime=timedelta(hours=1))
    now = CREATED + timedelta(minutes=55)
    want = desired(now=now, policy=policy, expiry={"ttl": "30d"})
    status = compose(want=want, step=IN_SERVICE, now=now)
    assert summary(status)["ExpiringSoon"] == ("True", "ExpiringSoon")


# -- attempts -------------------------------------------------------------------------------


def test_attempt_is_recorded_only_when_a_deployment_started() -> None:
    started = compose(step=CREATING, saw=seen("Creating", attempt=Attempt(CONFIG, 1)))
    assert (started.attempted_config_name, started.attempted_generation) == (CONFIG, 1)
    # Later passes that start nothing keep the record, even at a new generation.
    waited = compose(started, step=IN_SERVICE, saw=seen("InService"), generation=2)
    assert (waited.attempted_config_name, waited.attempted_generation) == (CONFIG, 1)
    assert waited.observed_generation == 2
    updated = compose(waited, step=None, saw=seen("Updating", attempt=Attempt("c2", 3)))
    assert (updated.attempted_config_name, updated.attempted_generation) == ("c2", 3)


def test_no_attempt_on_a_fresh_status() -> None:
    status = compose(step=IN_SERVICE)
    assert status.attempted_config_name is None
    assert status.attempted_generation is None


# -- transition times -----------------------------------------------------------------------


def test_transition_time_moves_only_when_the_status_changes() -> None:
    first = compose(step=CREATING, saw=seen("Creating"), now=NOW)
    second = compose(first, step=IN_SERVICE, saw=seen("InService"), now=LATER)
    times = {c.type: c.last_transition_time for c in second.conditions}
    assert times["Ready"] == format_time(LATER)
    # Still False, still False, still False: the original time stays.
    assert times["Parked"] == format_time(NOW)
    assert times["Degraded"] == format_time(NOW)
    assert times["ExpiringSoon"] == format_time(NOW)
    # Reason changes without a status change keep the time too.
    third = compose(
        second,
        want=desired(suspend=True),
        step=plan_parked(EndpointView("InService", CONFIG), "Suspended"),
        now=LATER + timedelta(minutes=1),
    )
    assert condition(third, ConditionType.PARKED).reason == "Parking"
    assert condition(third, ConditionType.PARKED).last_transition_time == format_time(NOW)
    assert condition(third, ConditionType.READY).last_transition_time == format_time(
        LATER + timedelta(minutes=1)
    )


def test_conditions_keep_their_order_across_passes() -> None:
    first = compose(step=CREATING)
    second = compose(first, step=IN_SERVICE, now=LATER)
    assert [c.type for c in second.conditions] == [c.type for c in first.conditions]
    assert len(second.conditions) == 4


# -- set_condition --------------------------------------------------------------------------


def test_set_condition_adds_and_keeps_others() -> None:
    conditions = set_condition([], "Ready", True, "InService", "ok", now=NOW, generation=1)
    conditions = set_condition(conditions, "Custom", "Unknown", "Why", "m", now=NOW, generation=1)
    updated = set_condition(conditions, "Ready", False, "Updating", "u", now=LATER, generation=2)
    assert [c.type for c in updated] == ["Ready", "Custom"]
    assert updated[1] == conditions[1]
    ready = updated[0]
    assert (ready.status, ready.reason, ready.message) == ("False", "Updating", "u")
    assert (ready.last_transition_time, ready.observed_generation) == (format_time(LATER), 2)
    # The input list is not modified.
    assert conditions[0].status == "True"


def test_set_condition_same_status_keeps_the_time_but_updates_the_rest() -> None:
    conditions = set_condition([], "Ready", False, "Creating", "c", now=NOW, generation=1)
    again = set_condition(conditions, "Ready", False, "Updating", "u", now=LATER, generation=2)
    (ready,) = again
    assert (ready.reason, ready.message, ready.observed_generation) == ("Updating", "u", 2)
    assert ready.last_transition_time == format_time(NOW)


def test_get_condition() -> None:
    conditions = set_condition([], "Ready", True, "InService", "ok", now=NOW, generation=1)
    ready = get_condition(conditions, "Ready")
    assert ready is not None and ready.status == "True"
    assert get_condition(conditions, "Parked") is None


# -- times ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T18:00:00Z", datetime(2026, 11, 22, 18, tzinfo=UTC)),
        ("2026-11-22T18:00:00z", datetime(2026, 11, 22, 18, tzinfo=UTC)),
        ("2026-11-22T19:30:00+01:30", datetime(2026, 11, 22, 18, tzinfo=UTC)),
        ("2026-11-22T13:00:00-05:00", datetime(2026, 11, 22, 18, tzinfo=UTC)),
        ("2026-11-22T18:00:00.250Z", datetime(2026, 11, 22, 18, 0, 0, 250000, tzinfo=UTC)),
        # Naive input is taken as UTC.
        ("2026-11-22T18:00:00", datetime(2026, 11, 22, 18, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed.utcoffset() is not None


@pytest.mark.parametrize(
    ("instant", "text"),
    [
        (datetime(2026, 11, 22, 18, tzinfo=UTC), "2026-11-22T18:00:00Z"),
        (
            datetime(2026, 11, 22, 19, 30, tzinfo=timezone(timedelta(hours=1, minutes=30))),
            "2026-11-22T18:00:00Z",
        ),
        (datetime(2026, 11, 22, 18, 0, 0, 999999, tzinfo=UTC), "2026-11-22T18:00:00Z"),
    ],
)
def test_format_time_is_utc_seconds_with_z(instant: datetime, text: str) -> None:
    assert format_time(instant) == text


ZONES = [UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("America/Adak"), ZoneInfo("Asia/Kolkata")]


@settings(max_examples=150, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([*ZONES, timezone(timedelta(hours=5, minutes=45))]),
    )
)
def test_format_parse_round_trip(instant: datetime) -> None:
    text = format_time(instant)
    assert text.endswith("Z")
    parsed = parse_time(text)
    # Compared in UTC: aware datetimes in a repeated (DST) hour never compare equal across zones.
    assert parsed == instant.astimezone(UTC).replace(microsecond=0)
    assert format_time(parsed) == text
    # The same instant written with an offset parses to the same time.
    offset = timezone(timedelta(hours=-7))
    assert parse_time(parsed.astimezone(offset).isoformat()) == parsed


# -- the last create's duration (SPEC §6: a waking route's Retry-After) ----------------------


def incarnation(created: datetime) -> EndpointIncarnation:
    return EndpointIncarnation(
        endpoint_name=ENDPOINT, creation_time=format_time(created), owner_uid="uid-1"
    )


def compose_arrival(old_phase: Phase, created: datetime, now: datetime) -> ManagedEndpointStatus:
    return compose_status(
        ManagedEndpointStatus(phase=old_phase),
        PassOutcome(
            desired=RUNNING,
            step=IN_SERVICE,
            seen=seen(),
            problem=None,
            generation=1,
            now=now,
            incarnation=incarnation(created),
        ),
    )


def test_the_pass_that_sees_creating_end_records_how_long_it_took() -> None:
    status = compose_arrival(Phase.CREATING, NOW - timedelta(seconds=437), NOW)
    assert status.phase == Phase.IN_SERVICE
    assert status.last_create_seconds == 437


@pytest.mark.parametrize("old_phase", [Phase.IN_SERVICE, Phase.UPDATING, Phase.PENDING])
def test_only_an_arrival_from_creating_is_a_create_duration(old_phase: Phase) -> None:
    status = compose_arrival(old_phase, NOW - timedelta(seconds=437), NOW)
    assert status.last_create_seconds is None


def test_a_creating_pass_keeps_the_last_duration() -> None:
    old = ManagedEndpointStatus(phase=Phase.PARKED, last_create_seconds=300)
    status = compose_status(
        old,
        PassOutcome(
            desired=RUNNING,
            step=CREATING,
            seen=seen(None, endpoint_arn=None),
            problem=None,
            generation=1,
            now=NOW,
        ),
    )
    assert status.phase == Phase.CREATING and status.last_create_seconds == 300
