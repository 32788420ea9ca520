"""The ManagedEndpoint API (sagemeter.io/v1alpha1): spec and status as pydantic models.

These models are the single source of the CRD (see `sagemeter.api.crd`): every
field's type, default, bounds and description ends up in the OpenAPI schema,
and every cross-field rule is a CEL `x-kubernetes-validations` entry attached to
the model it constrains, so the API server rejects bad objects at `kubectl
apply` with a message naming the field. The operator parses the same objects
with these models, so what admission accepts is what the code reads.

The definitions live in `common` (names, patterns, enums), `spec` and
`status`; this module is the import surface for the rest of sagemeter. The
cluster-scoped EndpointPolicy kind has its own module, `sagemeter.api.policy`.
"""

from __future__ import annotations

from pydantic import Field

from sagemeter.api.common import (
    API_PATH_PATTERN,
    CATEGORIES,
    ENV_NAME_PATTERN,
    EXTENDS_ANNOTATION,
    GROUP,
    INSTANCE_TYPE_PATTERN,
    JUMPSTART_ID_PATTERN,
    JUMPSTART_VERSION_PATTERN,
    KIND,
    LAMBDA_ARN_PATTERN,
    MODEL_PACKAGE_ARN_PATTERN,
    PATTERN_MESSAGE,
    PLURAL,
    POLICY_KIND,
    POLICY_PLURAL,
    POLICY_SHORT_NAMES,
    POLICY_SINGULAR,
    REGION_PATTERN,
    RESERVED_TAG_PREFIXES,
    ROLE_ARN_PATTERN,
    S3_URI_PATTERN,
    SAGEMAKER_NAME_PATTERN,
    SHORT_NAMES,
    SINGULAR,
    SNS_TOPIC_ARN_PATTERN,
    VERSION,
    WAKE_ANNOTATION,
    ApiModel,
    Authorization,
    ConditionType,
    DeletionPolicy,
    Duration,
    InferenceType,
    Name,
    ParkedReason,
    Phase,
    ServerlessMemorySize,
    cel,
    validations,
)
from sagemeter.api.model_source import (
    AsyncConfig,
    ContainerModel,
    JumpStartModel,
    ModelSource,
    ServerlessConfig,
)
from sagemeter.api.spec import (
    IDLE_AFTER_MAX_SECONDS,
    SPEC_RULES,
    ApiRoute,
    Expiry,
    IdlePolicy,
    ManagedEndpointSpec,
    Schedule,
)
from sagemeter.api.status import (
    AwsPlacement,
    Condition,
    EndpointIncarnation,
    ExtendCount,
    IdlePark,
    ManagedEndpointStatus,
    NotificationRecord,
    RefusedDeployment,
    WakeCount,
)

__all__ = [
    "API_PATH_PATTERN",
    "CATEGORIES",
    "ENV_NAME_PATTERN",
    "EXTENDS_ANNOTATION",
    "GROUP",
    "IDLE_AFTER_MAX_SECONDS",
    "INSTANCE_TYPE_PATTERN",
    "JUMPSTART_ID_PATTERN",
    "JUMPSTART_VERSION_PATTERN",
    "KIND",
    "LAMBDA_ARN_PATTERN",
    "MODEL_PACKAGE_ARN_PATTERN",
    "PATTERN_MESSAGE",
    "PLURAL",
    "POLICY_KIND",
    "POLICY_PLURAL",
    "POLICY_SHORT_NAMES",
    "POLICY_SINGULAR",
    "REGION_PATTERN",
    "RESERVED_TAG_PREFIXES",
    "ROLE_ARN_PATTERN",
    "S3_URI_PATTERN",
    "SAGEMAKER_NAME_PATTERN",
    "SHORT_NAMES",
    "SINGULAR",
    "SNS_TOPIC_ARN_PATTERN",
    "SPEC_RULES",
    "VERSION",
    "WAKE_ANNOTATION",
    "ApiModel",
    "ApiRoute",
    "AsyncConfig",
    "Authorization",
    "AwsPlacement",
    "Condition",
    "ConditionType",
    "ContainerModel",
    "DeletionPolicy",
    "Duration",
    "EndpointIncarnation",
    "Expiry",
    "ExtendCount",
    "IdlePark",
    "IdlePolicy",
    "InferenceType",
    "JumpStartModel",
    "ManagedEndpoint",
    "ManagedEndpointSpec",
    "ManagedEndpointStatus",
    "ModelSource",
    "Name",
    "NotificationRecord",
    "ParkedReason",
    "Phase",
    "RefusedDeployment",
    "Schedule",
    "ServerlessConfig",
    "ServerlessMemorySize",
    "WakeCount",
    "cel",
    "validations",
]


class ManagedEndpoint(ApiModel):
    """The whole object as the operator reads it."""

    spec: ManagedEndpointSpec
    status: ManagedEndpointStatus = Field(default_factory=ManagedEndpointStatus)
