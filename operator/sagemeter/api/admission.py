"""The shipped ValidatingAdmissionPolicy: EndpointPolicy guardrails checked at `kubectl apply`.

One ValidatingAdmissionPolicy (`endpointpolicies.sagemeter.io`) with
`paramKind: EndpointPolicy` holds one CEL validation per guardrail that the
API server can decide from the object alone. The operator keeps a binding per
EndpointPolicy (built by `sagemeter.core.tenancy.admission`), so every policy
that selects a namespace is evaluated against its objects, and all must allow.

What admission checks, per policy (a field the policy leaves unset passes):

* `aws.regions` — `spec.region`, when set;
* `executionRoles.allowed` — `spec.model.executionRoleArn`, when set;
* `instanceTypes`, `maxInstanceCount` — `spec.instanceType`/`spec.instanceCount`,
  when the object names an instance type;
* `routes.authorizations`, `routes.pathPrefix`, `routes.lambdaArns` — `spec.api`;
* `adoption.endpointNames` — `spec.endpointName` of an `adopt: true` object;
* `deletionPolicies` — `spec.deletionPolicy` (unset: Delete only when the policy sets a
  budget or `maxLifetime`, else both).

What it cannot know is left to the operator (`sagemeter.core.tenancy`): the
operator's default region and execution role (an unset field), the fleet of an existing
EndpointConfig or adopted endpoint and whose config it is (`endpointConfigs.names`),
`maxLifetime` (a cap on the expiry, not a refusal), budgets, conflicts between policies,
NoPolicy.

A match condition limits the policy to creates and to updates that change a
spec field other than `expiry` and `suspend`: extending, suspending, removing
finalizers and status writes are never blocked by a policy tightened later.

Every rule's name is the policy field it enforces (`Guardrail.rule`); the
operator's `Violation.rule` uses the same names, and the messages read alike.
The YAML file is written by `sagemeter.api.render` (this module stays free of
YAML so that `sagemeter.core` can import the rule names).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from sagemeter.api.common import GROUP, PLURAL, POLICY_KIND, POLICY_PLURAL, VERSION
from sagemeter.api.globs import cel_matches_any
from sagemeter.api.spec import ManagedEndpointSpec

POLICY_NAME: Final = f"{POLICY_PLURAL}.{GROUP}"
"""Name of the ValidatingAdmissionPolicy; bindings refer to it as `policyName`."""

UNCHECKED_ON_UPDATE: Final = ("expiry", "suspend")
"""Spec fields whose change alone does not re-check guardrails."""

DEFAULT_AUTHORIZATION: Final = "AWS_IAM"


class Rule(StrEnum):
    """A guardrail, named by the EndpointPolicy field that sets it."""

    REGIONS = "aws.regions"
    EXECUTION_ROLES = "executionRoles.allowed"
    INSTANCE_TYPES = "instanceTypes"
    MAX_INSTANCE_COUNT = "maxInstanceCount"
    MAX_LIFETIME = "maxLifetime"
    ROUTE_AUTHORIZATIONS = "routes.authorizations"
    ROUTE_PATH_PREFIX = "routes.pathPrefix"
    ROUTE_LAMBDA_ARNS = "routes.lambdaArns"
    ADOPTION = "adoption.endpointNames"
    DELETION_POLICIES = "deletionPolicies"
    ENDPOINT_CONFIGS = "endpointConfigs.names"  # the operator's alone: it reads the config's tags


@dataclass(frozen=True)
class Guardrail:
    """One validation: `allowed` is CEL that holds when the object complies."""

    rule: Rule
    allowed: str
    complaint: str  # CEL string expression: what is wrong, after the policy's name


def _present(root: str, path: str) -> str:
    """CEL: every step of `root.path` is set (`has(a.b) && has(a.b.c)`)."""
    steps = path.split(".")
    return " && ".join(f"has({root}.{'.'.join(steps[: i + 1])})" for i in range(len(steps)))


def _opinion(path: str) -> str:
    return _present("params.spec", path)


def _join(path: str) -> str:
    return f"params.spec.{path}.join(', ')"


OBJ = "object.spec"
PAR = "params.spec"
_AUTHORIZATION = (
    f"(has({OBJ}.api.authorization) ? {OBJ}.api.authorization : '{DEFAULT_AUTHORIZATION}')"
)
_COUNT = f"(has({OBJ}.instanceCount) ? {OBJ}.instanceCount : 1)"
_ADOPTING = f"(has({OBJ}.adopt) && {OBJ}.adopt)"
_DELETION = f"(has({OBJ}.deletionPolicy) ? {OBJ}.deletionPolicy : 'Delete')"
# Unset, a policy with a budget or a maxLifetime allows Delete only
# (sagemeter.core.tenancy.effective.deletion_policies says the same).
_DELETION_POLICIES = (
    f"(has({PAR}.deletionPolicies) ? {PAR}.deletionPolicies"
    f" : (has({PAR}.budget) || has({PAR}.maxLifetime) ? ['Delete'] : ['Delete', 'Retain']))"
)

GUARDRAILS: Final[tuple[Guardrail, ...]] = (
    Guardrail(
        Rule.REGIONS,
        f"!({_opinion('aws.regions')}) || !has({OBJ}.region) || {OBJ}.region in {PAR}.aws.regions",
        f"'spec.region ' + {OBJ}.region + ' is not one of ' + {_join('aws.regions')}",
    ),
    Guardrail(
        Rule.EXECUTION_ROLES,
        f"!({_opinion('executionRoles.allowed')}) || !({_present(OBJ, 'model.executionRoleArn')})"
        f" || {cel_matches_any(f'{PAR}.executionRoles.allowed', f'{OBJ}.model.executionRoleArn')}",
        f"'spec.model.executionRoleArn ' + {OBJ}.model.executionRoleArn + ' is not one of '"
        f" + {_join('executionRoles.allowed')}",
    ),
    Guardrail(
        Rule.INSTANCE_TYPES,
        f"!({_opinion('instanceTypes')}) || !has({OBJ}.instanceType)"
        f" || {cel_matches_any(f'{PAR}.instanceTypes', f'{OBJ}.instanceType')}",
        f"'spec.instanceType ' + {OBJ}.instanceType + ' is not one of ' + {_join('instanceTypes')}",
    ),
    Guardrail(
        Rule.MAX_INSTANCE_COUNT,
        f"!has({PAR}.maxInstanceCount) || !has({OBJ}.instanceType)"
        f" || {_COUNT} <= {PAR}.maxInstanceCount",
        f"'spec.instanceCount ' + string({_COUNT}) + ' is more than '"
        f" + string({PAR}.maxInstanceCount)",
    ),
    Guardrail(
        Rule.ROUTE_AUTHORIZATIONS,
        f"!({_opinion('routes.authorizations')}) || !has({OBJ}.api)"
        f" || {_AUTHORIZATION} in {PAR}.routes.authorizations",
        f"'spec.api.authorization ' + {_AUTHORIZATION} + ' is not one of '"
        f" + {_join('routes.authorizations')}",
    ),
    Guardrail(
        Rule.ROUTE_PATH_PREFIX,
        f"!({_opinion('routes.pathPrefix')}) || !has({OBJ}.api)"
        f" || {OBJ}.api.path.startsWith({PAR}.routes.pathPrefix)",
        f"'spec.api.path ' + {OBJ}.api.path + ' does not start with ' + {PAR}.routes.pathPrefix",
    ),
    Guardrail(
        Rule.ROUTE_LAMBDA_ARNS,
        f"!({_opinion('routes.lambdaArns')}) || !({_present(OBJ, 'api.lambdaArn')})"
        f" || {cel_matches_any(f'{PAR}.routes.lambdaArns', f'{OBJ}.api.lambdaArn')}",
        f"'spec.api.lambdaArn ' + {OBJ}.api.lambdaArn + ' is not one of '"
        f" + {_join('routes.lambdaArns')}",
    ),
    Guardrail(
        Rule.ADOPTION,
        f"!({_opinion('adoption.endpointNames')}) || !{_ADOPTING}"
        f" || (has({OBJ}.endpointName)"
        f" && {cel_matches_any(f'{PAR}.adoption.endpointNames', f'{OBJ}.endpointName')})",
        f"'spec.endpointName ' + (has({OBJ}.endpointName) ? {OBJ}.endpointName : '(unset)')"
        f" + ' may not be adopted here: not one of ' + {_join('adoption.endpointNames')}",
    ),
    Guardrail(
        Rule.DELETION_POLICIES,
        f"{_DELETION} in {_DELETION_POLICIES}",
        f"'spec.deletionPolicy ' + {_DELETION} + ' is not one of '"
        f" + {_DELETION_POLICIES}.join(', ')",
    ),
)


def checked_spec_fields() -> list[str]:
    """Spec fields (wire names) whose change is a "spec change" for admission."""
    fields = ManagedEndpointSpec.model_fields
    names = [info.alias or name for name, info in fields.items()]
    return [name for name in names if name not in UNCHECKED_ON_UPDATE]


def spec_change_condition() -> str:
    """CEL: a create, or an update that changes a spec field other than expiry and suspend."""
    unchanged = [
        f"(has(object.spec.{f}) == has(oldObject.spec.{f})"
        f" && (!has(object.spec.{f}) || object.spec.{f} == oldObject.spec.{f}))"
        for f in checked_spec_fields()
    ]
    return "request.operation == 'CREATE' || !(\n  " + "\n  && ".join(unchanged) + ")"


def _validation(guardrail: Guardrail) -> dict[str, str]:
    prefix = f"'EndpointPolicy ' + params.metadata.name + ' ({guardrail.rule}): '"
    return {
        "expression": guardrail.allowed,
        "messageExpression": f"{prefix} + {guardrail.complaint}",
        "message": f"refused by an EndpointPolicy ({guardrail.rule})",
        "reason": "Forbidden",
    }


def admission_policy() -> dict[str, Any]:
    """The ValidatingAdmissionPolicy object."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {
            "name": POLICY_NAME,
            "labels": {"app.kubernetes.io/name": "sagemeter"},
        },
        "spec": {
            "failurePolicy": "Fail",
            "paramKind": {"apiVersion": f"{GROUP}/{VERSION}", "kind": POLICY_KIND},
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [GROUP],
                        "apiVersions": [VERSION],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": [PLURAL],
                    }
                ]
            },
            "matchConditions": [
                {"name": "creates-and-spec-changes", "expression": spec_change_condition()}
            ],
            "validations": [_validation(g) for g in GUARDRAILS],
        },
    }
