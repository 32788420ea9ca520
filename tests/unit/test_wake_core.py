"""Requests and events through AWS, the pure half: what a route answers while its endpoint does
not serve, the messages on the event queue, and the queue's policy."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from sagemeter.api.models import Authorization, ParkedReason, Phase, WakeCount
from sagemeter.core.endpoint.ownership import Owner
from sagemeter.core.route_methods import build_method_config
from sagemeter.core.routes import RouteSpec
from sagemeter.core.self_service import ExtendRequest
from sagemeter.core.wake import (
    AlarmChange,
    EndpointChange,
    HoldKind,
    RouteHold,
    Wakeable,
    WakeRequest,
    endpoint_status,
    extend_refusal,
    holder_refusal,
    message_age_seconds,
    parse_message,
    queue_policy,
    route_hold,
    wake_message,
    wake_refusal,
    wake_token,
    wakes_today,
)

OPENS = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def hold(**given: object) -> RouteHold | None:
    fields: dict[str, object] = {
        "running": False,
        "reason": ParkedReason.IDLE,
        "phase": Phase.PARKED,
        "wake_on_request": True,
        "wakes_left": True,
        "woken": False,
        "create_seconds": 240,
        "next_transition_at": OPENS,
    }
    fields.update(given)
    return route_hold(**fields)  # type: ignore[arg-type]


# (case, changes, kind, reason, retry-after)
TABLE = [
    ("serving", {"running": True, "phase": Phase.IN_SERVICE, "reason": None}, None, None, None),
    (
        "serving while updating",
        {"running": True, "phase": Phase.UPDATING, "reason": None},
        None,
        None,
        None,
    ),
    ("idle, wakes on request", {}, HoldKind.WAKING, "Idle", "240"),
    # SPEC §6: 600 s before any create was observed.
    ("idle, no create time known yet", {"create_seconds": None}, HoldKind.WAKING, "Idle", "600"),
    ("idle, no wakes left today", {"wakes_left": False}, HoldKind.PARKED, "WakeLimit", None),
    ("idle, without wakeOnRequest", {"wake_on_request": False}, HoldKind.PARKED, "Idle", None),
    ("expired", {"reason": ParkedReason.EXPIRED}, HoldKind.PARKED, "Expired", None),
    ("suspended", {"reason": ParkedReason.SUSPENDED}, HoldKind.PARKED, "Suspended", None),
    ("over budget", {"reason": ParkedReason.OVER_BUDGET}, HoldKind.PARKED, "OverBudget", None),
    (
        "outside the schedule: until the window opens",
        {"reason": ParkedReason.SCHEDULE},
        HoldKind.PARKED,
        "Schedule",
        "Mon, 30 Nov 2026 09:00:00 GMT",
    ),
    (
        "woken and starting",
        {"running": True, "phase": Phase.CREATING, "reason": None, "woken": True},
        HoldKind.WAKING,
        "Idle",
        "240",
    ),
    (
        "starting for another reason",
        {"running": True, "phase": Phase.CREATING, "reason": None},
        HoldKind.PARKED,
        "Starting",
        "240",
    ),
]


@pytest.mark.parametrize(
    ("case", "changes", "kind", "reason", "retry"), TABLE, ids=[row[0] for row in TABLE]
)
def test_route_hold(
    case: str,
    changes: dict[str, object],
    kind: HoldKind | None,
    reason: str | None,
    retry: str | None,
) -> None:
    found = hold(**changes)
    if kind is None:
        assert found is None, case
    else:
        assert found == RouteHold(kind, str(reason), retry), case


def test_a_held_route_never_changes_between_passes() -> None:
    # The same state a moment later gives the same hold: the route is not rewritten.
    assert hold(reason=ParkedReason.SCHEDULE) == hold(reason=ParkedReason.SCHEDULE)


def test_wakes_are_counted_per_utc_day() -> None:
    assert wakes_today(WakeCount(date="2026-11-28", count=3), date(2026, 11, 28)) == 3
    assert wakes_today(WakeCount(date="2026-11-27", count=3), date(2026, 11, 28)) == 0
    assert wakes_today(None, date(2026, 11, 28)) == 0


def test_one_wake_token_per_park() -> None:
    assert wake_token("2026-11-28T07:00:00Z") == wake_token("2026-11-28T07:00:00Z")
    assert wake_token("2026-11-28T07:00:00Z") != wake_token("2026-11-28T08:00:00Z")


# -- the route while held ------------------------------------------------------------------

OWNER = Owner("team-a", "falcon", "uid-a")


def held(kind: HoldKind, reason: str, retry: str | None = None) -> RouteSpec:
    return RouteSpec(
        path="team-a/falcon",
        endpoint_name="falcon",
        owner=OWNER,
        authorization=Authorization.API_KEY,
        hold=RouteHold(kind, reason, retry),
        queue=("123456789012", "sagemeter-events"),
    )


def test_a_parked_route_is_a_mock_that_says_why_and_keeps_its_authorization() -> None:
    config = build_method_config(held(HoldKind.PARKED, "Expired"), "us-east-1", "role")
    assert config.method["apiKeyRequired"] is True  # nobody unauthorized learns anything
    assert config.integration["type"] == "MOCK"
    (response,) = config.integration_responses
    assert response["statusCode"] == "503"
    assert json.loads(response["responseTemplates"]["application/json"]) == {
        "state": "parked",
        "reason": "Expired",
    }
    assert response["responseParameters"] == {"method.response.header.Sagemeter-State": "'parked'"}


def test_a_waking_route_sends_a_constant_naming_the_object_and_never_the_body() -> None:
    config = build_method_config(held(HoldKind.WAKING, "Idle", "240"), "us-east-1", "role")
    integration = config.integration
    assert integration["uri"] == (
        "arn:aws:apigateway:us-east-1:sqs:path/123456789012/sagemeter-events"
    )
    assert integration["credentials"] == "role"
    assert integration["passthroughBehavior"] == "NEVER"
    template = integration["requestTemplates"]["application/json"]
    assert "$input" not in template  # the caller's request never reaches the queue
    assert '""uid"":""uid-a""' in template and "$context.requestId" in template
    ok, failed = config.integration_responses
    assert (ok["statusCode"], ok["selectionPattern"]) == ("503", r"2\d{2}")
    assert ok["responseParameters"]["method.response.header.Retry-After"] == "'240'"
    assert failed["statusCode"] == "502" and "selectionPattern" not in failed


def test_a_route_changes_with_its_hold() -> None:
    serving = build_method_config(
        RouteSpec(path="p", endpoint_name="e", owner=OWNER), "us-east-1", "role"
    ).fingerprint
    parked = build_method_config(held(HoldKind.PARKED, "Expired"), "us-east-1", "role")
    waking = build_method_config(held(HoldKind.WAKING, "Idle", "60"), "us-east-1", "role")
    assert len({serving, parked.fingerprint, waking.fingerprint}) == 3


# -- messages --------------------------------------------------------------------------------


def test_a_wake_message_round_trips() -> None:
    body = wake_message("uid-a", "team-a", "falcon", "team-a/falcon").replace(
        "$context.requestId", "req-1"
    )
    assert parse_message(body) == WakeRequest("uid-a", "team-a", "falcon", "team-a/falcon", "req-1")


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"kind": "sagemeter.wake", "uid": "u"}),
        json.dumps(
            {"kind": "sagemeter.wake", "uid": "", "namespace": "n", "name": "x", "path": "p"}
        ),
        json.dumps({"detail-type": "Something Else", "detail": {}}),
    ],
)
def test_what_is_none_of_the_three_is_dropped(body: str) -> None:
    assert parse_message(body) is None


def test_events_as_eventbridge_delivers_them() -> None:
    alarm = {
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "detail": {
            "alarmName": "sagemeter-ep-idle",
            "state": {"value": "ALARM"},
            "previousState": {"value": "OK"},
        },
    }
    assert parse_message(json.dumps(alarm)) == AlarmChange("sagemeter-ep-idle", "ALARM", "OK")
    endpoint = {
        "detail-type": "SageMaker Endpoint State Change",
        "source": "aws.sagemaker",
        "detail": {"EndpointName": "ep", "EndpointStatus": "IN_SERVICE"},
    }
    assert parse_message(json.dumps(endpoint)) == EndpointChange("ep", "InService")


@pytest.mark.parametrize(
    ("event", "api"),
    [
        ("IN_SERVICE", "InService"),
        ("OUT_OF_SERVICE", "OutOfService"),
        ("UPDATE_ROLLBACK_FAILED", "UpdateRollbackFailed"),
        ("SYSTEM_UPDATING", "SystemUpdating"),
        ("CREATING", "Creating"),
        ("ROLLING_BACK", "RollingBack"),
    ],
)
def test_endpoint_statuses_as_the_api_writes_them(event: str, api: str) -> None:
    assert endpoint_status(event) == api


def test_message_age() -> None:
    now = datetime(2026, 11, 28, 7, 0, 30, tzinfo=UTC)
    sent = str(int(datetime(2026, 11, 28, 7, 0, 0, tzinfo=UTC).timestamp() * 1000))
    assert message_age_seconds(sent, now) == pytest.approx(30)
    assert message_age_seconds(None, now) is None
    assert message_age_seconds("x", now) is None


def test_only_the_invoke_roles_and_sagemeters_rules_may_send() -> None:
    arn = "arn:aws:sqs:us-east-1:123456789012:sagemeter-events"
    policy = queue_policy(
        arn,
        ["arn:aws:iam::123456789012:role/invoke"],
        ["arn:aws:events:us-east-1:123456789012:rule/sagemeter-events-x"],
    )
    routes, rules = policy["Statement"]
    assert routes["Principal"] == {"AWS": ["arn:aws:iam::123456789012:role/invoke"]}
    assert rules["Principal"] == {"Service": "events.amazonaws.com"}
    assert rules["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        "arn:aws:events:us-east-1:123456789012:rule/sagemeter-events-x"
    ]
    assert all(
        s["Action"] == "sqs:SendMessage" and s["Resource"] == arn for s in policy["Statement"]
    )
    # No invoke role (nothing wakes on request): only the rules.
    assert len(queue_policy(arn, [], [])["Statement"]) == 1


PARKED = Wakeable(
    uid="u1",
    namespace="team-a",
    name="falcon",
    scope="self",
    region="us-east-1",
    path="falcon",
    wake_on_request=True,
    self_service=False,
    idle_parked_at="2026-11-28T07:00:00Z",
    wakes_left=True,
)
REQUEST = WakeRequest(uid="u1", namespace="team-a", name="falcon", path="falcon")


@pytest.mark.parametrize(
    ("known", "queue", "request_", "refusal"),
    [
        (PARKED, ("self", "us-east-1"), REQUEST, None),
        (PARKED, ("self", "us-east-1"), replace(REQUEST, name="other"), "another object"),
        (PARKED, ("self", "us-east-1"), replace(REQUEST, namespace="team-b"), "another object"),
        (PARKED, ("111122223333", "us-east-1"), REQUEST, "another account's or region's"),
        (PARKED, ("self", "eu-west-1"), REQUEST, "another account's or region's"),
        (PARKED, ("self", "us-east-1"), replace(REQUEST, path="elsewhere"), "at this path"),
        (replace(PARKED, wake_on_request=False), ("self", "us-east-1"), REQUEST, "at this path"),
        (replace(PARKED, path=None), ("self", "us-east-1"), REQUEST, "at this path"),
        (replace(PARKED, idle_parked_at=None), ("self", "us-east-1"), REQUEST, "not parked"),
        (replace(PARKED, wakes_left=False), ("self", "us-east-1"), REQUEST, "no wakes left"),
    ],
)
def test_a_wake_request_matches_what_a_request_through_the_route_implies(
    known: Wakeable, queue: tuple[str, str], request_: WakeRequest, refusal: str | None
) -> None:
    found = wake_refusal(known, *queue, request_)
    assert (found is None) if refusal is None else (found is not None and refusal in found)


EXTENDABLE = replace(PARKED, wake_on_request=False, self_service=True, idle_parked_at=None)
EXTEND = ExtendRequest(
    uid="u1",
    namespace="team-a",
    name="falcon",
    path="falcon",
    request_id="r1",
    caller="alice",
    body='{"duration": "1h"}',
)


@pytest.mark.parametrize(
    ("known", "queue", "request_", "refusal"),
    [
        (EXTENDABLE, ("self", "us-east-1"), EXTEND, None),
        # Running or parked for any reason: an extend does not ask for a park or wakes left.
        (replace(EXTENDABLE, wakes_left=False), ("self", "us-east-1"), EXTEND, None),
        (EXTENDABLE, ("self", "us-east-1"), replace(EXTEND, name="other"), "another object"),
        (EXTENDABLE, ("self", "us-east-1"), replace(EXTEND, namespace="b"), "another object"),
        (EXTENDABLE, ("111122223333", "us-east-1"), EXTEND, "another account's or region's"),
        (EXTENDABLE, ("self", "eu-west-1"), EXTEND, "another account's or region's"),
        (EXTENDABLE, ("self", "us-east-1"), replace(EXTEND, path="elsewhere"), "no self-service"),
        (replace(EXTENDABLE, self_service=False), ("self", "us-east-1"), EXTEND, "no self-service"),
        (replace(EXTENDABLE, path=None), ("self", "us-east-1"), EXTEND, "no self-service"),
    ],
)
def test_an_extend_request_matches_what_a_post_through_the_route_implies(
    known: Wakeable, queue: tuple[str, str], request_: ExtendRequest, refusal: str | None
) -> None:
    found = extend_refusal(known, *queue, request_)
    assert (found is None) if refusal is None else (found is not None and refusal in found)


@pytest.mark.parametrize(("holder", "refused"), [("u1", False), ("u2", True), (None, True)])
def test_only_the_object_the_route_registry_lists_is_woken(
    holder: str | None, refused: bool
) -> None:
    assert (holder_refusal("u1", holder) is not None) == refused
