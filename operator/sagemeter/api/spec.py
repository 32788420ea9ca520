"""The ManagedEndpoint spec: what users write, with every rule admission enforces."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import ConfigDict, Field

from sagemeter.api.common import (
    API_PATH_PATTERN,
    INSTANCE_TYPE_PATTERN,
    LAMBDA_ARN_PATTERN,
    MAX_SPEC_TAGS,
    OAUTH_SCOPE_PATTERN,
    PATTERN_MESSAGE,
    REGION_PATTERN,
    RESERVED_PATH_SEGMENT_PREFIX,
    TAG_PATTERN,
    ApiModel,
    Authorization,
    DeletionPolicy,
    Duration,
    InferenceType,
    Name,
    cel,
    validations,
)
from sagemeter.api.model_source import (
    AsyncConfig,
    ModelSource,
    ServerlessConfig,
)
from sagemeter.api.patterns import WINDOW_MAX_LENGTH, WINDOW_PATTERN, cel_duration_seconds


class Expiry(ApiModel):
    """The meter: when the endpoint stops costing money unless someone tops it up."""

    ttl: Duration | None = Field(
        default=None,
        description=(
            "Lifetime counted from the object's creationTimestamp; 0s starts parked."
            " expiresAt, when also set, wins over it, earlier or later (kubectl sagemeter"
            " extend writes expiresAt)."
        ),
    )
    expires_at: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        max_length=64,
        description="Absolute expiry (RFC 3339); wins over ttl when set.",
    )
    warn_before: Duration = Field(
        default="10m",
        description="How long before expiry the ExpiringSoon condition and Event appear.",
    )


# The longest `idle.after`: the idle alarm has 60 s periods, and "for alarms with a period of
# less than one hour (3,600 seconds), the total evaluation period can't be longer than one day
# (86,400 seconds)" (CloudWatch API Reference, PutMetricAlarm, Period). Refused at apply rather
# than shortened behind the user's back.
IDLE_AFTER_MAX_SECONDS: Final = 86_400


class IdlePolicy(ApiModel):
    """Park the endpoint when CloudWatch shows no invocations for a while."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                f"{cel_duration_seconds('self.after')} <= {IDLE_AFTER_MAX_SECONDS}",
                "spec.idle.after must be at most 1d (24h): the idle alarm's CloudWatch"
                " evaluation window can be no longer than one day",
                ".after",
            )
        )
    )

    after: Duration = Field(
        description="No invocations for this long parks the endpoint (whole minutes, at most 1d)."
    )
    grace_period: Duration = Field(
        default="10m", description="After each InService, wait this long before idle counts."
    )


# Windows are "<days> HH:MM-HH:MM <zone>"; the pattern checks the shape, this rule
# the order of the two times (zero-padded, so string order is time order).
_WINDOW_ORDER_RULE = (
    "self.all(w, w.split(' ').size() != 3 || w.split(' ')[1].split('-').size() != 2"
    " || w.split(' ')[1].split('-')[0] < w.split(' ')[1].split('-')[1])"
)


class Schedule(ApiModel):
    """When the endpoint may run; outside every window it is parked."""

    uptime: list[
        Annotated[
            str,
            Field(
                pattern=WINDOW_PATTERN,
                max_length=WINDOW_MAX_LENGTH,
                json_schema_extra={
                    PATTERN_MESSAGE: 'each window must look like "Mon-Fri 09:00-17:00'
                    ' Europe/Berlin" (<Day>[-<Day>] HH:MM-HH:MM <IANA zone>)'
                },
            ),
        ]
    ] = Field(
        min_length=1,
        max_length=20,
        description=(
            'Windows "<Day>[-<Day>] HH:MM-HH:MM <IANA zone>", e.g. "Mon-Fri 09:00-17:00'
            ' Europe/Berlin". A window does not cross midnight: write two.'
        ),
        json_schema_extra=validations(
            cel(
                _WINDOW_ORDER_RULE,
                "spec.schedule.uptime: each window must end after it starts"
                " (a window does not cross midnight: write two)",
            )
        ),
    )


_WITH_AUTHORIZER = "['CUSTOM', 'COGNITO_USER_POOLS']"


class ApiRoute(ApiModel):
    """An API Gateway route (POST /<path>) in front of the endpoint."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                f"!(self.authorization in {_WITH_AUTHORIZER}) || has(self.authorizerId)",
                "spec.api.authorizerId is required when spec.api.authorization is CUSTOM"
                " or COGNITO_USER_POOLS",
                ".authorizerId",
            ),
            cel(
                f"self.authorization in {_WITH_AUTHORIZER} || !has(self.authorizerId)",
                "spec.api.authorizerId is only valid when spec.api.authorization is CUSTOM"
                " or COGNITO_USER_POOLS",
                ".authorizerId",
            ),
            cel(
                "self.authorization == 'COGNITO_USER_POOLS' || !has(self.authorizationScopes)",
                "spec.api.authorizationScopes is only valid when spec.api.authorization is"
                " COGNITO_USER_POOLS",
                ".authorizationScopes",
            ),
            cel(
                "!has(self.selfService) || !self.selfService"
                " || !has(self.authorization) || self.authorization != 'NONE'",
                "spec.api.selfService needs a spec.api.authorization other than NONE",
                ".selfService",
            ),
            cel(
                f"!self.path.matches('(^|/){RESERVED_PATH_SEGMENT_PREFIX}')",
                "spec.api.path: no path segment may start with _ (those resources are"
                " sagemeter's own, such as <path>/_meter)",
                ".path",
            ),
        )
    )

    path: str = Field(
        pattern=API_PATH_PATTERN,
        max_length=128,
        description=(
            "Resource path under the REST API, e.g. falcon or team-a/falcon; no segment may"
            " start with _."
        ),
    )
    authorization: Authorization = Field(
        default=Authorization.AWS_IAM,
        description=(
            "AWS_IAM (default), API_KEY, CUSTOM (with authorizerId), COGNITO_USER_POOLS (with"
            " authorizerId) or NONE."
        ),
    )
    authorizer_id: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]{1,32}$",
        description=(
            "API Gateway authorizer id; required with CUSTOM (a Lambda authorizer) and"
            " COGNITO_USER_POOLS (a Cognito user pool authorizer)."
        ),
    )
    authorization_scopes: (
        list[Annotated[str, Field(pattern=OAUTH_SCOPE_PATTERN, min_length=1, max_length=256)]]
        | None
    ) = Field(
        default=None,
        min_length=1,
        max_length=50,
        description=(
            "OAuth scopes (COGNITO_USER_POOLS only): callers then send an access token holding"
            " at least one of them; without scopes, callers send an ID token."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    lambda_arn: str | None = Field(
        default=None,
        pattern=LAMBDA_ARN_PATTERN,
        max_length=256,
        description="Proxy through this Lambda function instead of a direct integration.",
    )
    wake_on_request: bool = Field(
        default=False,
        description=(
            "While the endpoint is parked because it was idle, a request to the route wakes it"
            " (needs spec.idle and an authorization other than NONE)."
        ),
    )
    max_wakes_per_day: int = Field(
        default=24, ge=1, le=1440, description="At most this many wakes by request per day."
    )
    self_service: bool = Field(
        default=False,
        description=(
            "Adds <path>/_meter beside the route, under its authorization: GET answers the"
            " endpoint's phase, expiry and cost from an SSM parameter the operator keeps; POST"
            ' {"extend": "<duration>"} extends the expiry (needs an authorization other than'
            " NONE)."
        ),
    )
    max_extends_per_day: int = Field(
        default=24,
        ge=1,
        le=1440,
        description="At most this many extensions through <path>/_meter per day (UTC).",
    )


_ADOPT = "(has(self.adopt) && self.adopt)"
_EXISTING_CONFIG = "(has(self.model) && has(self.model.endpointConfigName))"
_SERVERLESS = "(has(self.inferenceType) && self.inferenceType == 'Serverless')"
_ASYNC = "(has(self.inferenceType) && self.inferenceType == 'Async')"
_OWN_CONFIG = f"!{_ADOPT} && !{_EXISTING_CONFIG}"

SPEC_RULES = [
    cel(
        f"{_ADOPT} || has(self.model)",
        "spec.model is required unless spec.adopt is true",
        ".model",
    ),
    cel(
        f"!{_ADOPT} || !has(self.model)",
        "spec.model must not be set when spec.adopt is true:"
        " an adopted endpoint keeps its own configuration",
        ".model",
    ),
    cel(
        f"!{_ADOPT} || has(self.endpointName)",
        "spec.endpointName is required when spec.adopt is true",
        ".endpointName",
    ),
    cel(
        f"!({_OWN_CONFIG}) || {_SERVERLESS} || has(self.instanceType)",
        "spec.instanceType is required for Realtime and Async endpoints",
        ".instanceType",
    ),
    cel(
        f"!{_SERVERLESS} || !has(self.instanceType)",
        "spec.instanceType must not be set for Serverless endpoints (use spec.serverless)",
        ".instanceType",
    ),
    cel(
        f"{_OWN_CONFIG} || !has(self.instanceType)",
        "spec.instanceType must not be set with spec.model.endpointConfigName or spec.adopt:"
        " the existing configuration is used as is",
        ".instanceType",
    ),
    cel(
        f"!({_ASYNC} && {_OWN_CONFIG}) || has(self.async)",
        "spec.async.outputS3Uri is required when spec.inferenceType is Async",
        ".async",
    ),
    cel(
        f"!has(self.async) || ({_ASYNC} && {_OWN_CONFIG})",
        "spec.async is only valid when spec.inferenceType is Async"
        " and sagemeter creates the EndpointConfig",
        ".async",
    ),
    cel(
        f"!has(self.serverless) || ({_SERVERLESS} && {_OWN_CONFIG})",
        "spec.serverless is only valid when spec.inferenceType is Serverless"
        " and sagemeter creates the EndpointConfig",
        ".serverless",
    ),
    cel(
        "has(self.endpointName) == has(oldSelf.endpointName)"
        " && (!has(self.endpointName) || self.endpointName == oldSelf.endpointName)",
        "spec.endpointName is immutable",
        ".endpointName",
    ),
    cel(
        "has(self.region) == has(oldSelf.region)"
        " && (!has(self.region) || self.region == oldSelf.region)",
        "spec.region is immutable",
        ".region",
    ),
    cel(
        f"{_ADOPT} == (has(oldSelf.adopt) && oldSelf.adopt)",
        "spec.adopt is immutable",
        ".adopt",
    ),
    # On the spec, not on `api`: the rule spans `api` and `idle`.
    cel(
        "!has(self.api) || !has(self.api.wakeOnRequest) || !self.api.wakeOnRequest"
        " || (has(self.idle)"
        " && (!has(self.api.authorization) || self.api.authorization != 'NONE'))",
        "spec.api.wakeOnRequest needs spec.idle and a spec.api.authorization other than NONE",
        ".api.wakeOnRequest",
    ),
]


class ManagedEndpointSpec(ApiModel):
    """Desired state of a SageMaker inference endpoint and its cost policy."""

    model_config = ConfigDict(json_schema_extra=validations(*SPEC_RULES))

    endpoint_name: Name | None = Field(
        default=None,
        description=(
            "SageMaker endpoint name; immutable. Default: derived from namespace and name."
        ),
    )
    region: str | None = Field(
        default=None,
        pattern=REGION_PATTERN,
        max_length=32,
        description="AWS region; immutable. Default: the operator's region.",
    )
    model: ModelSource | None = Field(
        default=None, description="The model; required unless adopt is true."
    )
    instance_type: str | None = Field(
        default=None,
        pattern=INSTANCE_TYPE_PATTERN,
        max_length=64,
        description="Instance type for Realtime and Async endpoints, e.g. ml.g5.2xlarge.",
    )
    instance_count: int = Field(default=1, ge=1, le=100, description="Number of instances.")
    inference_type: InferenceType = Field(
        default=InferenceType.REALTIME, description="Realtime (default), Async or Serverless."
    )
    async_: AsyncConfig | None = Field(
        default=None, alias="async", description="Async inference settings (Async only)."
    )
    serverless: ServerlessConfig | None = Field(
        default=None, description="Serverless capacity (Serverless only)."
    )
    expiry: Expiry | None = Field(default=None, description="The meter.")
    idle: IdlePolicy | None = Field(default=None, description="Idle parking policy.")
    schedule: Schedule | None = Field(default=None, description="Uptime windows.")
    api: ApiRoute | None = Field(default=None, description="API Gateway route.")
    adopt: bool = Field(
        default=False,
        description="Manage an endpoint that already exists (endpointName required, no model).",
    )
    suspend: bool = Field(default=False, description="Park now, keep everything else.")
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.DELETE,
        description="Delete: remove what sagemeter created in AWS with the object. Retain: keep.",
    )
    tags: (
        dict[
            Annotated[
                str,
                Field(
                    min_length=1,
                    max_length=128,
                    pattern=TAG_PATTERN,
                    json_schema_extra={
                        PATTERN_MESSAGE: "may hold only letters, numbers, spaces and _ . : / = + -"
                        " @ (SageMaker's tag keys), 1 to 128 characters"
                    },
                ),
            ],
            Annotated[
                str,
                Field(
                    max_length=256,
                    pattern=TAG_PATTERN,
                    json_schema_extra={
                        PATTERN_MESSAGE: "spec.tags values may hold only letters, numbers, spaces"
                        " and _ . : / = + - @ (SageMaker's tag values)"
                    },
                ),
            ],
        ]
        | None
    ) = Field(
        default=None,
        max_length=MAX_SPEC_TAGS,
        description=(
            "Extra tags for every AWS resource sagemeter creates: SageMaker's tag syntax, at"
            f" most {MAX_SPEC_TAGS} (50 per resource, with sagemeter's own)."
        ),
        json_schema_extra=validations(
            cel(
                "self.all(k, !k.startsWith('aws:') && !k.startsWith('sagemeter.io/'))",
                "spec.tags must not use the reserved prefixes aws: and sagemeter.io/",
            )
        ),
    )
