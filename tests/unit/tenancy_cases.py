"""Guardrail cases shared by the Python guardrail tests (tests/unit/test_tenancy_guardrails.py)
and the admission tests against a real API server (tests/integration/test_policy_admission.py).

Each case is one EndpointPolicy (by key in POLICIES), one ManagedEndpoint spec, and the
rules admission must refuse it for (empty: accepted). The same table run through
`sagemeter.core.tenancy.guardrails.violations` and through the shipped
ValidatingAdmissionPolicy must give the same answers: that is how the globs and every
rule are known to mean the same in Python and in CEL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sagemeter.api.admission import Rule
from sagemeter.core.tenancy.guardrails import OperatorDefaults

ACCOUNT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role"
LAMBDA = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/model:1"

# Deliberately allowed by no policy below: what only the operator can know never
# reaches admission, so the cases' refusals must not depend on it.
OPERATOR_DEFAULTS = OperatorDefaults(
    region="ap-south-1", execution_role_arn="arn:aws:iam::999999999999:role/operator-default"
)

# Selectors are filled in by whoever applies a policy.
POLICIES: dict[str, dict[str, Any]] = {
    "strict": {
        "aws": {"roleArn": f"{ROLE}/sagemeter-team-a", "regions": ["us-east-1", "eu-central-1"]},
        "executionRoles": {
            "default": f"{ROLE}/sm-team-a",
            "allowed": [f"{ROLE}/sm-team-a*", f"{ROLE}/shared"],
        },
        "instanceTypes": ["ml.g5.*", "ml.m5.large"],
        "maxInstanceCount": 2,
        "maxLifetime": "8h",
        "budget": {"usdPerHour": "25.00"},
        "adoption": {"endpointNames": ["notebook-*", "exact-one"]},
        "routes": {
            "authorizations": ["AWS_IAM", "API_KEY"],
            "pathPrefix": "team-a/",
            "lambdaArns": [f"{LAMBDA}:team-a-*"],
        },
    },
    "loose": {
        "instanceTypes": ["ml.g*", "ml.c5.*"],
        "routes": {"lambdaArns": [f"{LAMBDA}:*"], "pathPrefix": "t"},
        "adoption": {"endpointNames": ["*"]},
    },
    "silent": {},
    # A budget, and both deletion policies allowed on purpose.
    "retaining": {"budget": {"usdPerHour": "5"}, "deletionPolicies": ["Delete", "Retain"]},
    "lifetime": {"maxLifetime": "1h"},
}


def endpoint(**spec: Any) -> dict[str, Any]:
    """A container-model ManagedEndpoint spec on one ml.g5.xlarge, with `spec` on top
    (None removes a field)."""
    body: dict[str, Any] = {
        "model": {"container": {"image": IMAGE}},
        "instanceType": "ml.g5.xlarge",
    }
    body.update(spec)
    return {k: v for k, v in body.items() if v is not None}


def role(arn: str) -> dict[str, Any]:
    return {"container": {"image": IMAGE}, "executionRoleArn": arn}


def adopted(name: str) -> dict[str, Any]:
    return endpoint(model=None, instanceType=None, adopt=True, endpointName=name)


def route(path: str = "team-a/m", **fields: Any) -> dict[str, Any]:
    return {"path": path, **fields}


@dataclass(frozen=True)
class Case:
    id: str
    policy: str
    spec: dict[str, Any]
    refused: frozenset[Rule] = frozenset()


def case(id: str, policy: str, spec: dict[str, Any], *refused: Rule) -> Case:
    return Case(id, policy, spec, frozenset(refused))


R = Rule
CASES: list[Case] = [
    case("compliant", "strict", endpoint(region="us-east-1", api=route())),
    case("all-defaults", "strict", endpoint()),
    case("region-allowed", "strict", endpoint(region="eu-central-1")),
    case("region-refused", "strict", endpoint(region="eu-west-1"), R.REGIONS),
    case("region-unset-is-operator-business", "strict", endpoint(region=None)),
    case("role-glob-prefix", "strict", endpoint(model=role(f"{ROLE}/sm-team-a-prod"))),
    case("role-glob-empty-rest", "strict", endpoint(model=role(f"{ROLE}/sm-team-a"))),
    case("role-exact", "strict", endpoint(model=role(f"{ROLE}/shared"))),
    case(
        "role-exact-is-not-prefix",
        "strict",
        endpoint(model=role(f"{ROLE}/shared-2")),
        R.EXECUTION_ROLES,
    ),
    case(
        "role-shorter-than-glob",
        "strict",
        endpoint(model=role(f"{ROLE}/sm-team")),
        R.EXECUTION_ROLES,
    ),
    case("role-other-team", "strict", endpoint(model=role(f"{ROLE}/sm-team-b")), R.EXECUTION_ROLES),
    case(
        "role-other-account",
        "strict",
        endpoint(model=role("arn:aws:iam::222222222222:role/sm-team-a")),
        R.EXECUTION_ROLES,
    ),
    case("type-glob", "strict", endpoint(instanceType="ml.g5.48xlarge")),
    case("type-exact", "strict", endpoint(instanceType="ml.m5.large")),
    case(
        "type-exact-is-not-prefix",
        "strict",
        endpoint(instanceType="ml.m5.xlarge"),
        R.INSTANCE_TYPES,
    ),
    case(
        "type-glob-needs-the-dot", "strict", endpoint(instanceType="ml.g6.xlarge"), R.INSTANCE_TYPES
    ),
    case(
        "type-and-count",
        "strict",
        endpoint(instanceType="ml.p4d.24xlarge", instanceCount=3),
        R.INSTANCE_TYPES,
        R.MAX_INSTANCE_COUNT,
    ),
    case("count-at-cap", "strict", endpoint(instanceCount=2)),
    case("count-over-cap", "strict", endpoint(instanceCount=3), R.MAX_INSTANCE_COUNT),
    case(
        "serverless-has-no-instances",
        "strict",
        endpoint(instanceType=None, inferenceType="Serverless", serverless={"maxConcurrency": 50}),
    ),
    case(
        "existing-config-is-operator-business",
        "strict",
        endpoint(instanceType=None, model={"endpointConfigName": "someone-elses"}),
    ),
    case("route-api-key", "strict", endpoint(api=route(authorization="API_KEY"))),
    case("route-none", "strict", endpoint(api=route(authorization="NONE")), R.ROUTE_AUTHORIZATIONS),
    case(
        "route-custom",
        "strict",
        endpoint(api=route(authorization="CUSTOM", authorizerId="abc123")),
        R.ROUTE_AUTHORIZATIONS,
    ),
    case("route-path-other-team", "strict", endpoint(api=route("team-b/m")), R.ROUTE_PATH_PREFIX),
    case("route-path-without-slash", "strict", endpoint(api=route("team-a")), R.ROUTE_PATH_PREFIX),
    case("route-lambda-allowed", "strict", endpoint(api=route(lambdaArn=f"{LAMBDA}:team-a-proxy"))),
    case(
        "route-lambda-refused",
        "strict",
        endpoint(api=route(lambdaArn=f"{LAMBDA}:team-b-proxy")),
        R.ROUTE_LAMBDA_ARNS,
    ),
    case(
        "route-everything-wrong",
        "strict",
        endpoint(api=route("x/m", authorization="NONE", lambdaArn=f"{LAMBDA}:x")),
        R.ROUTE_AUTHORIZATIONS,
        R.ROUTE_PATH_PREFIX,
        R.ROUTE_LAMBDA_ARNS,
    ),
    case("adopt-glob", "strict", adopted("notebook-2026-11-20")),
    case("adopt-exact", "strict", adopted("exact-one")),
    case("adopt-exact-is-not-prefix", "strict", adopted("exact-one-more"), R.ADOPTION),
    case("adopt-refused", "strict", adopted("prod-llm"), R.ADOPTION),
    case("named-but-not-adopting", "strict", endpoint(endpointName="prod-llm")),
    case(
        "retain-refused-with-a-budget",
        "strict",
        endpoint(deletionPolicy="Retain"),
        R.DELETION_POLICIES,
    ),
    case("delete-is-the-default", "strict", endpoint(deletionPolicy="Delete")),
    case(
        "retain-refused-with-a-lifetime",
        "lifetime",
        endpoint(deletionPolicy="Retain"),
        R.DELETION_POLICIES,
    ),
    case("retain-allowed-by-the-list", "retaining", endpoint(deletionPolicy="Retain")),
    case(
        "retain-allowed-without-budget-or-lifetime",
        "loose",
        adopted("x") | {"deletionPolicy": "Retain"},
    ),
    case("loose-type-short-glob", "loose", endpoint(instanceType="ml.g6e.xlarge")),
    case(
        "loose-type-star-is-a-prefix-only",
        "loose",
        endpoint(instanceType="ml.m5.large"),
        R.INSTANCE_TYPES,
    ),
    case("loose-any-lambda", "loose", endpoint(api=route("t/m", lambdaArn=f"{LAMBDA}:anything"))),
    case("loose-prefix-not-a-folder", "loose", endpoint(api=route("teams/m"))),
    case("loose-star-adopts-all", "loose", adopted("whatever")),
    case(
        "silent-has-no-opinion",
        "silent",
        endpoint(
            region="ap-south-1",
            instanceType="ml.p5.48xlarge",
            instanceCount=100,
            api=route("/".join(["x"] * 3), authorization="NONE"),
            deletionPolicy="Retain",
        ),
    ),
]
