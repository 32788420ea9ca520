"""Guardrails, lifetime caps, placement and the per-object verdict (sagemeter.core.tenancy)."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

import pytest

from sagemeter.api.admission import Rule
from sagemeter.api.models import AwsPlacement, ManagedEndpointSpec
from sagemeter.api.policy import EndpointPolicySpec
from sagemeter.core.endpoint.desired import ExpiryPolicy
from sagemeter.core.endpoint.fleet import Fleet, Variant
from sagemeter.core.tenancy.effective import EffectivePolicy, deletion_policies, effective_policy
from sagemeter.core.tenancy.guardrails import (
    Capacity,
    OperatorDefaults,
    as_is_violations,
    expiry_policy,
    lifetime_cap,
    violations,
)
from sagemeter.core.tenancy.placement import account_of, moved, placement
from sagemeter.core.tenancy.selection import Policy
from sagemeter.core.tenancy.verdict import as_is_verdict, tenancy_verdict
from tests.unit.tenancy_cases import (
    CASES,
    OPERATOR_DEFAULTS,
    POLICIES,
    ROLE,
    Case,
    adopted,
    endpoint,
    role,
)

SELECT_ALL = {"namespaceSelector": {"labelSelector": {}}}


def policy(name: str, **spec: Any) -> Policy:
    return Policy(
        name, EndpointPolicySpec.model_validate({**SELECT_ALL, **spec}), uid=f"uid-{name}"
    )


def effective(*policies: Policy) -> EffectivePolicy:
    result = effective_policy(policies)
    assert isinstance(result, EffectivePolicy), result
    return result


def me(spec: dict[str, Any]) -> ManagedEndpointSpec:
    return ManagedEndpointSpec.model_validate(spec)


# -- the table shared with the admission test ------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_admission_refusals(case: Case) -> None:
    found = violations(
        me(case.spec), effective(policy(case.policy, **POLICIES[case.policy])), OPERATOR_DEFAULTS
    )
    assert {v.rule for v in found if v.at_admission} == case.refused
    for violation in found:
        assert violation.policy == case.policy
        assert violation.message.startswith(f"EndpointPolicy {case.policy} ({violation.rule}): ")


def test_the_shared_table_covers_every_admission_rule() -> None:
    refused = {rule for case in CASES for rule in case.refused}
    assert refused == set(Rule) - {Rule.MAX_LIFETIME, Rule.ENDPOINT_CONFIGS}
    assert len({c.id for c in CASES}) == len(CASES)


# -- what only the operator knows -----------------------------------------------------------

REGIONS = policy("regions", aws={"regions": ["us-east-1"]})
ROLES = policy("roles", executionRoles={"allowed": [f"{ROLE}/sm-*"]})
ROLE_DEFAULT = policy("default", executionRoles={"default": f"{ROLE}/other"})
TYPES = policy("types", instanceTypes=["ml.g5.*"], maxInstanceCount=1)


@pytest.mark.parametrize(
    ("case", "policies", "spec", "defaults", "expected"),
    [
        ("default-region-allowed", [REGIONS], endpoint(), OperatorDefaults(region="us-east-1"), []),
        (
            "default-region-refused",
            [REGIONS],
            endpoint(),
            OperatorDefaults(region="eu-west-1"),
            [("regions", Rule.REGIONS)],
        ),
        ("no-default-region-known", [REGIONS], endpoint(), OperatorDefaults(), []),
        (
            "operator-role-refused",
            [ROLES],
            endpoint(),
            OperatorDefaults(execution_role_arn=f"{ROLE}/operator"),
            [("roles", Rule.EXECUTION_ROLES)],
        ),
        (
            "operator-role-allowed",
            [ROLES],
            endpoint(),
            OperatorDefaults(execution_role_arn=f"{ROLE}/sm-x"),
            [],
        ),
        (
            "another-policy-default-refused",
            [ROLES, ROLE_DEFAULT],
            endpoint(),
            OperatorDefaults(execution_role_arn=f"{ROLE}/sm-x"),
            [("roles", Rule.EXECUTION_ROLES)],
        ),
        (
            "explicit-role-wins-over-defaults",
            [ROLES, ROLE_DEFAULT],
            endpoint(model=role(f"{ROLE}/sm-1")),
            OperatorDefaults(),
            [],
        ),
        (
            "adopted-has-no-role-to-check",
            [ROLES],
            adopted("nb"),
            OperatorDefaults(execution_role_arn=f"{ROLE}/operator"),
            [],
        ),
    ],
)
def test_defaults_are_checked_by_the_operator_only(
    case: str,
    policies: list[Policy],
    spec: dict[str, Any],
    defaults: OperatorDefaults,
    expected: list[tuple[str, Rule]],
) -> None:
    found = violations(me(spec), effective(*policies), defaults)
    assert [(v.policy, v.rule) for v in found] == expected
    assert not any(v.at_admission for v in found)
    for v in found:
        assert "unset" in v.message, v.message


def test_existing_configuration_capacity_is_checked() -> None:
    spec = me(endpoint(instanceType=None, model={"endpointConfigName": "cfg"}))
    found = violations(
        spec,
        effective(TYPES),
        OperatorDefaults(),
        existing=[Capacity("ml.p4d.24xlarge", 2), Capacity(None, 1)],
    )
    assert [(v.rule, v.at_admission) for v in found] == [
        (Rule.INSTANCE_TYPES, False),
        (Rule.MAX_INSTANCE_COUNT, False),
    ]
    assert "existing endpoint configuration" in found[0].message
    # An explicit instance type is what counts, whatever was there before.
    assert (
        violations(
            me(endpoint()),
            effective(TYPES),
            OperatorDefaults(),
            existing=[Capacity("ml.p4d.24xlarge", 9)],
        )
        == []
    )


def test_allow_lists_intersect_and_each_refusal_names_its_policy() -> None:
    wide = policy("wide", instanceTypes=["ml.*"], maxInstanceCount=4)
    narrow = policy("narrow", instanceTypes=["ml.g5.*"], maxInstanceCount=2)
    found = violations(
        me(endpoint(instanceType="ml.m5.large", instanceCount=3)),
        effective(wide, narrow),
        OperatorDefaults(),
    )
    assert [(v.policy, v.rule) for v in found] == [
        ("narrow", Rule.INSTANCE_TYPES),
        ("narrow", Rule.MAX_INSTANCE_COUNT),
    ]
    assert (
        violations(me(endpoint(instanceCount=2)), effective(wide, narrow), OperatorDefaults()) == []
    )


@pytest.mark.parametrize(
    ("lifetimes", "operator_max", "expected"),
    [
        ([], None, None),
        ([], timedelta(hours=4), (timedelta(hours=4), None)),
        (["8h"], None, (timedelta(hours=8), "p0")),
        (["8h", "2h"], timedelta(hours=4), (timedelta(hours=2), "p1")),
        (["8h"], timedelta(hours=4), (timedelta(hours=4), None)),
        (["1d", "24h"], None, (timedelta(days=1), "p0")),  # a tie: first by name
    ],
)
def test_lifetime_cap_takes_the_smallest(
    lifetimes: list[str], operator_max: timedelta | None, expected: tuple[Any, ...] | None
) -> None:
    policies = [policy(f"p{i}", maxLifetime=text) for i, text in enumerate(lifetimes)]
    cap = lifetime_cap(effective(*policies), operator_max)
    assert (None if cap is None else (cap.limit, cap.policy)) == expected
    folded = expiry_policy(
        ExpiryPolicy(default_ttl=timedelta(hours=1), max_lifetime=operator_max),
        effective(*policies),
    )
    assert folded.default_ttl == timedelta(hours=1)
    assert folded.max_lifetime == (None if expected is None else expected[0])


# -- placement and the verdict ----------------------------------------------------------------

TENANT = policy("tenant", aws={"roleArn": "arn:aws:iam::111111111111:role/t"})
OTHER_ACCOUNT = policy("other", aws={"roleArn": "arn:aws:iam::222222222222:role/t"})
OPERATOR = OperatorDefaults(region="us-east-1", account_id="999999999999")


def test_placement_follows_the_role_or_the_operator() -> None:
    assert account_of("arn:aws-us-gov:iam::123456789012:role/x") == "123456789012"
    assert account_of("not-an-arn") is None
    assert placement(me(endpoint()), effective(TENANT), OPERATOR) == AwsPlacement(
        account_id="111111111111", role_arn="arn:aws:iam::111111111111:role/t", region="us-east-1"
    )
    assert placement(me(endpoint(region="eu-west-1")), effective(), OPERATOR) == AwsPlacement(
        account_id="999999999999", role_arn=None, region="eu-west-1"
    )


@pytest.mark.parametrize(
    ("recorded", "current", "moves"),
    [
        (None, AwsPlacement(account_id="1", region="r"), False),  # the first create
        (AwsPlacement(account_id="1", region="r"), AwsPlacement(account_id="1", region="r"), False),
        (
            AwsPlacement(account_id="1", role_arn="a", region="r"),
            AwsPlacement(account_id="1", role_arn="b", region="r"),
            False,
        ),  # a new role, same place
        (AwsPlacement(account_id="1", region="r"), AwsPlacement(account_id="2", region="r"), True),
        (AwsPlacement(account_id="1", region="r"), AwsPlacement(account_id="1", region="s"), True),
        (AwsPlacement(region="r"), AwsPlacement(account_id="2", region="r"), False),  # unknown
    ],
)
def test_an_object_never_moves(
    recorded: AwsPlacement | None, current: AwsPlacement, moves: bool
) -> None:
    reason = moved(recorded, current)
    assert (reason is not None) is moves
    if reason:
        assert "re-created" in reason


def verdict(policies: list[Policy], spec: dict[str, Any] | None = None, **kw: Any) -> Any:
    defaults = kw.pop("defaults", OPERATOR)
    return tenancy_verdict(
        me(spec or endpoint()),
        "team-a",
        {"tenant": "a"},
        policies,
        defaults,
        kw.pop("recorded", None),
        **kw,
    )


def test_verdict_reasons_in_order() -> None:
    required = OperatorDefaults(region="us-east-1", require_policy=True)
    assert verdict([], defaults=required).reason == "NoPolicy"
    assert verdict([]).allowed and verdict([]).placement.account_id == "999999999999"

    conflict = verdict([TENANT, OTHER_ACCOUNT])
    assert conflict.reason == "PolicyConflict"
    assert "other" in conflict.message and "tenant" in conflict.message

    recorded = AwsPlacement(account_id="999999999999", region="us-east-1")
    assert verdict([TENANT], recorded=recorded).reason == "AccountChanged"

    narrow = policy("narrow", instanceTypes=["ml.m5.*"])
    violation = verdict([TENANT, narrow], endpoint())
    assert violation.reason == "PolicyViolation" and violation.policies == ("narrow", "tenant")
    assert "EndpointPolicy narrow (instanceTypes)" in violation.message

    fine = verdict([TENANT, narrow], endpoint(instanceType="ml.m5.large"))
    assert fine.allowed and fine.placement.account_id == "111111111111"
    assert fine.effective is not None and fine.effective.policies == ("narrow", "tenant")


def test_a_policy_that_does_not_select_the_namespace_does_not_count() -> None:
    elsewhere = Policy(
        "elsewhere",
        EndpointPolicySpec.model_validate(
            {"namespaceSelector": {"names": ["team-b"]}, "instanceTypes": ["ml.m5.*"]}
        ),
    )
    assert verdict([elsewhere]).allowed
    assert verdict([elsewhere]).policies == ()


# -- configs used as is -----------------------------------------------------------------------

NAMESPACE = "team-a"
OWN_TAGS = {"sagemeter.io/managed-by": "sagemeter", "sagemeter.io/namespace": NAMESPACE}
OTHER_TAGS = {"sagemeter.io/managed-by": "sagemeter", "sagemeter.io/namespace": "team-b"}
M5_ONLY = policy("m5", instanceTypes=["ml.m5.*"], maxInstanceCount=1)
PIPELINES = policy("pipelines", endpointConfigs={"names": ["pipeline-*"]})


def fleet(
    *variants: Variant, tags: dict[str, str] | None = None, roles: tuple[str, ...] = ()
) -> Fleet:
    return Fleet("pipeline-7", variants, roles, tags if tags is not None else OWN_TAGS)


M5 = Variant("AllTraffic", ("ml.m5.large",), 1, models=("m",))


@pytest.mark.parametrize(
    ("case", "policies", "used", "adopted", "expected"),
    [
        ("own-and-fitting", [M5_ONLY], fleet(M5), False, []),
        (
            "too-big",
            [M5_ONLY],
            fleet(Variant("AllTraffic", ("ml.p4d.24xlarge",), 4)),
            False,
            [("m5", Rule.INSTANCE_TYPES), ("m5", Rule.MAX_INSTANCE_COUNT)],
        ),
        (
            "a-shadow-variant-counts",
            [M5_ONLY],
            fleet(M5, Variant("shadow", ("ml.g5.xlarge",), 1, shadow=True)),
            False,
            [("m5", Rule.INSTANCE_TYPES)],
        ),
        (
            "every-pool-of-a-heterogeneous-variant",
            [M5_ONLY],
            fleet(Variant("AllTraffic", ("ml.m5.large", "ml.p5.48xlarge"), 1)),
            False,
            [("m5", Rule.INSTANCE_TYPES)],
        ),
        ("serverless-has-no-instances", [M5_ONLY], fleet(Variant("s", (), 1)), False, []),
        (
            "model-role-refused",
            [ROLES],
            fleet(M5, roles=(f"{ROLE}/sm-a", f"{ROLE}/admin")),
            False,
            [("roles", Rule.EXECUTION_ROLES)],
        ),
        (
            "another-namespaces-config",
            [M5_ONLY],
            fleet(M5, tags=OTHER_TAGS),
            False,
            [("m5", Rule.ENDPOINT_CONFIGS)],
        ),
        ("allowed-by-name", [M5_ONLY, PIPELINES], fleet(M5, tags=OTHER_TAGS), False, []),
        (
            "every-list-must-allow",
            [PIPELINES, policy("exact", endpointConfigs={"names": ["pipeline-8"]})],
            fleet(M5, tags={}),
            False,
            [("exact", Rule.ENDPOINT_CONFIGS)],
        ),
        ("ungoverned-untagged-is-allowed", [], fleet(M5, tags={}), False, []),
        (
            "ungoverned-another-namespaces-is-not",
            [],
            fleet(M5, tags=OTHER_TAGS),
            False,
            [("", Rule.ENDPOINT_CONFIGS)],
        ),
        ("adopted-needs-no-config-grant", [M5_ONLY], fleet(M5, tags={}), True, []),
        (
            "adopted-never-runs-another-namespaces-config",
            [M5_ONLY],
            fleet(M5, tags=OTHER_TAGS),
            True,
            [("", Rule.ENDPOINT_CONFIGS)],
        ),
        (
            "adopted-fleet-is-held-to-the-guardrails",
            [M5_ONLY],
            fleet(Variant("AllTraffic", ("ml.m5.large",), 3), tags={}),
            True,
            [("m5", Rule.MAX_INSTANCE_COUNT)],
        ),
    ],
)
def test_configs_used_as_is_are_held_to_the_guardrails(
    case: str,
    policies: list[Policy],
    used: Fleet,
    adopted: bool,
    expected: list[tuple[str, Rule]],
) -> None:
    found = as_is_violations(effective(*policies), NAMESPACE, used, adopted=adopted)
    assert [(v.policy, v.rule) for v in found] == expected
    assert not any(v.at_admission for v in found)
    assert all("pipeline-7" in v.message for v in found)


def test_an_as_is_verdict_is_a_policy_violation_that_names_the_fix() -> None:
    base = verdict([M5_ONLY], endpoint(instanceType=None, model={"endpointConfigName": "x"}))
    assert base.allowed
    assert as_is_verdict(base, NAMESPACE, fleet(M5), adopted=False) is None
    refused = as_is_verdict(base, NAMESPACE, fleet(M5, tags=OTHER_TAGS), adopted=False)
    assert refused is not None and refused.reason == "PolicyViolation"
    assert refused.placement == base.placement
    assert "belongs to namespace team-b" in str(refused.message)
    assert "spec.model.endpointConfigName" in str(refused.message)
    big = fleet(Variant("AllTraffic", ("ml.p4d.24xlarge",), 4), tags={})
    not_adopted = as_is_verdict(base, NAMESPACE, big, adopted=True)
    assert not_adopted is not None and "is not adopted" in str(not_adopted.message)
    assert as_is_verdict(None, NAMESPACE, fleet(M5, tags={}), adopted=False) is None


@pytest.mark.parametrize(
    ("spec", "allowed"),
    [
        ({}, None),
        ({"budget": {"usdPerHour": "1"}}, ("Delete",)),
        ({"maxLifetime": "8h"}, ("Delete",)),
        (
            {"budget": {"usdPerHour": "1"}, "deletionPolicies": ["Retain", "Delete"]},
            ("Retain", "Delete"),
        ),
        ({"deletionPolicies": ["Delete"]}, ("Delete",)),
    ],
)
def test_deletion_policies_default_to_delete_with_a_budget_or_lifetime(
    spec: dict[str, Any], allowed: tuple[str, ...] | None
) -> None:
    assert deletion_policies(EndpointPolicySpec.model_validate({**SELECT_ALL, **spec})) == allowed


def test_the_same_namespace_of_another_cluster_is_another_team() -> None:
    """Two clusters sharing an account may both have a namespace `team-a`: a config of the
    other cluster's team-a is not this team-a's own. One made before sagemeter tagged its
    cluster counts by its namespace alone."""
    ours = {**OWN_TAGS, "sagemeter.io/cluster": "cluster-1"}
    theirs = {**OWN_TAGS, "sagemeter.io/cluster": "cluster-2"}
    check = partial(as_is_violations, effective(M5_ONLY), NAMESPACE, adopted=False)
    assert check(fleet(M5, tags=ours), cluster="cluster-1") == []
    assert check(fleet(M5, tags=OWN_TAGS), cluster="cluster-1") == []
    [refused] = check(fleet(M5, tags=theirs), cluster="cluster-1")
    assert refused.rule == Rule.ENDPOINT_CONFIGS
    assert "belongs to namespace team-a of cluster cluster-2" in refused.message
    assert [
        v.rule
        for v in as_is_violations(
            EffectivePolicy(), NAMESPACE, fleet(M5, tags=theirs), adopted=False, cluster="cluster-1"
        )
    ] == [Rule.ENDPOINT_CONFIGS]
