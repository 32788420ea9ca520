"""Pure route builders: method and integration parameters per mode, header pass-through,
async and Lambda URIs, the route record in operationName, invoke URLs, policy refusals."""

from __future__ import annotations

from typing import Any

import pytest

from sagemeter.api.models import ApiRoute, Authorization
from sagemeter.core.endpoint.ownership import Owner
from sagemeter.core.route_methods import build_method_config, method_complete
from sagemeter.core.routes import (
    ASYNC_REQUEST_HEADERS,
    AUTHORIZER_NOT_FOUND,
    INVOKE_ROLE_MISSING,
    OPERATION_NAME_MAX,
    REALTIME_REQUEST_HEADERS,
    UNAUTHENTICATED_REFUSED,
    RouteError,
    RouteRecord,
    RouteSpec,
    authorizer_mismatch,
    check_route_allowed,
    encode_route_record,
    invoke_url,
    lambda_arn_from_uri,
    lambda_integration_uri,
    lambda_source_arn,
    lambda_statement_id,
    parse_route_record,
    resource_path,
    sagemaker_integration_uri,
    split_path,
)

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/apigw-sagemaker"
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:front"
OWNER = Owner(namespace="team-a", name="falcon", uid="6f1c1f3e-8a0b-4b59-9d7c-2f1f6f4ad001")


def route(**changes: object) -> RouteSpec:
    fields: dict[str, object] = {
        "path": "team-a/falcon",
        "endpoint_name": "falcon-dev",
        "owner": OWNER,
    }
    fields.update(changes)
    return RouteSpec(**fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- paths and URIs


def test_split_path_and_resource_path() -> None:
    assert split_path("team-a/falcon") == ("team-a", "falcon")
    assert split_path("/falcon/") == ("falcon",)
    assert resource_path("team-a/falcon") == "/team-a/falcon"
    assert resource_path("falcon") == "/falcon"


def test_invoke_url() -> None:
    assert (
        invoke_url("a1b2c3", "eu-west-1", "prod", "team-a/falcon")
        == "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/prod/team-a/falcon"
    )
    assert invoke_url("x", "cn-north-1", "prod", "f").endswith(".amazonaws.com.cn/prod/f")


def test_sagemaker_uris() -> None:
    assert (
        sagemaker_integration_uri(REGION, "falcon-dev")
        == "arn:aws:apigateway:us-east-1:runtime.sagemaker:path//endpoints/falcon-dev/invocations"
    )
    assert sagemaker_integration_uri(REGION, "falcon-dev", async_=True).endswith(
        "path//endpoints/falcon-dev/async-invocations"
    )
    assert sagemaker_integration_uri("cn-north-1", "e").startswith("arn:aws-cn:apigateway:")


def test_lambda_uri_round_trip_and_permission_ids() -> None:
    uri = lambda_integration_uri(REGION, LAMBDA)
    assert uri == (
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{LAMBDA}/invocations"
    )
    assert lambda_arn_from_uri(uri) == LAMBDA
    assert lambda_arn_from_uri(sagemaker_integration_uri(REGION, "e")) is None
    assert lambda_arn_from_uri("") is None
    assert (
        lambda_source_arn(REGION, "123456789012", "abc123", "team-a/falcon")
        == "arn:aws:execute-api:us-east-1:123456789012:abc123/*/POST/team-a/falcon"
    )
    sid = lambda_statement_id("abc123", "team-a/falcon")
    assert sid == lambda_statement_id("abc123", "/team-a/falcon/")  # deterministic
    assert sid != lambda_statement_id("abc123", "team-a-falcon")  # not fooled by joining
    long_sid = lambda_statement_id("abc123", "/".join(["x" * 40] * 3))
    assert len(long_sid) <= 100
    assert all(c.isalnum() or c in "-_" for c in long_sid)


# --------------------------------------------------------------------------- route record


def test_route_record_round_trip() -> None:
    text = encode_route_record(OWNER, "0123456789ab")
    assert text == f"sagemeter:{OWNER.uid}:0123456789ab:team-a/falcon"
    assert parse_route_record(text) == RouteRecord(OWNER.uid, "0123456789ab", "team-a", "falcon")


def test_route_record_keeps_uid_and_fingerprint_when_cut() -> None:
    owner = Owner(namespace="n" * 63, name="m" * 253, uid=OWNER.uid)
    text = encode_route_record(owner, "0123456789ab")
    assert len(text) == OPERATION_NAME_MAX
    record = parse_route_record(text)
    assert record is not None
    assert (record.uid, record.fingerprint) == (OWNER.uid, "0123456789ab")


@pytest.mark.parametrize("foreign", [None, "", "ListPets", "sagemeter", "sagemeter:uid:zz"])
def test_foreign_operation_names_are_no_record(foreign: str | None) -> None:
    assert parse_route_record(foreign) is None


# --------------------------------------------------------------------------- method configs


def test_direct_realtime_route_passes_headers_through() -> None:
    config = build_method_config(route(), REGION, ROLE)
    assert config.method["authorizationType"] == "AWS_IAM"
    assert config.method["apiKeyRequired"] is False
    assert config.method["requestParameters"] == {
        "method.request.header.Content-Type": False,
        "method.request.header.Accept": False,
        "method.request.header.X-Amzn-SageMaker-Custom-Attributes": False,
    }
    integration = config.integration
    assert integration["type"] == "AWS"
    assert integration["integrationHttpMethod"] == "POST"
    assert integration["uri"] == sagemaker_integration_uri(REGION, "falcon-dev")
    assert integration["credentials"] == ROLE
    assert integration["passthroughBehavior"] == "WHEN_NO_MATCH"
    assert integration["requestParameters"] == {
        f"integration.request.header.{h}": f"method.request.header.{h}"
        for h in REALTIME_REQUEST_HEADERS
    }
    assert "X-Amzn-SageMaker-Custom-Attributes" in REALTIME_REQUEST_HEADERS
    assert [r["statusCode"] for r in config.method_responses] == ["200", "400", "500"]
    default = config.integration_responses[-1]
    assert default["statusCode"] == "200" and "selectionPattern" not in default
    assert default["responseParameters"]["method.response.header.Content-Type"] == (
        "integration.response.header.Content-Type"
    )
    errors = {r["statusCode"]: r["selectionPattern"] for r in config.integration_responses[:-1]}
    assert errors == {"400": r"4\d{2}", "500": r"5\d{2}"}
    # Every mapped response header is declared on every method response.
    declared = set(config.method_responses[0]["responseParameters"])
    assert set(default["responseParameters"]) <= declared
    assert parse_route_record(config.method["operationName"]) == RouteRecord(
        OWNER.uid, config.fingerprint, "team-a", "falcon"
    )
    assert not config.proxy


def test_async_route_uses_async_invocations_and_input_location() -> None:
    config = build_method_config(route(async_=True), REGION, ROLE)
    assert config.integration["uri"].endswith("/endpoints/falcon-dev/async-invocations")
    mapped = config.integration["requestParameters"]
    assert mapped["integration.request.header.X-Amzn-SageMaker-InputLocation"] == (
        "method.request.header.X-Amzn-SageMaker-InputLocation"
    )
    assert set(mapped) == {f"integration.request.header.{h}" for h in ASYNC_REQUEST_HEADERS}
    assert config.integration_responses[-1]["statusCode"] == "202"
    output = config.integration_responses[-1]["responseParameters"]
    assert "method.response.header.X-Amzn-SageMaker-OutputLocation" in output


def test_lambda_proxy_route() -> None:
    config = build_method_config(route(lambda_arn=LAMBDA), REGION, None)
    assert config.integration == {
        "type": "AWS_PROXY",
        "integrationHttpMethod": "POST",
        "uri": lambda_integration_uri(REGION, LAMBDA),
    }
    assert "requestParameters" not in config.method
    assert config.method_responses == () and config.integration_responses == ()
    assert config.proxy


@pytest.mark.parametrize(
    ("authorization", "extra", "expected"),
    [
        (Authorization.AWS_IAM, {}, {"authorizationType": "AWS_IAM", "apiKeyRequired": False}),
        (Authorization.API_KEY, {}, {"authorizationType": "NONE", "apiKeyRequired": True}),
        (
            Authorization.CUSTOM,
            {"authorizer_id": "abc123"},
            {"authorizationType": "CUSTOM", "authorizerId": "abc123", "apiKeyRequired": False},
        ),
        (
            Authorization.COGNITO_USER_POOLS,
            {"authorizer_id": "pool42"},
            {"authorizationType": "COGNITO_USER_POOLS", "authorizerId": "pool42"},
        ),
        (
            Authorization.COGNITO_USER_POOLS,
            {"authorizer_id": "pool42", "authorization_scopes": ("team-a/meter", "openid")},
            {
                "authorizationType": "COGNITO_USER_POOLS",
                "authorizerId": "pool42",
                "authorizationScopes": ["team-a/meter", "openid"],
            },
        ),
        (Authorization.NONE, {}, {"authorizationType": "NONE", "apiKeyRequired": False}),
    ],
)
def test_authorization_modes(
    authorization: Authorization, extra: dict[str, Any], expected: dict[str, object]
) -> None:
    config = build_method_config(route(authorization=authorization, **extra), REGION, ROLE)
    assert {k: config.method.get(k) for k in expected} == expected
    if authorization not in (Authorization.CUSTOM, Authorization.COGNITO_USER_POOLS):
        assert "authorizerId" not in config.method
    if "authorization_scopes" not in extra:
        assert "authorizationScopes" not in config.method


def test_fingerprint_follows_every_setting() -> None:
    base = build_method_config(route(), REGION, ROLE).fingerprint
    assert build_method_config(route(), REGION, ROLE).fingerprint == base
    variants = [
        build_method_config(route(endpoint_name="other"), REGION, ROLE),
        build_method_config(route(async_=True), REGION, ROLE),
        build_method_config(route(authorization=Authorization.API_KEY), REGION, ROLE),
        build_method_config(
            route(authorization=Authorization.COGNITO_USER_POOLS, authorizer_id="p1"), REGION, ROLE
        ),
        build_method_config(
            route(
                authorization=Authorization.COGNITO_USER_POOLS,
                authorizer_id="p1",
                authorization_scopes=("a/b",),
            ),
            REGION,
            ROLE,
        ),
        build_method_config(route(lambda_arn=LAMBDA), REGION, ROLE),
        build_method_config(route(), REGION, ROLE.replace("apigw", "other")),
        build_method_config(route(), "eu-west-1", ROLE),
    ]
    assert len({base, *(v.fingerprint for v in variants)}) == len(variants) + 1


def test_method_complete_needs_integration_and_default_response() -> None:
    config = build_method_config(route(), REGION, ROLE)
    assert not method_complete(False, {"operationName": "x"})
    partial = {
        "methodIntegration": {
            "uri": "u",
            "integrationResponses": {"400": {"statusCode": "400", "selectionPattern": r"4\d{2}"}},
        }
    }
    assert not method_complete(False, partial)
    full = {
        "methodIntegration": {
            "integrationResponses": {r["statusCode"]: r for r in config.integration_responses}
        }
    }
    assert method_complete(False, full)
    assert method_complete(True, {"methodIntegration": {"type": "AWS_PROXY"}})


# --------------------------------------------------------------------------- spec and policy


def test_route_spec_from_api_model() -> None:
    api = ApiRoute.model_validate(
        {"path": "team-a/falcon", "authorization": "CUSTOM", "authorizerId": "abc123"}
    )
    spec = RouteSpec.from_api(api, "falcon-dev", OWNER, async_=True)
    assert spec == RouteSpec(
        path="team-a/falcon",
        endpoint_name="falcon-dev",
        owner=OWNER,
        authorization=Authorization.CUSTOM,
        authorizer_id="abc123",
        async_=True,
    )
    assert RouteSpec.from_api(ApiRoute(path="f"), "e", OWNER).authorization is (
        Authorization.AWS_IAM
    )


def test_none_is_refused_unless_allowed() -> None:
    with pytest.raises(RouteError) as refused:
        check_route_allowed(route(authorization=Authorization.NONE), False, ROLE)
    assert refused.value.reason == UNAUTHENTICATED_REFUSED
    check_route_allowed(route(authorization=Authorization.NONE), True, ROLE)


def test_direct_route_needs_invoke_role_but_lambda_does_not() -> None:
    with pytest.raises(RouteError) as missing:
        check_route_allowed(route(), False, None)
    assert missing.value.reason == INVOKE_ROLE_MISSING
    check_route_allowed(route(lambda_arn=LAMBDA), False, None)


@pytest.mark.parametrize("authorization", [Authorization.CUSTOM, Authorization.COGNITO_USER_POOLS])
def test_an_authorizer_kind_without_authorizer_is_refused(authorization: Authorization) -> None:
    with pytest.raises(RouteError) as refused:
        check_route_allowed(route(authorization=authorization), False, ROLE)
    assert refused.value.reason == AUTHORIZER_NOT_FOUND


@pytest.mark.parametrize(
    ("authorization", "kind", "fits"),
    [
        (Authorization.CUSTOM, "TOKEN", True),
        (Authorization.CUSTOM, "REQUEST", True),
        (Authorization.CUSTOM, "COGNITO_USER_POOLS", False),
        (Authorization.COGNITO_USER_POOLS, "COGNITO_USER_POOLS", True),
        (Authorization.COGNITO_USER_POOLS, "TOKEN", False),
        (Authorization.COGNITO_USER_POOLS, "", False),
    ],
)
def test_an_authorizer_must_be_of_the_kind_the_route_needs(
    authorization: Authorization, kind: str, fits: bool
) -> None:
    found = authorizer_mismatch(authorization, {"id": "a1", "type": kind})
    assert (found is None) == fits
    if not fits:
        assert found is not None and "a1" in found


def test_scopes_come_sorted_from_the_api_model() -> None:
    api = ApiRoute.model_validate(
        {
            "path": "f",
            "authorization": "COGNITO_USER_POOLS",
            "authorizerId": "p1",
            "authorizationScopes": ["z/b", "a/c"],
        }
    )
    assert RouteSpec.from_api(api, "e", OWNER).authorization_scopes == ("a/c", "z/b")
