"""The EndpointPolicy API (sagemeter.io/v1alpha1, cluster-scoped): spec and status.

A platform team's policy for the namespaces it selects (SPEC §5): the AWS role
their objects' calls assume, guardrails on what those objects may ask for, a
cost budget, which foreign endpoints they may adopt. Like the ManagedEndpoint
models, these are the single source of the CRD (`sagemeter.api.crd`): every
shape rule is checked by the API server at `kubectl apply`, with a message
that names the field. Allow-lists are globs (`sagemeter.api.globs`).

Field semantics, shared by the admission policy and the operator: a field left
unset has no opinion; when several policies select a namespace, allow-lists
intersect, caps take the smallest, and every budget must have room.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from sagemeter.api.common import (
    PATTERN_MESSAGE,
    REGION_PATTERN,
    ROLE_ARN_PATTERN,
    SNS_TOPIC_ARN_PATTERN,
    ApiModel,
    Authorization,
    DeletionPolicy,
    Duration,
    cel,
    validations,
)
from sagemeter.api.globs import cel_matches_any, glob_pattern
from sagemeter.api.status import Condition

# ------------------------------------------------------------------------------ patterns

# Kubernetes label syntax: an optional DNS-subdomain prefix and "/", then a name of at
# most 63 characters. The prefix's own 253-character limit is approximated by the key's
# maxLength (317 = 253 + 1 + 63); the API server checks namespace labels exactly.
LABEL_KEY_PATTERN: Final = (
    r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE_PATTERN: Final = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"
NAMESPACE_NAME_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
# Whole dollars and at most two decimals, as a string: YAML numbers would be
# floats, and "0.1 + 0.2" must not decide who runs. "0" is allowed: a frozen budget.
MONEY_PATTERN: Final = r"^[0-9]{1,7}(\.[0-9]{1,2})?$"
# A string prefix (end it with "/" to mean a folder of routes).
PATH_PREFIX_PATTERN: Final = r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*/?$"

ROLE_ARN_GLOB_PATTERN: Final = glob_pattern(
    r"arn:aws[a-z-]*:iam::[0-9]{12}:role/", r"[A-Za-z0-9+=,.@_/-]", 512
)
LAMBDA_ARN_GLOB_PATTERN: Final = (
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:"
    r"([A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?|[A-Za-z0-9_-]{0,63}\*)$"
)
INSTANCE_TYPE_GLOB_PATTERN: Final = (
    r"^ml\.([a-z0-9]+\.[a-z0-9]+|[a-z0-9]*\*|[a-z0-9]+\.[a-z0-9]*\*)$"
)
ENDPOINT_NAME_GLOB_PATTERN: Final = (
    r"^([a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}|([a-zA-Z0-9][a-zA-Z0-9-]{0,61})?\*)$"
)

_SET: JsonDict = {"x-kubernetes-list-type": "set"}


def _checked(pattern: str, max_length: int, message: str) -> Any:
    """String constraints: `pattern`, checked by a CEL rule that says `message`."""
    return Field(
        pattern=pattern, max_length=max_length, json_schema_extra={PATTERN_MESSAGE: message}
    )


LabelKey = Annotated[
    str, _checked(LABEL_KEY_PATTERN, 317, "must be a label key such as tenant or example.com/team")
]
LabelValue = Annotated[
    str, _checked(LABEL_VALUE_PATTERN, 63, "must be a label value (63 characters at most)")
]
NamespaceName = Annotated[
    str, _checked(NAMESPACE_NAME_PATTERN, 63, "must be a namespace name such as team-a")
]
Region = Annotated[str, _checked(REGION_PATTERN, 32, "must be an AWS region such as us-east-1")]
Money = Annotated[
    str,
    _checked(
        MONEY_PATTERN, 10, 'must be an amount in USD written as a string, such as "25" or "25.00"'
    ),
]
RoleArn = Annotated[
    str,
    _checked(
        ROLE_ARN_PATTERN,
        2048,
        "must be an IAM role ARN such as arn:aws:iam::111111111111:role/sagemeter-team-a",
    ),
]
RoleArnGlob = Annotated[
    str,
    _checked(
        ROLE_ARN_GLOB_PATTERN,
        600,
        "must be an IAM role ARN, or one whose name ends in a single trailing *"
        " (arn:aws:iam::111111111111:role/sm-team-a*)",
    ),
]
LambdaArnGlob = Annotated[
    str,
    _checked(
        LAMBDA_ARN_GLOB_PATTERN,
        256,
        "must be a Lambda function ARN, or one whose function name ends in a single trailing *"
        " (arn:aws:lambda:us-east-1:111111111111:function:team-a-*)",
    ),
]
InstanceTypeGlob = Annotated[
    str,
    _checked(
        INSTANCE_TYPE_GLOB_PATTERN,
        64,
        "must be an instance type such as ml.m5.large, or a prefix of one with a trailing *"
        " such as ml.g5.*",
    ),
]
EndpointNameGlob = Annotated[
    str,
    _checked(
        ENDPOINT_NAME_GLOB_PATTERN,
        64,
        "must be a SageMaker endpoint name, or a prefix of one with a trailing *"
        " such as notebook-*",
    ),
]

# EndpointConfig names follow the same shape as endpoint names (botocore's sagemaker model,
# EndpointConfigName: max 63, pattern ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}).
EndpointConfigNameGlob = Annotated[
    str,
    _checked(
        ENDPOINT_NAME_GLOB_PATTERN,
        64,
        "must be a SageMaker EndpointConfig name, or a prefix of one with a trailing *"
        " such as pipeline-*",
    ),
]

SnsTopicArn = Annotated[
    str,
    _checked(
        SNS_TOPIC_ARN_PATTERN,
        320,
        "must be an SNS topic ARN such as arn:aws:sns:us-east-1:111111111111:team-a-endpoints",
    ),
]

# ------------------------------------------------------------------------------ selector


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


_WITH_VALUES = "self.operator in ['In', 'NotIn']"


class LabelSelectorRequirement(ApiModel):
    """One requirement on a label, as in a Kubernetes label selector."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                f"!({_WITH_VALUES}) || (has(self.values) && self.values.size() > 0)",
                "matchExpressions: values must be non-empty when operator is In or NotIn",
                ".values",
            ),
            cel(
                f"{_WITH_VALUES} || !has(self.values) || self.values.size() == 0",
                "matchExpressions: values must be empty when operator is Exists or DoesNotExist",
                ".values",
            ),
        )
    )

    key: LabelKey = Field(description="The label key.")
    operator: SelectorOperator = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[LabelValue] | None = Field(
        default=None,
        max_length=256,
        description="Values for In and NotIn; must be empty for Exists and DoesNotExist.",
    )


class LabelSelector(ApiModel):
    """A Kubernetes label selector: matchLabels AND matchExpressions; {} selects everything."""

    match_labels: dict[LabelKey, LabelValue] | None = Field(
        default=None, max_length=64, description="Labels a namespace must carry, all of them."
    )
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        default=None, max_length=32, description="Requirements a namespace must meet, all of them."
    )


class NamespaceSelector(ApiModel):
    """The namespaces a policy applies to: those named, OR those the label selector matches."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "has(self.names) || has(self.labelSelector)",
                "spec.namespaceSelector must set names, labelSelector or both"
                " (labelSelector: {} selects every namespace)",
            )
        )
    )

    names: list[NamespaceName] | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Namespaces selected by name.",
        json_schema_extra=_SET,
    )
    label_selector: LabelSelector | None = Field(
        default=None, description="Namespaces selected by their labels; {} selects every one."
    )


# ------------------------------------------------------------------------------ guardrails


class AwsAccess(ApiModel):
    """Where the selected namespaces' objects live in AWS."""

    role_arn: RoleArn | None = Field(
        default=None,
        description="IAM role assumed for every AWS call made for these namespaces' objects.",
    )
    regions: list[Region] | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="Allowed spec.region values (an unset spec.region means the operator's).",
        json_schema_extra=_SET,
    )
    api_invoke_role_arn: RoleArn | None = Field(
        default=None,
        description=(
            "Role API Gateway assumes to invoke SageMaker for these namespaces' routes; it lives"
            " in roleArn's account. Unset: the operator's SAGEMETER_API_INVOKE_ROLE_ARN when"
            " roleArn is unset, else routes report InvokeRoleNotConfigured."
        ),
    )


class ExecutionRoles(ApiModel):
    """The SageMaker execution roles models may use."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.default) || !has(self.allowed) || "
                + cel_matches_any("self.allowed", "self.default"),
                "spec.executionRoles.default must match one of spec.executionRoles.allowed",
                ".default",
            )
        )
    )

    default: RoleArn | None = Field(
        default=None,
        description="Execution role of models that set none (instead of the operator's default).",
    )
    allowed: list[RoleArnGlob] | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Allowed spec.model.executionRoleArn values: ARNs or globs (a trailing *).",
        json_schema_extra=_SET,
    )


class OnDecrease(StrEnum):
    QUEUE = "Queue"
    PARK = "Park"


class Budget(ApiModel):
    """A cap on what the selected namespaces' running endpoints cost per hour."""

    usd_per_hour: Money = Field(
        description="USD per hour for all running endpoints of the selected namespaces.",
    )
    unknown_price_usd_per_hour: Money | None = Field(
        default=None,
        alias="unknownPriceUSDPerHour",
        description=(
            "What an endpoint of unknown price counts as; unset: such an endpoint may not start."
        ),
    )
    on_decrease: OnDecrease = Field(
        default=OnDecrease.QUEUE,
        description=(
            "Queue (default): a lowered budget stops new starts only."
            " Park: park the newest running endpoints until the spend fits."
        ),
    )


class Adoption(ApiModel):
    """Endpoints made elsewhere that the selected namespaces may adopt."""

    endpoint_names: list[EndpointNameGlob] = Field(
        min_length=1,
        max_length=64,
        description="SageMaker endpoint names or globs (a trailing *), e.g. notebook-*.",
        json_schema_extra=_SET,
    )


class EndpointConfigs(ApiModel):
    """EndpointConfigs not made by the selected namespaces that spec.model.endpointConfigName
    may use as is. A namespace's own configs (by sagemeter's owner tags) are always allowed;
    the guardrails apply to every config used as is."""

    names: list[EndpointConfigNameGlob] = Field(
        min_length=1,
        max_length=64,
        description="EndpointConfig names or globs (a trailing *), e.g. pipeline-*.",
        json_schema_extra=_SET,
    )


class RoutePolicy(ApiModel):
    """What API Gateway routes of the selected namespaces may look like."""

    authorizations: list[Authorization] | None = Field(
        default=None,
        min_length=1,
        max_length=len(Authorization),
        description="Allowed spec.api.authorization values.",
        json_schema_extra=_SET,
    )
    path_prefix: str | None = Field(
        default=None,
        pattern=PATH_PREFIX_PATTERN,
        max_length=128,
        description="Every spec.api.path must start with this (end it with / for a folder).",
        json_schema_extra={
            PATTERN_MESSAGE: "must be a route path prefix such as team-a/ (no leading /)"
        },
    )
    lambda_arns: list[LambdaArnGlob] | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Allowed spec.api.lambdaArn values: ARNs or globs (a trailing *).",
        json_schema_extra=_SET,
    )


class Notifications(ApiModel):
    """Where people hear about what they should act on (SPEC §7)."""

    sns_topic_arn: SnsTopicArn = Field(
        description=(
            "SNS topic that gets one message per transition a person should act on (expiring"
            " soon, parked, woken or extended by a request, a new problem); published as"
            " aws.roleArn, so the topic lives in that account."
        ),
    )


class EndpointPolicySpec(ApiModel):
    """Namespaces, the AWS role they use, guardrails on their endpoints and a budget."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.notifications) || !has(self.aws) || !has(self.aws.roleArn)"
                " || self.notifications.snsTopicArn.split(':')[4]"
                " == self.aws.roleArn.split(':')[4]",
                "spec.notifications.snsTopicArn must be in the account of spec.aws.roleArn:"
                " notifications are published as that role, in the tenant's account",
                ".notifications.snsTopicArn",
            )
        )
    )

    namespace_selector: NamespaceSelector = Field(
        description="The namespaces this policy applies to: names OR labelSelector."
    )
    aws: AwsAccess | None = Field(default=None, description="AWS role and allowed regions.")
    execution_roles: ExecutionRoles | None = Field(
        default=None, description="Default and allowed SageMaker execution roles."
    )
    instance_types: list[InstanceTypeGlob] | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Allowed instance types: types or globs (a trailing *), e.g. ml.g5.*.",
        json_schema_extra=_SET,
    )
    max_instance_count: int | None = Field(
        default=None, ge=1, le=100, description="Largest spec.instanceCount allowed."
    )
    max_lifetime: Duration | None = Field(
        default=None,
        description="Caps the effective expiry: at most this long after creation.",
    )
    budget: Budget | None = Field(default=None, description="Hourly cost budget.")
    adoption: Adoption | None = Field(
        default=None, description="Endpoints made elsewhere that may be adopted here."
    )
    endpoint_configs: EndpointConfigs | None = Field(
        default=None,
        description="EndpointConfigs made elsewhere that spec.model.endpointConfigName may use.",
    )
    deletion_policies: list[DeletionPolicy] | None = Field(
        default=None,
        min_length=1,
        max_length=len(DeletionPolicy),
        description=(
            "Allowed spec.deletionPolicy values. Unset: [Delete] when the policy sets a budget"
            " or maxLifetime (a retained endpoint would escape both), else both."
        ),
        json_schema_extra=_SET,
    )
    routes: RoutePolicy | None = Field(default=None, description="Rules for API routes.")
    notifications: Notifications | None = Field(
        default=None, description="Where notifications of these namespaces' endpoints go."
    )


class EndpointPolicyStatus(ApiModel):
    """What the policy applies to and what runs under it, as last observed by the operator."""

    observed_generation: int | None = Field(
        default=None, description="The spec generation this status describes."
    )
    namespaces: int | None = Field(
        default=None, description="How many namespaces the policy selects now."
    )
    usd_per_hour: str | None = Field(
        default=None, description="What the endpoints running under the budget cost per hour."
    )
    waiting: int | None = Field(
        default=None, description="Endpoints parked OverBudget, waiting for room in the budget."
    )
    conditions: list[Condition] = Field(default_factory=list, description="Ready.")


class EndpointPolicy(ApiModel):
    """The whole object as the operator reads it."""

    spec: EndpointPolicySpec
    status: EndpointPolicyStatus = Field(default_factory=EndpointPolicyStatus)
