"""The effective policy: every EndpointPolicy that selects a namespace, combined.

SPEC §5 "Several policies": a field a policy leaves unset has no opinion;
allow-lists intersect, caps take the smallest, and every matching budget must
have room. Two matching policies that name different `aws.roleArn` or
different `executionRoles.default` conflict: `effective_policy` returns a
`PolicyConflict` instead, and the operator does nothing in AWS for the object.

Allow-lists are globs, and the intersection of two glob lists is not a glob
list, so they are kept per policy (`Opinion`): a value is allowed when it
matches every policy's list, and a refusal names the policy that refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Generic, TypeVar

from sagemeter.api.common import DeletionPolicy
from sagemeter.api.policy import EndpointPolicySpec, OnDecrease
from sagemeter.core.meter.durations import parse_duration
from sagemeter.core.tenancy.selection import Policy

T = TypeVar("T")

CONFLICT_REASON = "PolicyConflict"


@dataclass(frozen=True)
class Opinion(Generic[T]):
    """What one policy says about one field."""

    policy: str
    value: T


@dataclass(frozen=True)
class BudgetLimit:
    """One policy's budget, parsed."""

    policy: str
    usd_per_hour: Decimal
    unknown_price: Decimal | None = None
    on_decrease: OnDecrease = OnDecrease.QUEUE


AllowList = tuple[Opinion[tuple[str, ...]], ...]


@dataclass(frozen=True)
class EffectivePolicy:
    """The combined opinions of the policies selecting a namespace (names in `policies`)."""

    policies: tuple[str, ...] = ()
    role_arn: Opinion[str] | None = None
    execution_role_default: Opinion[str] | None = None
    regions: AllowList = ()
    execution_roles: AllowList = ()
    instance_types: AllowList = ()
    max_instance_count: Opinion[int] | None = None
    max_lifetime: Opinion[timedelta] | None = None
    budgets: tuple[BudgetLimit, ...] = ()
    adoption: AllowList = ()
    authorizations: AllowList = ()
    path_prefixes: tuple[Opinion[str], ...] = ()
    lambda_arns: AllowList = ()
    endpoint_configs: AllowList = ()
    deletion_policies: AllowList = ()

    @property
    def governed(self) -> bool:
        """At least one policy selects the namespace."""
        return bool(self.policies)


@dataclass(frozen=True)
class PolicyConflict:
    """Matching policies disagree where they cannot both hold."""

    message: str
    policies: tuple[str, ...] = field(default=())
    reason: str = CONFLICT_REASON


def _allow_list(
    policies: Sequence[Policy], read: Callable[[EndpointPolicySpec], Sequence[str] | None]
) -> AllowList:
    return tuple(
        Opinion(p.name, tuple(values)) for p in policies if (values := read(p.spec)) is not None
    )


def _single(
    policies: Sequence[Policy],
    label: str,
    read: Callable[[EndpointPolicySpec], str | None],
) -> tuple[Opinion[str] | None, str | None]:
    """The one value the policies agree on, or a clash described in words."""
    opinions = [Opinion(p.name, v) for p in policies if (v := read(p.spec)) is not None]
    for other in opinions[1:]:
        if other.value != opinions[0].value:
            first = opinions[0]
            return None, (
                f"EndpointPolicies {first.policy} and {other.policy} name different {label}"
                f" ({first.value} and {other.value})"
            )
    return (opinions[0] if opinions else None), None


def deletion_policies(spec: EndpointPolicySpec) -> tuple[str, ...] | None:
    """The spec.deletionPolicy values a policy allows (None: no opinion). Unset, a policy with a
    budget or a maxLifetime allows Delete only: a retained endpoint runs on outside both."""
    if spec.deletion_policies is not None:
        return tuple(str(p) for p in spec.deletion_policies)
    if spec.budget is not None or spec.max_lifetime is not None:
        return (str(DeletionPolicy.DELETE),)
    return None


def budget_limit(policy: Policy) -> BudgetLimit | None:
    """A policy's budget, parsed; None when it sets none."""
    budget = policy.spec.budget
    if budget is None:
        return None
    unknown = budget.unknown_price_usd_per_hour
    return BudgetLimit(
        policy=policy.name,
        usd_per_hour=Decimal(budget.usd_per_hour),
        unknown_price=Decimal(unknown) if unknown is not None else None,
        on_decrease=OnDecrease(budget.on_decrease),
    )


def effective_policy(policies: Sequence[Policy]) -> EffectivePolicy | PolicyConflict:
    """Combine the policies selecting one namespace (none: the operator's defaults apply)."""
    ordered = sorted(policies, key=lambda p: p.name)
    role, role_clash = _single(ordered, "aws.roleArn", lambda s: s.aws.role_arn if s.aws else None)
    default, default_clash = _single(
        ordered,
        "executionRoles.default",
        lambda s: s.execution_roles.default if s.execution_roles else None,
    )
    clashes = [c for c in (role_clash, default_clash) if c]
    if clashes:
        return PolicyConflict(message="; ".join(clashes), policies=tuple(p.name for p in ordered))
    counts = [
        Opinion(p.name, p.spec.max_instance_count)
        for p in ordered
        if p.spec.max_instance_count is not None
    ]
    lifetimes = [
        Opinion(p.name, parse_duration(p.spec.max_lifetime))
        for p in ordered
        if p.spec.max_lifetime is not None
    ]
    return EffectivePolicy(
        policies=tuple(p.name for p in ordered),
        role_arn=role,
        execution_role_default=default,
        regions=_allow_list(ordered, lambda s: s.aws.regions if s.aws else None),
        execution_roles=_allow_list(
            ordered, lambda s: s.execution_roles.allowed if s.execution_roles else None
        ),
        instance_types=_allow_list(ordered, lambda s: s.instance_types),
        # Caps: the smallest; a tie goes to the policy first by name (min() is stable).
        max_instance_count=min(counts, key=lambda o: o.value) if counts else None,
        max_lifetime=min(lifetimes, key=lambda o: o.value) if lifetimes else None,
        budgets=tuple(b for p in ordered if (b := budget_limit(p)) is not None),
        adoption=_allow_list(ordered, lambda s: s.adoption.endpoint_names if s.adoption else None),
        authorizations=_allow_list(
            ordered, lambda s: s.routes.authorizations if s.routes else None
        ),
        path_prefixes=tuple(
            Opinion(p.name, p.spec.routes.path_prefix)
            for p in ordered
            if p.spec.routes is not None and p.spec.routes.path_prefix is not None
        ),
        lambda_arns=_allow_list(ordered, lambda s: s.routes.lambda_arns if s.routes else None),
        endpoint_configs=_allow_list(
            ordered, lambda s: s.endpoint_configs.names if s.endpoint_configs else None
        ),
        deletion_policies=_allow_list(ordered, deletion_policies),
    )
