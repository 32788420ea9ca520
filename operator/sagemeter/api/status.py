"""The ManagedEndpoint status: what the operator reports."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from sagemeter.api.common import (
    ApiModel,
    ParkedReason,
    Phase,
)


class Condition(ApiModel):
    """A Kubernetes-style condition."""

    type: str = Field(max_length=64)
    status: str = Field(json_schema_extra={"enum": ["True", "False", "Unknown"]})
    reason: str | None = Field(default=None, max_length=128)
    message: str | None = Field(default=None, max_length=4096)
    last_transition_time: str | None = Field(
        default=None, json_schema_extra={"format": "date-time"}
    )
    observed_generation: int | None = None


class IdlePark(ApiModel):
    """An idle park lasts until the expiry grows or the wake annotation changes."""

    parked_at: str = Field(json_schema_extra={"format": "date-time"})
    expires_at: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="The effective expiry when the endpoint was parked.",
    )
    wake: str | None = Field(
        default=None, description="The sagemeter.io/wake annotation when the endpoint was parked."
    )


class EndpointIncarnation(ApiModel):
    """The endpoint incarnation this status describes, and the object its tags proved it for.

    SageMaker derives ARNs from names, so only the creation time tells an endpoint apart from
    one deleted and re-created under the same name; the proof holds for this one alone.
    """

    endpoint_name: str = Field(description="SageMaker endpoint name.")
    creation_time: str = Field(description="The endpoint's CreationTime (RFC 3339, UTC).")
    last_modified_time: str | None = Field(
        default=None, description="The endpoint's LastModifiedTime when last described."
    )
    owner_uid: str = Field(description="The uid of the object the endpoint's tags name.")


class AwsPlacement(ApiModel):
    """Where an object lives in AWS, recorded at its first create; it never moves."""

    account_id: str | None = Field(default=None, description="AWS account id.")
    role_arn: str | None = Field(
        default=None,
        description="IAM role assumed for its AWS calls (unset: the operator's own identity).",
    )
    region: str | None = Field(default=None, description="AWS region.")


class RefusedDeployment(ApiModel):
    """A CreateEndpoint or UpdateEndpoint SageMaker refused (ResourceLimitExceeded, a
    ValidationException): sent again only once the object changes."""

    operation: str = Field(max_length=64, description="CreateEndpoint or UpdateEndpoint.")
    config_name: str = Field(description="The EndpointConfig it would have deployed.")
    generation: int = Field(description="The spec generation it was refused for.")
    wake: str | None = Field(
        default=None, description="The sagemeter.io/wake annotation when it was refused."
    )
    reason: str = Field(max_length=128, description="SageMaker's error code.")
    message: str = Field(max_length=4096, description="SageMaker's message.")


class WakeCount(ApiModel):
    """Wakes by request on one day (UTC), against spec.api.maxWakesPerDay."""

    date: str = Field(description="The day (YYYY-MM-DD, UTC).")
    count: int = Field(ge=0, description="Wakes by request that day.")


class ExtendCount(ApiModel):
    """Extensions through <path>/_meter on one day (UTC), against spec.api.maxExtendsPerDay."""

    date: str = Field(description="The day (YYYY-MM-DD, UTC).")
    count: int = Field(ge=0, description="Extensions applied that day.")
    requests: list[Annotated[str, Field(max_length=128)]] | None = Field(
        default=None,
        max_length=1440,
        description=(
            "API Gateway request ids of the extensions applied that day: a request delivered"
            " again is applied once."
        ),
    )


class NotificationRecord(ApiModel):
    """A transition whose notification went out to every topic (SPEC §7): with the object's uid,
    (reason, at) is the message's dedupeKey, so it is sent once."""

    event: str = Field(
        max_length=64,
        description="ExpiringSoon, Parked, WokenByRequest, ExtendedByRequest or Degraded.",
    )
    reason: str = Field(max_length=128, description="The reason the message named.")
    at: str = Field(
        json_schema_extra={"format": "date-time"}, description="When the transition happened."
    )


class ManagedEndpointStatus(ApiModel):
    """What the endpoint is doing and why, as last observed by the operator."""

    phase: Phase | None = Field(default=None, description="Lifecycle phase.")
    parked_reason: ParkedReason | None = Field(
        default=None, description="Why the endpoint is parked (when phase is Parked)."
    )
    reason: str | None = Field(
        default=None,
        max_length=128,
        description=(
            "What `kubectl get` shows as REASON: the Degraded condition's reason when there is"
            " one, else parkedReason."
        ),
    )
    endpoint_name: str | None = Field(default=None, description="SageMaker endpoint name.")
    endpoint_arn: str | None = Field(default=None, description="SageMaker endpoint ARN.")
    endpoint_config_name: str | None = Field(
        default=None, description="EndpointConfig the endpoint runs (or resumes) on."
    )
    model_name: str | None = Field(default=None, description="SageMaker model name.")
    sagemaker_status: str | None = Field(
        default=None, description="EndpointStatus as SageMaker last reported it."
    )
    variant_names: list[str] | None = Field(
        default=None,
        max_length=10,
        description=(
            "Production variants the endpoint serves (DescribeEndpoint); the idle alarm adds up"
            " their Invocations."
        ),
    )
    failure_reason: str | None = Field(default=None, description="SageMaker's FailureReason.")
    expires_at: str | None = Field(
        default=None, json_schema_extra={"format": "date-time"}, description="Effective expiry."
    )
    max_expires_at: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description=(
            "The latest expiry the maximum lifetime allows (the operator's"
            " SAGEMETER_MAX_LIFETIME, the EndpointPolicies' maxLifetime); unset without one."
            " kubectl sagemeter extend caps a top-up there."
        ),
    )
    next_transition_at: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When the operator will next act by itself (expiry, schedule edge).",
    )
    last_invocation_at: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="Last minute with invocations, from CloudWatch.",
    )
    invoke_url: str | None = Field(default=None, description="HTTPS URL of the API route.")
    api_key_secret: str | None = Field(
        default=None, description="Secret holding the API key (authorization API_KEY)."
    )
    hourly_cost_usd: str | None = Field(
        default=None,
        alias="hourlyCostUSD",
        description="Estimated on-demand cost per hour while running, in USD.",
    )
    observed_generation: int | None = Field(
        default=None, description="The spec generation this status describes."
    )
    attempted_config_name: str | None = Field(
        default=None,
        description="EndpointConfig of the last deployment sagemeter started.",
    )
    attempted_generation: int | None = Field(
        default=None,
        description=(
            "Spec generation of that deployment; a failed one is retried only after a spec change."
        ),
    )
    incarnation: EndpointIncarnation | None = Field(
        default=None,
        description="The endpoint incarnation proven this object's by its tags.",
    )
    applied_tag_keys: list[str] | None = Field(
        default=None,
        max_length=50,
        description="Keys of spec.tags sagemeter set on the endpoint; only these are ever removed.",
    )
    aws: AwsPlacement | None = Field(
        default=None,
        description=(
            "The account, role and region the endpoint lives in, recorded at its first create."
        ),
    )
    idle_park: IdlePark | None = Field(
        default=None, description="Set while the endpoint is parked for lack of invocations."
    )
    wakes: int | None = Field(
        default=None, ge=0, description="How often a request woke the endpoint (all time)."
    )
    wakes_today: WakeCount | None = Field(
        default=None, description="Wakes by request today (UTC), for spec.api.maxWakesPerDay."
    )
    extends: ExtendCount | None = Field(
        default=None, description="Extensions through <path>/_meter today (UTC)."
    )
    meter_parameter: str | None = Field(
        default=None,
        max_length=1011,
        description=(
            "The SSM parameter the operator mirrors the meter into (spec.api.selfService);"
            " deleted with the object."
        ),
    )
    cleanup_pending: bool | None = Field(
        default=None,
        description="Superseded models and configs are still to be deleted (AWS refused once).",
    )
    refused_deployment: RefusedDeployment | None = Field(
        default=None,
        description=(
            "A deployment SageMaker refused; not sent again until the spec or the"
            " sagemeter.io/wake annotation changes."
        ),
    )
    last_create_seconds: int | None = Field(
        default=None,
        ge=0,
        description="How long the last create took until InService (what a waking route"
        " tells callers to wait).",
    )
    notified: list[NotificationRecord] | None = Field(
        default=None,
        max_length=20,
        description="Transitions already notified over SNS (so a restart sends none twice).",
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Parked, ExpiringSoon, Degraded."
    )
