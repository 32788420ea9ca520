"""The pure rules of self-service through the route (core.self_service, SPEC §7)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta

import pytest

from sagemeter.api.models import EXTENDS_ANNOTATION, Authorization, ManagedEndpointStatus
from sagemeter.core.endpoint.ownership import Owner
from sagemeter.core.route_methods import build_method_config
from sagemeter.core.routes import RouteSpec
from sagemeter.core.self_service import (
    ExtendOutcome,
    ExtendRequest,
    extend_decision,
    extend_message,
    extend_patch,
    extends_today,
    meter_document,
    parameter_name,
    parse_extend_body,
    parse_extend_message,
    read_extends,
)

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
OWNER = Owner(uid="u-1", namespace="team-a", name="falcon")
ROLE = "arn:aws:iam::111111111111:role/invoke"


def test_the_meter_is_the_values_ls_shows_in_the_specs_order() -> None:
    status = ManagedEndpointStatus.model_validate(
        {
            "phase": "Parked",
            "parkedReason": "Expired",
            "expiresAt": "2026-12-05T07:00:00Z",
            "maxExpiresAt": "2026-12-31T00:00:00Z",
            "hourlyCostUSD": "0.1150",
        }
    )
    document = meter_document("team-a", "falcon", status)
    assert list(json.loads(document)) == [
        "namespace",
        "name",
        "phase",
        "parkedReason",
        "expiresAt",
        "maxExpiresAt",
        "hourlyCostUSD",
    ]
    assert json.loads(document)["parkedReason"] == "Expired"
    assert parameter_name("team-a", "falcon") == "/sagemeter/team-a/falcon"


def route(**kwargs: object) -> RouteSpec:
    defaults: dict[str, object] = {
        "path": "team-a/falcon",
        "endpoint_name": "team-a-falcon",
        "owner": OWNER,
        "authorization": Authorization.API_KEY,
        "meter": "/sagemeter/team-a/falcon",
        "queue": ("111111111111", "sagemeter-events"),
    }
    defaults.update(kwargs)
    return RouteSpec(**defaults)  # type: ignore[arg-type]


def test_meter_methods_keep_the_routes_authorization_and_read_the_parameter() -> None:
    config = build_method_config(route(), "us-east-1", ROLE)
    get, post = config.meter
    assert (get.http_method, post.http_method) == ("GET", "POST")
    for method in (get, post):
        assert method.method["apiKeyRequired"] is True
    assert get.integration["uri"] == "arn:aws:apigateway:us-east-1:ssm:action/GetParameter"
    assert get.integration["credentials"] == ROLE
    assert json.loads(get.integration["requestTemplates"]["application/json"]) == {
        "Name": "/sagemeter/team-a/falcon"
    }
    statuses = {r["statusCode"] for r in get.method_responses}
    assert {"200", "429"} <= statuses
    assert "Throttling" in get.integration_responses[0]["responseTemplates"]["application/json"]
    assert post.integration["uri"].endswith(":sqs:path/111111111111/sagemeter-events")
    # The caller's body and identity go base64-encoded: they can add no field to the message.
    template = post.integration["requestTemplates"]["application/json"]
    assert "$util.base64Encode($input.body)" in template
    assert "$util.base64Encode($context.identity.apiKeyId)" in template


def test_meter_changes_the_fingerprint_and_only_with_self_service() -> None:
    plain = build_method_config(route(meter=None), "us-east-1", ROLE)
    metered = build_method_config(route(), "us-east-1", ROLE)
    assert plain.meter == () and plain.fingerprint != metered.fingerprint
    # Without a queue there is nothing to send an extension to: GET only.
    assert [
        m.http_method for m in build_method_config(route(queue=None), "us-east-1", ROLE).meter
    ] == ["GET"]


@pytest.mark.parametrize(
    ("authorization", "caller"),
    [
        (Authorization.AWS_IAM, "$context.identity.caller"),
        (Authorization.CUSTOM, "$context.authorizer.principalId"),
        (Authorization.COGNITO_USER_POOLS, "$context.authorizer.claims.sub"),
    ],
)
def test_the_caller_per_authorization(authorization: Authorization, caller: str) -> None:
    config = build_method_config(
        route(authorization=authorization, authorizer_id="abc"), "us-east-1", ROLE
    )
    assert caller in config.meter[1].integration["requestTemplates"]["application/json"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_an_extend_message_round_trips() -> None:
    template = extend_message("u-1", "team-a", "falcon", "team-a/falcon")
    rendered = (
        template.replace("$context.requestId", "req-1")
        .replace("$caller", b64("key-1"))
        .replace("$body", b64('{"extend": "1h"}'))
    )
    request = parse_extend_message(json.loads(rendered))
    assert request is not None
    assert (request.uid, request.namespace, request.name, request.path) == (
        "u-1",
        "team-a",
        "falcon",
        "team-a/falcon",
    )
    assert (request.request_id, request.caller, request.body) == (
        "req-1",
        "key-1",
        '{"extend": "1h"}',
    )
    broken = json.loads(rendered) | {"body": "not base64!"}
    assert parse_extend_message(broken) is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"extend": "1h"}', timedelta(hours=1)),
        ('{"extend": "1m"}', timedelta(minutes=1)),
        ('{"extend": "24h"}', timedelta(hours=24)),
        ('{"extend": "1d"}', timedelta(days=1)),
        ('{"extend": "59s"}', "outside 1m to 24h"),
        ('{"extend": "24h1s"}', "outside 1m to 24h"),
        ('{"extend": "soon"}', "invalid duration"),
        ('{"extend": 3600}', 'no "extend"'),
        ('{"extend": "1h", "expiresAt": "2099-01-01T00:00:00Z"}', "unknown fields"),
        ("{}", 'no "extend"'),
        ('["1h"]', "not a JSON object"),
        ("extend=1h", "not JSON"),
        ("", "not JSON"),
    ],
)
def test_the_body_is_read_strictly(body: str, expected: timedelta | str) -> None:
    parsed = parse_extend_body(body)
    if isinstance(expected, timedelta):
        assert parsed == expected
    else:
        assert isinstance(parsed, str) and expected in parsed


HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("expires_at", "cap", "count", "expected", "capped", "refused"),
    [
        # From the current expiry while it is ahead, from now once it passed (Expired).
        (NOW + HOUR, None, 0, NOW + 3 * HOUR, False, None),
        (NOW - HOUR, None, 0, NOW + 2 * HOUR, False, None),
        (None, None, 0, None, False, "never expires"),
        # The cap cuts it, and says so.
        (NOW + HOUR, NOW + 2 * HOUR, 0, NOW + 2 * HOUR, True, None),
        (NOW + HOUR, NOW + 3 * HOUR, 0, NOW + 3 * HOUR, False, None),
        # The daily limit.
        (NOW + HOUR, None, 23, NOW + 3 * HOUR, False, None),
        (NOW + HOUR, None, 24, None, False, "maxExtendsPerDay 24"),
    ],
)
def test_extend_decision(
    expires_at: datetime | None,
    cap: datetime | None,
    count: int,
    expected: datetime | None,
    capped: bool,
    refused: str | None,
) -> None:
    decision = extend_decision(
        body='{"extend": "2h"}',
        now=NOW,
        expires_at=expires_at,
        cap=cap,
        count_today=count,
        max_per_day=24,
    )
    assert decision.expires_at == expected and decision.capped is capped
    assert (decision.refused is None) == (refused is None)
    if refused is not None:
        assert refused in str(decision.refused)


def test_a_bad_body_is_refused_before_anything_else() -> None:
    decision = extend_decision(
        body="{", now=NOW, expires_at=None, cap=None, count_today=99, max_per_day=24
    )
    assert decision.refused is not None and "not JSON" in decision.refused


def test_extensions_are_counted_per_utc_day() -> None:
    assert extends_today("2026-12-05", 3, date(2026, 12, 5)) == 3
    assert extends_today("2026-12-04", 3, date(2026, 12, 5)) == 0
    assert extends_today(None, 0, date(2026, 12, 5)) == 0


def endpoint(
    annotations: dict[str, str] | None = None, expires: str = "2026-12-05T09:00:00Z"
) -> dict[str, object]:
    return {
        "metadata": {
            "name": "falcon",
            "generation": 1,
            "resourceVersion": "42",
            "creationTimestamp": "2026-12-05T07:00:00Z",
            "annotations": annotations or {},
        },
        "spec": {"expiry": {"ttl": "2h"}},
        "status": {"observedGeneration": 1, "expiresAt": expires},
    }


def request(request_id: str = "r-1", body: str = '{"extend": "1h"}') -> ExtendRequest:
    return ExtendRequest("u-1", "team-a", "falcon", "team-a/falcon", request_id, "key-1", body)


def test_an_extension_is_one_patch_of_the_expiry_and_its_record() -> None:
    outcome = extend_patch(endpoint(), request(), NOW, 24)
    assert outcome.patch is not None and outcome.record is not None
    assert outcome.patch["spec"] == {"expiry": {"expiresAt": "2026-12-05T10:00:00Z"}}
    # Conditional on what it was computed from: a change meanwhile is a 409, never lost.
    assert outcome.patch["metadata"]["resourceVersion"] == "42"
    written = outcome.patch["metadata"]["annotations"][EXTENDS_ANNOTATION]
    extends = read_extends(written)
    assert (extends.date, extends.count) == ("2026-12-05", 1)
    assert [r.request_id for r in extends.records] == ["r-1"]
    assert extends.records[0].caller == "key-1" and extends.records[0].capped is False


def test_a_request_delivered_again_changes_nothing() -> None:
    first = extend_patch(endpoint(), request(), NOW, 24)
    assert first.patch is not None
    applied = endpoint(first.patch["metadata"]["annotations"], "2026-12-05T10:00:00Z")
    again = extend_patch(applied, request(), NOW, 24)
    assert again == ExtendOutcome()  # no patch, no refusal: it was applied
    other = extend_patch(applied, request("r-2"), NOW, 24)
    assert (
        other.patch is not None
        and read_extends(other.patch["metadata"]["annotations"][EXTENDS_ANNOTATION]).count == 2
    )


def test_yesterdays_extensions_do_not_count_today() -> None:
    first = extend_patch(endpoint(), request(), NOW - timedelta(days=1), 1)
    assert first.patch is not None
    annotations = first.patch["metadata"]["annotations"]
    assert extend_patch(endpoint(annotations), request("r-2"), NOW - timedelta(days=1), 1).refused
    today = extend_patch(endpoint(annotations), request("r-2"), NOW, 1)
    assert today.refused is None and today.patch is not None


def test_nothing_to_extend_without_an_expiry_or_at_the_cap() -> None:
    never = extend_decision(
        body='{"extend": "1h"}', now=NOW, expires_at=None, cap=None, count_today=0, max_per_day=24
    )
    assert never.refused is not None and "never expires" in never.refused
    at_cap = extend_decision(
        body='{"extend": "1h"}',
        now=NOW,
        expires_at=NOW + HOUR,
        cap=NOW + HOUR,
        count_today=0,
        max_per_day=24,
    )
    assert at_cap.refused is not None and "maximum lifetime" in at_cap.refused
