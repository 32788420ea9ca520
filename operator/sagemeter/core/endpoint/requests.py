"""Pure builders of the SageMaker requests sagemeter sends, and of the names they get.

`build_model_request` and `build_endpoint_config_request` are the pure halves
of the gateway's `create_model` / `create_endpoint_config`: they are unit-tested
without AWS, and their content (minus tags) is what the resource names hash, so
the same spec always maps to the same SageMaker resources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sagemeter.api.models import InferenceType, ManagedEndpointSpec
from sagemeter.core.endpoint import naming
from sagemeter.core.endpoint.tags import tag_list

VARIANT = "AllTraffic"


@dataclass(frozen=True)
class ModelContainer:
    """What the SageMaker model runs, once the model source is resolved."""

    image: str | None = None
    model_data_url: str | None = None
    model_data_source: dict[str, Any] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    model_package_name: str | None = None
    enable_network_isolation: bool = False

    def container_definition(self) -> dict[str, Any]:
        definition: dict[str, Any] = {}
        if self.model_package_name:
            definition["ModelPackageName"] = self.model_package_name
        if self.image:
            definition["Image"] = self.image
        if self.model_data_url:
            definition["ModelDataUrl"] = self.model_data_url
        if self.model_data_source:
            definition["ModelDataSource"] = self.model_data_source
        if self.environment:
            definition["Environment"] = dict(sorted(self.environment.items()))
        return definition


def container_from_spec(spec: ManagedEndpointSpec) -> ModelContainer | None:
    """The container of a spec whose model needs no lookup (container or model package)."""
    model = spec.model
    if model is None:
        return None
    if model.container is not None:
        return ModelContainer(
            image=model.container.image,
            model_data_url=model.container.model_data_url,
            environment=dict(model.container.environment or {}),
        )
    if model.model_package_arn is not None:
        # Marketplace model packages refuse to run with network access.
        return ModelContainer(
            model_package_name=model.model_package_arn, enable_network_isolation=True
        )
    return None


def model_parts(container: ModelContainer, execution_role_arn: str) -> dict[str, Any]:
    return {
        "container": container.container_definition(),
        "role": execution_role_arn,
        "isolation": container.enable_network_isolation,
    }


def build_model_request(
    model_name: str,
    container: ModelContainer,
    execution_role_arn: str,
    tags: dict[str, str],
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "ModelName": model_name,
        "PrimaryContainer": container.container_definition(),
        "ExecutionRoleArn": execution_role_arn,
        "Tags": tag_list(tags),
    }
    if container.enable_network_isolation:
        request["EnableNetworkIsolation"] = True
    return request


def config_parts(spec: ManagedEndpointSpec, model_name: str) -> dict[str, Any]:
    """Everything an EndpointConfig depends on: the model and the capacity."""
    variant: dict[str, Any] = {"VariantName": VARIANT, "ModelName": model_name}
    parts: dict[str, Any] = {}
    if spec.inference_type == InferenceType.SERVERLESS:
        serverless = spec.serverless
        variant["ServerlessConfig"] = {
            "MemorySizeInMB": serverless.memory_size_mb if serverless else 2048,
            "MaxConcurrency": serverless.max_concurrency if serverless else 5,
        }
    else:
        variant.update(
            InstanceType=spec.instance_type,
            InitialInstanceCount=spec.instance_count,
            InitialVariantWeight=1.0,
        )
    parts["ProductionVariants"] = [variant]
    if spec.inference_type == InferenceType.ASYNC and spec.async_ is not None:
        output: dict[str, Any] = {"S3OutputPath": spec.async_.output_s3_uri}
        if spec.async_.failure_s3_uri:
            output["S3FailurePath"] = spec.async_.failure_s3_uri
        async_config: dict[str, Any] = {"OutputConfig": output}
        if spec.async_.max_concurrent_invocations_per_instance:
            async_config["ClientConfig"] = {
                "MaxConcurrentInvocationsPerInstance": (
                    spec.async_.max_concurrent_invocations_per_instance
                )
            }
        parts["AsyncInferenceConfig"] = async_config
    return parts


def build_endpoint_config_request(
    config_name: str, spec: ManagedEndpointSpec, model_name: str, tags: dict[str, str]
) -> dict[str, Any]:
    return {
        "EndpointConfigName": config_name,
        **config_parts(spec, model_name),
        "Tags": tag_list(tags),
    }


@dataclass(frozen=True)
class Target:
    """The SageMaker resources a spec asks for.

    `model_request`/`config_request` are None when sagemeter does not create
    them (an existing EndpointConfig, or an adopted endpoint).
    """

    endpoint_name: str
    config_name: str
    model_name: str | None = None
    model_request: dict[str, Any] | None = None
    config_request: dict[str, Any] | None = None

    @property
    def owns_config(self) -> bool:
        return self.config_request is not None


def own_target(
    endpoint_name: str,
    spec: ManagedEndpointSpec,
    container: ModelContainer,
    execution_role_arn: str,
    tags: dict[str, str],
    owner_uid: str,
) -> Target:
    """Model and EndpointConfig sagemeter creates, with names derived from their content and
    their owner: two objects that share an endpoint name never share a model or config, so
    neither can be left depending on, or collect, the other's."""
    parts = {**model_parts(container, execution_role_arn), "owner": owner_uid}
    model = naming.model_name(endpoint_name, parts)
    config = naming.endpoint_config_name(endpoint_name, config_parts(spec, model))
    return Target(
        endpoint_name=endpoint_name,
        config_name=config,
        model_name=model,
        model_request=build_model_request(model, container, execution_role_arn, tags),
        config_request=build_endpoint_config_request(config, spec, model, tags),
    )
