"""Combining the policies that select a namespace (sagemeter.core.tenancy.effective)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from sagemeter.api.policy import EndpointPolicySpec, OnDecrease
from sagemeter.core.tenancy.effective import (
    BudgetLimit,
    EffectivePolicy,
    Opinion,
    PolicyConflict,
    effective_policy,
)
from sagemeter.core.tenancy.selection import Policy

ROLE = "arn:aws:iam::111111111111:role"


def policy(name: str, **spec: Any) -> Policy:
    body = {"namespaceSelector": {"labelSelector": {}}, **spec}
    return Policy(name, EndpointPolicySpec.model_validate(body))


def combined(*policies: Policy) -> EffectivePolicy:
    result = effective_policy(list(policies))
    assert isinstance(result, EffectivePolicy), result
    return result


def test_no_policy_has_no_opinion() -> None:
    none = combined()
    assert not none.governed
    assert none == EffectivePolicy()


def test_unset_fields_have_no_opinion_and_lists_are_kept_per_policy() -> None:
    result = combined(
        policy("b", instanceTypes=["ml.g5.*"], aws={"regions": ["us-east-1"]}),
        policy("a", instanceTypes=["ml.m5.large", "ml.g5.xlarge"]),
        policy("c"),
    )
    assert result.policies == ("a", "b", "c")
    assert result.instance_types == (
        Opinion("a", ("ml.m5.large", "ml.g5.xlarge")),
        Opinion("b", ("ml.g5.*",)),
    )
    assert result.regions == (Opinion("b", ("us-east-1",)),)
    assert result.execution_roles == () and result.lambda_arns == () and result.adoption == ()


@pytest.mark.parametrize(
    ("counts", "expected"),
    [([], None), ([4], ("p0", 4)), ([4, 2, 3], ("p1", 2)), ([2, 2], ("p0", 2))],
)
def test_caps_take_the_smallest(counts: list[int], expected: tuple[str, int] | None) -> None:
    result = combined(*(policy(f"p{i}", maxInstanceCount=c) for i, c in enumerate(counts)))
    cap = result.max_instance_count
    assert (None if cap is None else (cap.policy, cap.value)) == expected


def test_max_lifetime_is_parsed_and_the_smallest_wins() -> None:
    result = combined(policy("a", maxLifetime="1d"), policy("b", maxLifetime="8h"))
    assert result.max_lifetime == Opinion("b", timedelta(hours=8))


def test_every_budget_is_kept() -> None:
    result = combined(
        policy("a", budget={"usdPerHour": "25", "unknownPriceUSDPerHour": "5.00"}),
        policy("b", budget={"usdPerHour": "0", "onDecrease": "Park"}),
        policy("c"),
    )
    assert result.budgets == (
        BudgetLimit("a", Decimal("25"), Decimal("5.00"), OnDecrease.QUEUE),
        BudgetLimit("b", Decimal("0"), None, OnDecrease.PARK),
    )


def test_route_rules_are_kept_per_policy() -> None:
    result = combined(
        policy("a", routes={"pathPrefix": "team-a/", "authorizations": ["AWS_IAM"]}),
        policy(
            "b",
            routes={
                "pathPrefix": "team-a/x",
                "lambdaArns": ["arn:aws:lambda:us-east-1:111111111111:function:*"],
            },
        ),
    )
    assert result.path_prefixes == (Opinion("a", "team-a/"), Opinion("b", "team-a/x"))
    assert result.authorizations == (Opinion("a", ("AWS_IAM",)),)
    assert len(result.lambda_arns) == 1


# (case, policies, conflicting)
CONFLICTS: list[tuple[str, list[Policy], bool]] = [
    (
        "same-role",
        [policy("a", aws={"roleArn": f"{ROLE}/t"}), policy("b", aws={"roleArn": f"{ROLE}/t"})],
        False,
    ),
    ("one-role", [policy("a", aws={"roleArn": f"{ROLE}/t"}), policy("b")], False),
    (
        "different-roles",
        [policy("a", aws={"roleArn": f"{ROLE}/t"}), policy("b", aws={"roleArn": f"{ROLE}/u"})],
        True,
    ),
    (
        "different-defaults",
        [
            policy("a", executionRoles={"default": f"{ROLE}/sm-a"}),
            policy("b", executionRoles={"default": f"{ROLE}/sm-b"}),
        ],
        True,
    ),
    (
        "same-default",
        [
            policy("a", executionRoles={"default": f"{ROLE}/sm-a"}),
            policy("b", executionRoles={"default": f"{ROLE}/sm-a"}),
        ],
        False,
    ),
    (
        "allowed-lists-never-conflict",
        [
            policy("a", executionRoles={"allowed": [f"{ROLE}/x"]}),
            policy("b", executionRoles={"allowed": [f"{ROLE}/y"]}),
        ],
        False,
    ),
]


@pytest.mark.parametrize(
    ("case", "policies", "conflicting"), CONFLICTS, ids=[c[0] for c in CONFLICTS]
)
def test_conflicts(case: str, policies: list[Policy], conflicting: bool) -> None:
    result = effective_policy(policies)
    assert isinstance(result, PolicyConflict) is conflicting
    if isinstance(result, PolicyConflict):
        assert result.reason == "PolicyConflict"
        assert "EndpointPolicies a and b" in result.message


def test_conflict_message_names_both_fields_when_both_clash() -> None:
    result = effective_policy(
        [
            policy("x", aws={"roleArn": f"{ROLE}/t"}, executionRoles={"default": f"{ROLE}/sm-a"}),
            policy("y", aws={"roleArn": f"{ROLE}/u"}, executionRoles={"default": f"{ROLE}/sm-b"}),
        ]
    )
    assert isinstance(result, PolicyConflict)
    assert "aws.roleArn" in result.message and "executionRoles.default" in result.message
    assert f"{ROLE}/t" in result.message and f"{ROLE}/u" in result.message
    assert result.policies == ("x", "y")


def test_order_of_policies_does_not_matter() -> None:
    a = policy("a", instanceTypes=["ml.g5.*"], maxInstanceCount=3, aws={"roleArn": f"{ROLE}/t"})
    b = policy("b", instanceTypes=["ml.m5.*"], maxInstanceCount=3)
    assert effective_policy([a, b]) == effective_policy([b, a])
