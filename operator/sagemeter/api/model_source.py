"""What a ManagedEndpoint serves: the model (JumpStart, containers, a package or an existing
config) and the serverless or asynchronous settings of its endpoint."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from sagemeter.api.common import (
    ENV_NAME_PATTERN,
    JUMPSTART_ID_PATTERN,
    JUMPSTART_VERSION_PATTERN,
    MODEL_PACKAGE_ARN_PATTERN,
    ROLE_ARN_PATTERN,
    S3_URI_PATTERN,
    ApiModel,
    Name,
    ServerlessMemorySize,
    cel,
    validations,
)


class JumpStartModel(ApiModel):
    """A model from SageMaker JumpStart, resolved through SageMaker's public hub."""

    model_id: str = Field(
        pattern=JUMPSTART_ID_PATTERN,
        max_length=255,
        description="JumpStart model id, e.g. huggingface-llm-falcon-7b-instruct-bf16.",
    )
    version: str = Field(
        default="*",
        pattern=JUMPSTART_VERSION_PATTERN,
        max_length=32,
        description='Model version: "*" for the latest, or a version such as 2.1.0 or 2.*.',
    )
    accept_eula: bool = Field(
        default=False,
        description=(
            "Accept the model's end-user license (gated models such as Llama need it);"
            " without it such a model is reported as EulaNotAccepted."
        ),
    )


class ContainerModel(ApiModel):
    """A model served by a container image, with optional artifacts in S3."""

    image: str = Field(
        min_length=1,
        max_length=255,
        pattern=r"^[^\s]+$",
        description="Inference container image URI (usually ECR).",
    )
    model_data_url: str | None = Field(
        default=None,
        pattern=S3_URI_PATTERN,
        max_length=1024,
        description="S3 URI of the model artifacts (model.tar.gz or a prefix).",
    )
    environment: (
        dict[
            # SageMaker's EnvironmentKey and EnvironmentValue (botocore): 1024 characters each.
            Annotated[str, Field(pattern=ENV_NAME_PATTERN, max_length=1024)],
            Annotated[str, Field(max_length=1024)],
        ]
        | None
    ) = Field(
        default=None,
        max_length=100,
        description="Environment variables passed to the container.",
    )


class ModelSource(ApiModel):
    """Where the model comes from: exactly one of the four sources."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "[has(self.jumpStart), has(self.container), has(self.modelPackageArn),"
                " has(self.endpointConfigName)].filter(x, x).size() == 1",
                "spec.model must set exactly one of jumpStart, container, modelPackageArn,"
                " endpointConfigName",
            ),
            cel(
                "!has(self.endpointConfigName) || !has(self.executionRoleArn)",
                "spec.model.executionRoleArn must not be set with endpointConfigName:"
                " the existing EndpointConfig is used as is",
                ".executionRoleArn",
            ),
        )
    )

    jump_start: JumpStartModel | None = Field(
        default=None, description="A JumpStart model (id and version)."
    )
    container: ContainerModel | None = Field(
        default=None, description="A container image with optional model data in S3."
    )
    model_package_arn: str | None = Field(
        default=None,
        pattern=MODEL_PACKAGE_ARN_PATTERN,
        max_length=2048,
        description="A model package (for example from AWS Marketplace).",
    )
    endpoint_config_name: Name | None = Field(
        default=None,
        description="An existing EndpointConfig, used as is (never modified or deleted).",
    )
    execution_role_arn: str | None = Field(
        default=None,
        pattern=ROLE_ARN_PATTERN,
        max_length=2048,
        description="IAM role SageMaker assumes for the model; default from operator config.",
    )


class AsyncConfig(ApiModel):
    """Asynchronous inference: requests are queued, results written to S3."""

    output_s3_uri: str = Field(
        pattern=S3_URI_PATTERN, max_length=512, description="Where results are written."
    )
    failure_s3_uri: str | None = Field(
        default=None, pattern=S3_URI_PATTERN, max_length=512, description="Where errors go."
    )
    max_concurrent_invocations_per_instance: int | None = Field(
        default=None, ge=1, le=1000, description="Concurrent requests per instance."
    )


class ServerlessConfig(ApiModel):
    """Serverless inference capacity, within SageMaker's limits."""

    memory_size_mb: ServerlessMemorySize = Field(
        default=2048,
        alias="memorySizeMB",
        description="Memory in MB: 1024, 2048, 3072, 4096, 5120 or 6144.",
    )
    max_concurrency: int = Field(
        default=5, ge=1, le=200, description="Maximum concurrent invocations (1-200)."
    )
