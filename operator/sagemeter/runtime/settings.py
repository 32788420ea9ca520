"""Operator configuration: `SAGEMETER_*` environment variables, parsed once.

The same fields are the flags of `sagemeter run`; nothing deeper in the code
reads the environment.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sagemeter.api.models import IDLE_AFTER_MAX_SECONDS, SNS_TOPIC_ARN_PATTERN
from sagemeter.api.policy import LAMBDA_ARN_GLOB_PATTERN
from sagemeter.core.endpoint.desired import ExpiryPolicy
from sagemeter.core.meter.durations import parse_duration

DURATIONS = "write one or more <number><unit> with units s, m, h, d, w, such as 90m or 1h30m"


class Settings(BaseSettings):
    """sagemeter operator settings (environment prefix `SAGEMETER_`)."""

    model_config = SettingsConfigDict(env_prefix="SAGEMETER_", extra="ignore")

    region: str = Field(
        default="us-east-1", description="Default AWS region for objects without spec.region."
    )
    execution_role_arn: str | None = Field(
        default=None, description="Default SageMaker execution role for models."
    )
    api_rest_api_id: str | None = Field(
        default=None, description="REST API to put routes in; default: one sagemeter creates."
    )
    api_stage: str = Field(default="prod", description="API Gateway stage routes are deployed to.")
    api_invoke_role_arn: str | None = Field(
        default=None, description="Role API Gateway assumes to invoke SageMaker."
    )
    allow_unauthenticated_routes: bool = Field(
        default=False, description="Allow spec.api.authorization NONE."
    )
    default_ttl: str | None = Field(
        default=None, description="Expiry for objects that set none (a duration, e.g. 8h)."
    )
    max_lifetime: str | None = Field(
        default=None, description="Cap on any object's lifetime from creation (a duration)."
    )
    dry_run: bool = Field(
        default=False, description="Report what would be parked or deleted; never do it."
    )
    adopt_tag: str | None = Field(
        default=None, description="key=value: adopt SageMaker endpoints carrying this tag."
    )
    adopt_namespace: str = Field(
        default="sagemeter-adopted", description="Namespace for objects made by tag discovery."
    )
    adopt_idle_after: str = Field(
        default="1h",
        description="Idle policy (spec.idle.after) of objects made by tag discovery; at most 1d.",
    )
    sync_interval: str = Field(
        default="5m",
        description="How often each region's endpoints are listed to catch drift (a duration).",
    )
    poll_interval: str = Field(
        default="10s",
        description="How often an endpoint in transition (Creating, Updating, ...) is described.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log format: text or json."
    )
    price_file: str | None = Field(
        default=None,
        description=(
            "JSON price overrides (instance type -> USD per hour), e.g. a mounted ConfigMap;"
            " the shipped us-east-1 table is used for the rest."
        ),
    )
    event_queue: str = Field(
        default="sagemeter-events",
        pattern=r"^[A-Za-z0-9_-]{1,60}$",
        description=(
            "Name of the SQS queue (and prefix of the EventBridge rules) per account and region"
            " that carries wake requests and AWS events; operators sharing an AWS account each"
            " need their own."
        ),
    )
    notify_sns_topic_arn: str | None = Field(
        default=None,
        pattern=SNS_TOPIC_ARN_PATTERN,
        description=(
            "SNS topic for notifications of objects in namespaces no EndpointPolicy selects"
            " (published as the operator's own identity); a policy's spec.notifications names"
            " its namespaces' topic."
        ),
    )
    require_policy: bool = Field(
        default=False,
        description=(
            "Refuse objects in namespaces no EndpointPolicy selects (Degraded NoPolicy);"
            " recommended for shared clusters."
        ),
    )
    assume_role_seconds: int = Field(
        default=3600,
        ge=900,
        le=43200,
        description=(
            "Lifetime asked for the credentials of roles EndpointPolicies name (refreshed"
            " before they expire; a role chained from IRSA or Pod Identity allows at most 3600)."
        ),
    )
    lambda_arns: str | None = Field(
        default=None,
        description=(
            "Lambda functions any namespace may proxy its route to (spec.api.lambdaArn) where no"
            " EndpointPolicy sets routes.lambdaArns: comma-separated ARNs or globs with a"
            " trailing *; default none (a function must then carry the tag"
            " sagemeter.io/namespace=<namespace>)."
        ),
    )
    cluster_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9 _.:/=+\-@]{1,256}$",
        description=(
            "This cluster's id, tagged sagemeter.io/cluster on everything sagemeter creates in"
            " AWS (orphans of other clusters are never touched); default: the uid of the"
            " kube-system namespace, read at start-up."
        ),
    )
    orphan_grace: str = Field(
        default="10m",
        description=(
            "How long an orphan (an endpoint of this cluster whose ManagedEndpoint is gone"
            " without a Retain release, such as after a finalizer removed by hand) counts"
            " against its namespace's budget before it is parked (a duration)."
        ),
    )
    metrics_port: int | None = Field(
        default=8080,
        ge=0,
        le=65535,
        description="Port of the Prometheus /metrics endpoint; 0 disables it.",
    )

    @field_validator(
        "default_ttl",
        "max_lifetime",
        "sync_interval",
        "poll_interval",
        "adopt_idle_after",
        "orphan_grace",
    )
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_duration(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a duration; {DURATIONS}") from None
        return value

    @field_validator("sync_interval", "poll_interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if parse_duration(value).total_seconds() < 1:
            raise ValueError(f"{value!r} is too short; an interval of at least 1s ({DURATIONS})")
        return value

    @field_validator("adopt_idle_after")
    @classmethod
    def _idle_after(cls, value: str) -> str:
        # The objects tag discovery makes carry it as spec.idle.after, which admission refuses
        # above a day (api.spec.IDLE_AFTER_MAX_SECONDS).
        if parse_duration(value).total_seconds() > IDLE_AFTER_MAX_SECONDS:
            raise ValueError("adopt_idle_after must be at most 1d (spec.idle.after's limit)")
        return value

    @field_validator("adopt_tag")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^=]+=.*", value):
            raise ValueError(f"{value!r} is not a tag; write key=value, such as auto-maintain=true")
        return value

    @field_validator("lambda_arns")
    @classmethod
    def _lambda_globs(cls, value: str | None) -> str | None:
        for glob in _globs(value):
            if not re.fullmatch(LAMBDA_ARN_GLOB_PATTERN, glob):
                raise ValueError(
                    f"lambda_arns: {glob!r} is not a Lambda function ARN or one whose function"
                    " name ends in a single trailing *"
                )
        return value

    @property
    def lambda_arn_globs(self) -> tuple[str, ...]:
        return _globs(self.lambda_arns)

    @property
    def expiry_policy(self) -> ExpiryPolicy:
        return ExpiryPolicy(
            default_ttl=parse_duration(self.default_ttl) if self.default_ttl else None,
            max_lifetime=parse_duration(self.max_lifetime) if self.max_lifetime else None,
        )

    @property
    def sync_seconds(self) -> float:
        return parse_duration(self.sync_interval).total_seconds()

    @property
    def orphan_grace_seconds(self) -> float:
        return parse_duration(self.orphan_grace).total_seconds()

    @property
    def poll_seconds(self) -> float:
        return max(1.0, parse_duration(self.poll_interval).total_seconds())


def _globs(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())
