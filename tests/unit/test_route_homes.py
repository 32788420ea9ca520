"""Where a route lives, whose a REST API is, and which Lambdas a namespace may proxy to
(`core.route_homes`); the STS sessions of namespaces and policies (`core.tenancy.sessions`)."""

from __future__ import annotations

import pytest

from sagemeter.api.models import Authorization
from sagemeter.aws.credentials import Identity
from sagemeter.core.route_homes import (
    LEGACY,
    ApiHome,
    InvokeUrl,
    api_owner,
    home_of,
    lambda_entitled,
    namespace_api_tags,
    parse_invoke_url,
)
from sagemeter.core.tenancy.sessions import policy_session_name, session_name

ACCOUNT, REGION = "111111111111", "us-east-1"


@pytest.mark.parametrize(
    ("authorization", "configured", "home"),
    [
        ("API_KEY", None, ApiHome(ACCOUNT, REGION, namespace="team-a")),
        # A key opens every key-required method of its stage: never the platform's API.
        ("API_KEY", "company", ApiHome(ACCOUNT, REGION, namespace="team-a")),
        ("AWS_IAM", None, ApiHome(ACCOUNT, REGION, namespace="team-a")),
        ("AWS_IAM", "company", ApiHome(ACCOUNT, REGION, api_id="company")),
        ("CUSTOM", "company", ApiHome(ACCOUNT, REGION, api_id="company")),
        ("NONE", None, ApiHome(ACCOUNT, REGION, namespace="team-a")),
    ],
)
def test_home_of_a_route(authorization: str, configured: str | None, home: ApiHome) -> None:
    assert home_of(Authorization(authorization), "team-a", ACCOUNT, REGION, configured) == home


@pytest.mark.parametrize(
    ("tags", "owner"),
    [
        (namespace_api_tags("team-a"), "team-a"),
        ({"sagemeter.io/managed-by": "sagemeter"}, LEGACY),
        ({"team": "platform"}, None),
        (None, None),
        ({"sagemeter.io/namespace": "team-a"}, None),  # not made by sagemeter
    ],
)
def test_whose_rest_api(tags: dict[str, str] | None, owner: str | None) -> None:
    assert api_owner(tags) == owner


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        (
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/team-a/falcon",
            InvokeUrl("abc123", "us-east-1", "prod", "team-a/falcon"),
        ),
        (
            "https://x9.execute-api.cn-north-1.amazonaws.com.cn/live/f",
            InvokeUrl("x9", "cn-north-1", "live", "f"),
        ),
        ("https://example.com/prod/f", None),
        (None, None),
    ],
)
def test_invoke_urls_name_their_rest_api(url: str | None, parsed: InvokeUrl | None) -> None:
    assert parse_invoke_url(url) == parsed


FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:team-a-front"


@pytest.mark.parametrize(
    ("tags", "globs", "entitled"),
    [
        ({"sagemeter.io/namespace": "team-a"}, (), True),
        ({"sagemeter.io/namespace": "team-b"}, (), False),
        ({}, (), False),
        (None, (), False),  # tags unreadable: another account's function
        (None, (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:team-a-*",), True),
        ({}, (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:other-*",), False),
    ],
)
def test_lambda_entitlement(
    tags: dict[str, str] | None, globs: tuple[str, ...], entitled: bool
) -> None:
    assert lambda_entitled(FUNCTION, "team-a", tags, globs) is entitled


def test_session_tags_tell_namespaces_and_policies_apart() -> None:
    assert session_name("team-a") == "sm-team-a"
    assert policy_session_name("team-a") == "sm-policy-team-a"
    long = "n" * 63
    assert len(session_name(long)) == len(policy_session_name(long)) == 64
    assert session_name(long) != session_name(long[:-1] + "m")
    # SPEC's names alone can coincide (namespace "policy-x", policy "x"); the session tags never
    # do, and they are what trust policies condition on (deploy/iam/tenant-trust-policy.json).
    role = "arn:aws:iam::111111111111:role/sagemeter-team-a"
    namespace, policy = Identity(role, "policy-x"), Identity(role, policy="x")
    assert namespace.session_name == policy.session_name == "sm-policy-x"
    assert namespace.session_tags == {"sagemeter.io/namespace": "policy-x"}
    assert policy.session_tags == {"sagemeter.io/policy": "x"}
    assert namespace != policy  # and so are their credentials, clients and backoff keys
    with pytest.raises(ValueError):
        Identity(role)
    assert namespace.account == "111111111111"
