"""Shared pieces of the sagemeter API: names, patterns, enums, the CEL helpers."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from sagemeter.api.patterns import DURATION_MAX_LENGTH, DURATION_MIN_LENGTH, DURATION_PATTERN

GROUP = "sagemeter.io"
VERSION = "v1alpha1"
KIND = "ManagedEndpoint"
PLURAL = "managedendpoints"
SINGULAR = "managedendpoint"
SHORT_NAMES = ["mep"]
CATEGORIES = ["sagemeter"]

# The cluster-scoped tenancy resource (SPEC §5).
POLICY_KIND = "EndpointPolicy"
POLICY_PLURAL = "endpointpolicies"
POLICY_SINGULAR = "endpointpolicy"
POLICY_SHORT_NAMES = ["mepol"]

# SageMaker's own rule for endpoint, config and model names.
SAGEMAKER_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
INSTANCE_TYPE_PATTERN = r"^ml\.[a-z0-9]+\.[a-z0-9]+$"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
MODEL_PACKAGE_ARN_PATTERN = (
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model-package/[A-Za-z0-9/_.-]{1,256}$"
)
LAMBDA_ARN_PATTERN = (
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?$"
)
# SNS topic names: up to 256 letters, digits, - and _, a FIFO topic's ending in .fifo (the
# CreateTopic reference).
SNS_TOPIC_ARN_PATTERN = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"
S3_URI_PATTERN = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$"
API_PATH_PATTERN = r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$"
# Resources whose name starts with "_" are sagemeter's own (`<path>/_meter`), never a route's.
RESERVED_PATH_SEGMENT_PREFIX = "_"
# An OAuth scope as Cognito writes it in access tokens ("<resource server>/<scope>", or a
# standard scope such as "openid"): botocore's cognito-idp model, shape ScopeType (1 to 256
# characters; ScopeListType holds at most 50).
OAUTH_SCOPE_PATTERN = r"^[\x21\x23-\x5B\x5D-\x7E]+$"
JUMPSTART_ID_PATTERN = r"^[a-z0-9][a-z0-9.-]{0,254}$"
JUMPSTART_VERSION_PATTERN = r"^(\*|[0-9]+(\.[0-9]+){0,2}|[0-9]+(\.[0-9]+)?\.\*)$"
# RE2 (CEL) allows at most 1000 repetitions, so the length is not in the pattern.
ENV_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
ServerlessMemorySize = Literal[1024, 2048, 3072, 4096, 5120, 6144]

# Reserved tag prefixes: `aws:` is AWS's own, `sagemeter.io/` carries ownership.
RESERVED_TAG_PREFIXES = ("aws:", f"{GROUP}/")
# SageMaker's tags (botocore's model, shapes TagKey, TagValue and TagList): keys 1-128 and
# values 0-256 characters of letters, numbers, separators and `_.:/=+-@`, at most 50 per
# resource. `\p{L}`, `\p{Z}`, `\p{N}` mean the same Unicode categories in Java (AWS), RE2 (the
# API server) and Rust's regex (pydantic).
TAG_PATTERN = r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$"
MAX_TAGS = 50
# The tags sagemeter itself may put on one resource, counted in those 50: managed-by,
# namespace, name, uid, adopted, cluster and released (all under sagemeter.io/).
OWN_TAGS = 7
MAX_SPEC_TAGS = MAX_TAGS - OWN_TAGS
WAKE_ANNOTATION = f"{GROUP}/wake"
# The extensions POST <path>/_meter applied today, written with the expiry they set.
EXTENDS_ANNOTATION = f"{GROUP}/extends"
# Schema key: the CRD checks this field's pattern with a CEL rule that says this
# message, instead of quoting the regular expression back at the user.
PATTERN_MESSAGE = "x-sagemeter-pattern-message"


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    """One `x-kubernetes-validations` entry; `field_path` points the error at a field."""
    entry = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    return {"x-kubernetes-validations": list(rules)}


class ApiModel(BaseModel):
    """Common configuration: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_enum_values=True,
    )


Duration = Annotated[
    str,
    Field(
        pattern=DURATION_PATTERN,
        min_length=DURATION_MIN_LENGTH,
        max_length=DURATION_MAX_LENGTH,
        description="A duration: one or more <int><unit> with unit s|m|h|d|w, e.g. 90m, 1h30m, 2d.",
        json_schema_extra={
            PATTERN_MESSAGE: "must be a duration such as 90m, 1h30m or 2d"
            " (units w, d, h, m, s; largest first)"
        },
    ),
]
Name = Annotated[str, Field(pattern=SAGEMAKER_NAME_PATTERN, min_length=1, max_length=63)]


class InferenceType(StrEnum):
    REALTIME = "Realtime"
    ASYNC = "Async"
    SERVERLESS = "Serverless"


class Authorization(StrEnum):
    AWS_IAM = "AWS_IAM"
    API_KEY = "API_KEY"
    CUSTOM = "CUSTOM"
    COGNITO_USER_POOLS = "COGNITO_USER_POOLS"
    NONE = "NONE"


class DeletionPolicy(StrEnum):
    DELETE = "Delete"
    RETAIN = "Retain"


class Phase(StrEnum):
    PENDING = "Pending"
    CREATING = "Creating"
    IN_SERVICE = "InService"
    UPDATING = "Updating"
    PARKED = "Parked"
    FAILED = "Failed"
    DELETING = "Deleting"


class ParkedReason(StrEnum):
    """Why an endpoint is parked, in order of precedence."""

    SUSPENDED = "Suspended"
    EXPIRED = "Expired"
    SCHEDULE = "Schedule"
    IDLE = "Idle"
    OVER_BUDGET = "OverBudget"


class ConditionType(StrEnum):
    READY = "Ready"
    PARKED = "Parked"
    EXPIRING_SOON = "ExpiringSoon"
    DEGRADED = "Degraded"
