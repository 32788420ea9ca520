"""Guardrails: what a ManagedEndpoint asks for that its effective policy does not allow.

    violations(spec, effective, defaults, existing=()) -> list[Violation]

Every guardrail of SPEC §5, including what admission cannot know: the
operator's default region and execution role stand in for unset fields, and
`existing` carries the capacity of an EndpointConfig the object uses as is (or
of an adopted endpoint), which only the operator can read from AWS. Each
violation names the policy and the rule (`sagemeter.api.admission.Rule`), and
says whether admission could have refused it (`at_admission`): the shipped
ValidatingAdmissionPolicy refuses an object exactly when this function returns
a violation with `at_admission` true, with the same message.

    as_is_violations(effective, namespace, fleet, adopted) -> list[Violation]

`as_is_violations` holds a config used as is (`spec.model.endpointConfigName`, an adopted
endpoint's) to the same guardrails, from what AWS describes of it (`core.endpoint.fleet`),
and a config named by `spec.model.endpointConfigName` must be the namespace's own (by
sagemeter's owner tags) or allowed by `endpointConfigs.names`: config names are guessable
(`<endpoint>-c-<hash>`), and another team's config runs its models with its execution role.

`maxLifetime` is not a refusal but a cap on the effective expiry
(`lifetime_cap`), applied like the operator-wide maximum lifetime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sagemeter.api.admission import DEFAULT_AUTHORIZATION, Rule
from sagemeter.api.globs import matches_any
from sagemeter.api.models import ManagedEndpointSpec
from sagemeter.core.endpoint.desired import ExpiryPolicy
from sagemeter.core.endpoint.fleet import Fleet
from sagemeter.core.endpoint.ownership import CLUSTER, MANAGED_BY, OPERATOR, OWNER_NAMESPACE
from sagemeter.core.tenancy.effective import AllowList, EffectivePolicy


@dataclass(frozen=True)
class OperatorDefaults:
    """What the operator uses where an object and its policies say nothing."""

    region: str | None = None
    execution_role_arn: str | None = None
    account_id: str | None = None  # the operator's own account (its identity without a role)
    require_policy: bool = False


@dataclass(frozen=True)
class Capacity:
    """Instances of an endpoint configuration sagemeter did not write (one per variant)."""

    instance_type: str | None
    instance_count: int = 1


@dataclass(frozen=True)
class Violation:
    policy: str
    rule: Rule
    message: str
    at_admission: bool = True


@dataclass(frozen=True)
class LifetimeCap:
    """The smallest maximum lifetime in force, and the policy that set it (None: the operator)."""

    limit: timedelta
    policy: str | None = None


def _refusal(policy: str, rule: Rule, complaint: str, at_admission: bool) -> Violation:
    return Violation(policy, rule, f"EndpointPolicy {policy} ({rule}): {complaint}", at_admission)


def _not_allowed(
    allow: AllowList, rule: Rule, what: str, value: str, at_admission: bool, *, globs: bool = True
) -> list[Violation]:
    """`value` (described as `what`) against every policy's list."""
    found = []
    for opinion in allow:
        allowed = matches_any(opinion.value, value) if globs else value in opinion.value
        if not allowed:
            complaint = f"{what} {value} is not one of {', '.join(opinion.value)}"
            found.append(_refusal(opinion.policy, rule, complaint, at_admission))
    return found


def _region(
    spec: ManagedEndpointSpec, effective: EffectivePolicy, defaults: OperatorDefaults
) -> list[Violation]:
    if spec.region is not None:
        return _not_allowed(
            effective.regions, Rule.REGIONS, "spec.region", spec.region, True, globs=False
        )
    if defaults.region is None:
        return []
    what = "the operator's default region (spec.region is unset)"
    return _not_allowed(effective.regions, Rule.REGIONS, what, defaults.region, False, globs=False)


def _execution_role(
    spec: ManagedEndpointSpec, effective: EffectivePolicy, defaults: OperatorDefaults
) -> list[Violation]:
    model = spec.model
    # An existing EndpointConfig, or an adopted endpoint, brings its own model and role.
    if model is None or model.endpoint_config_name is not None:
        return []
    rule = Rule.EXECUTION_ROLES
    if model.execution_role_arn is not None:
        role = model.execution_role_arn
        return _not_allowed(
            effective.execution_roles, rule, "spec.model.executionRoleArn", role, True
        )
    if effective.execution_role_default is not None:
        source = effective.execution_role_default
        what = (
            f"the default execution role of EndpointPolicy {source.policy}"
            " (spec.model.executionRoleArn is unset)"
        )
        return _not_allowed(effective.execution_roles, rule, what, source.value, False)
    if defaults.execution_role_arn is None:
        return []
    what = "the operator's default execution role (spec.model.executionRoleArn is unset)"
    return _not_allowed(effective.execution_roles, rule, what, defaults.execution_role_arn, False)


def _fleet(
    effective: EffectivePolicy, fleets: Sequence[tuple[Capacity, str, bool]]
) -> list[Violation]:
    """Instance types and counts; each fleet with what it is called in a message, and whether
    admission could have refused it."""
    found: list[Violation] = []
    cap = effective.max_instance_count
    for fleet, what, explicit in fleets:
        if fleet.instance_type is None:  # a serverless variant
            continue
        kind = what if explicit else f"{what}: instance type"
        found += _not_allowed(
            effective.instance_types, Rule.INSTANCE_TYPES, kind, fleet.instance_type, explicit
        )
        if cap is not None and fleet.instance_count > cap.value:
            count = "spec.instanceCount" if explicit else f"{what}: instance count"
            complaint = f"{count} {fleet.instance_count} is more than {cap.value}"
            found.append(_refusal(cap.policy, Rule.MAX_INSTANCE_COUNT, complaint, explicit))
    return found


def _capacity(
    spec: ManagedEndpointSpec, effective: EffectivePolicy, existing: Sequence[Capacity]
) -> list[Violation]:
    if spec.instance_type is not None:
        return _fleet(
            effective,
            [(Capacity(spec.instance_type, spec.instance_count), "spec.instanceType", True)],
        )
    what = "the existing endpoint configuration"
    return _fleet(effective, [(c, what, False) for c in existing])


def _route(spec: ManagedEndpointSpec, effective: EffectivePolicy) -> list[Violation]:
    route = spec.api
    if route is None:
        return []
    authorization = str(route.authorization or DEFAULT_AUTHORIZATION)
    found = _not_allowed(
        effective.authorizations,
        Rule.ROUTE_AUTHORIZATIONS,
        "spec.api.authorization",
        authorization,
        True,
        globs=False,
    )
    for prefix in effective.path_prefixes:
        if not route.path.startswith(prefix.value):
            complaint = f"spec.api.path {route.path} does not start with {prefix.value}"
            found.append(_refusal(prefix.policy, Rule.ROUTE_PATH_PREFIX, complaint, True))
    if route.lambda_arn is not None:
        found += _not_allowed(
            effective.lambda_arns,
            Rule.ROUTE_LAMBDA_ARNS,
            "spec.api.lambdaArn",
            route.lambda_arn,
            True,
        )
    return found


def _adoption(spec: ManagedEndpointSpec, effective: EffectivePolicy) -> list[Violation]:
    if not spec.adopt:
        return []
    name = spec.endpoint_name or "(unset)"
    found = []
    for opinion in effective.adoption:
        if spec.endpoint_name is None or not matches_any(opinion.value, spec.endpoint_name):
            complaint = (
                f"spec.endpointName {name} may not be adopted here:"
                f" not one of {', '.join(opinion.value)}"
            )
            found.append(_refusal(opinion.policy, Rule.ADOPTION, complaint, True))
    return found


def _deletion(spec: ManagedEndpointSpec, effective: EffectivePolicy) -> list[Violation]:
    what = "spec.deletionPolicy"
    value = str(spec.deletion_policy)
    return _not_allowed(
        effective.deletion_policies, Rule.DELETION_POLICIES, what, value, True, globs=False
    )


def violations(
    spec: ManagedEndpointSpec,
    effective: EffectivePolicy,
    defaults: OperatorDefaults,
    existing: Sequence[Capacity] = (),
) -> list[Violation]:
    """Every guardrail `spec` breaks, in the order of `Rule`, then by policy name."""
    found = [
        *_region(spec, effective, defaults),
        *_execution_role(spec, effective, defaults),
        *_capacity(spec, effective, existing),
        *_route(spec, effective),
        *_adoption(spec, effective),
        *_deletion(spec, effective),
    ]
    return _in_order(found)


def _in_order(found: list[Violation]) -> list[Violation]:
    order = list(Rule)
    return sorted(found, key=lambda v: (order.index(v.rule), v.policy, v.message))


def owned_by(tags: Mapping[str, str], namespace: str, cluster: str | None = None) -> bool:
    """The resource carries sagemeter's owner tags for `namespace` of this cluster: a namespace
    of the same name in another cluster sharing the account is another team. A resource made
    before sagemeter tagged its cluster (no cluster tag) counts by its namespace alone."""
    if tags.get(MANAGED_BY) != OPERATOR or tags.get(OWNER_NAMESPACE) != namespace:
        return False
    found = tags.get(CLUSTER)
    return found is None or cluster is None or found == cluster


def _config_owner(
    effective: EffectivePolicy, namespace: str, fleet: Fleet, adopted: bool, cluster: str | None
) -> list[Violation]:
    """A config used as is must be the namespace's own, or allowed by `endpointConfigs.names`
    of every selecting policy that sets it (at least one must). Where no policy governs, and
    for an adopted endpoint's config (a notebook's is never sagemeter's: adoption is the
    grant), only another namespace's sagemeter config is refused."""
    tags, name, rule = fleet.tags, fleet.config_name, Rule.ENDPOINT_CONFIGS
    if owned_by(tags, namespace, cluster):
        return []
    other = tags.get(OWNER_NAMESPACE) if tags.get(MANAGED_BY) == OPERATOR else None
    if other == namespace:  # the same namespace name, in another cluster
        other = f"{namespace} of cluster {tags.get(CLUSTER)}"
    if adopted and not other:
        return []
    whose = (
        f"belongs to namespace {other} (its {OWNER_NAMESPACE} tag)"
        if other
        else f"was not made by sagemeter for namespace {namespace} (no {OWNER_NAMESPACE} tag)"
    )
    if effective.endpoint_configs:
        return [
            _refusal(
                opinion.policy,
                rule,
                f"EndpointConfig {name} {whose} and is not one of {', '.join(opinion.value)}",
                False,
            )
            for opinion in effective.endpoint_configs
            if not matches_any(opinion.value, name)
        ]
    if effective.governed and not adopted:
        policies = ", ".join(effective.policies)
        complaint = (
            f"EndpointConfig {name} {whose}, and no EndpointPolicy selecting namespace"
            f" {namespace} allows it by endpointConfigs.names"
        )
        return [_refusal(policies, rule, complaint, False)]
    if other:
        message = (
            f"EndpointConfig {name} {whose}: a namespace uses as is only its own configs, or"
            " those an EndpointPolicy allows by endpointConfigs.names"
        )
        return [Violation("", rule, message, False)]
    return []


def as_is_violations(
    effective: EffectivePolicy,
    namespace: str,
    fleet: Fleet,
    *,
    adopted: bool,
    cluster: str | None = None,
) -> list[Violation]:
    """Every guardrail a config used as is breaks, as AWS describes it (`fleet`): instance
    types and counts of every variant (shadow variants included), the execution roles of its
    models (and its own), and whose config it is: for `spec.model.endpointConfigName`, the
    namespace's own or one `endpointConfigs.names` allows. An adopted endpoint's config is
    normally no one's (adoption itself is the grant, `core.endpoint.ownership.
    adoption_allowed`), but never another namespace's sagemeter config: a parked adopted
    endpoint resumes from the config its status names, and status is the tenant's to write.
    The region is the object's own (configs are regional), checked by `violations`."""
    what = ("the adopted endpoint's " if adopted else "") + f"EndpointConfig {fleet.config_name}"
    capacities = [
        (
            Capacity(instance_type, variant.instance_count),
            f"{what}, {'shadow ' if variant.shadow else ''}variant {variant.name}",
            False,
        )
        for variant in fleet.variants
        for instance_type in variant.instance_types
    ]
    found = _fleet(effective, capacities)
    for role in fleet.execution_roles:
        found += _not_allowed(
            effective.execution_roles, Rule.EXECUTION_ROLES, f"{what}: execution role", role, False
        )
    found += _config_owner(effective, namespace, fleet, adopted, cluster)
    return _in_order(found)


def lifetime_cap(effective: EffectivePolicy, operator_max: timedelta | None) -> LifetimeCap | None:
    """The smallest of the policies' `maxLifetime` and the operator's maximum lifetime."""
    caps = [LifetimeCap(operator_max)] if operator_max is not None else []
    if effective.max_lifetime is not None:
        caps.append(LifetimeCap(effective.max_lifetime.value, effective.max_lifetime.policy))
    return min(caps, key=lambda c: c.limit) if caps else None


def expiry_policy(base: ExpiryPolicy, effective: EffectivePolicy) -> ExpiryPolicy:
    """`base` (the operator's expiry settings) with the policies' lifetime cap folded in."""
    cap = lifetime_cap(effective, base.max_lifetime)
    return ExpiryPolicy(default_ttl=base.default_ttl, max_lifetime=cap.limit if cap else None)
