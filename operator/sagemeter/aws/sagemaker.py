"""The SageMaker gateway: every SageMaker API call the operator makes, one method each.

Owns the shape of those calls (paging, tag conversion, idempotent creates, "already gone"
deletes) and nothing else: request bodies are built by pure code elsewhere, decisions are made
by the reconciler. Methods are synchronous (the operator runs them in worker threads) and raise
``AwsError`` for anything they do not handle themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sagemeter.aws.clients import Identity
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.aws.gateway import Gateway
from sagemeter.core.endpoint.plan import EndpointView
from sagemeter.core.endpoint.tags import tag_dict, tag_list

__all__ = [
    "EndpointDescription",
    "EndpointSummary",
    "SageMakerGateway",
]

MAX_PAGE_SIZE = 100  # the largest MaxResults ListEndpoints/ListModels/ListEndpointConfigs take


@dataclass(frozen=True)
class EndpointSummary:
    """One row of ``ListEndpoints``: enough to notice that something changed."""

    name: str
    arn: str
    status: str
    creation_time: datetime
    last_modified_time: datetime


@dataclass(frozen=True)
class EndpointDescription:
    """``DescribeEndpoint``, with the fields the reconciler reads named. The gateway always
    fills the times; they are optional for descriptions rebuilt from a sweep and status."""

    name: str
    arn: str
    status: str
    config_name: str
    failure_reason: str | None
    creation_time: datetime | None
    last_modified_time: datetime | None
    production_variants: list[dict[str, Any]]

    @property
    def variant_names(self) -> list[str]:
        """``ProductionVariants[].VariantName``: what the endpoint serves now (SageMaker shows
        none before the first deployment is done)."""
        return [str(v["VariantName"]) for v in self.production_variants if v.get("VariantName")]

    def view(self) -> EndpointView:
        """The parts the pure plan reads."""
        return EndpointView(self.status, self.config_name, self.failure_reason)


class SageMakerGateway(Gateway):
    """SageMaker in one region. ``client`` defaults to the process-wide shared client."""

    SERVICE = "sagemaker"

    def __init__(
        self,
        region: str,
        client: Any | None = None,
        page_size: int = MAX_PAGE_SIZE,
        identity: Identity | None = None,
    ):
        super().__init__(region, client, identity)
        self._page_size = page_size

    def _created(
        self,
        operation: str,
        request: Mapping[str, Any],
        arn_key: str,
        describe: str,
        name_key: str,
    ) -> str:
        """Creates, or returns the ARN of what an earlier attempt created under the same name.

        Names are derived from the spec, so an existing resource of that name is the one a
        crashed attempt made; re-describing it makes a retry after a crash harmless.
        """
        try:
            return str(self._call(operation, **request)[arn_key])
        except AwsError as exc:
            if exc.kind is not ErrorKind.ALREADY_EXISTS:
                raise
            existing = self._or_none(describe, **{name_key: request[name_key]})
            if existing is None:  # deleted between the two calls: let the caller retry
                raise
            return str(existing[arn_key])

    # ------------------------------------------------------------------ endpoints

    def sweep_endpoints(self) -> dict[str, EndpointSummary]:
        """Every endpoint of the region by name, in ``ceil(n / page_size)`` calls."""
        found: dict[str, EndpointSummary] = {}
        for page in self._pages("ListEndpoints", MaxResults=self._page_size):
            for item in page.get("Endpoints", []):
                summary = EndpointSummary(
                    name=item["EndpointName"],
                    arn=item["EndpointArn"],
                    status=item["EndpointStatus"],
                    creation_time=item["CreationTime"],
                    last_modified_time=item["LastModifiedTime"],
                )
                found[summary.name] = summary
        return found

    def describe_endpoint(self, name: str) -> EndpointDescription | None:
        raw = self._or_none("DescribeEndpoint", EndpointName=name)
        if raw is None:
            return None
        return EndpointDescription(
            name=raw["EndpointName"],
            arn=raw["EndpointArn"],
            status=raw["EndpointStatus"],
            config_name=raw.get("EndpointConfigName", ""),
            failure_reason=raw.get("FailureReason") or None,
            creation_time=raw["CreationTime"],
            last_modified_time=raw["LastModifiedTime"],
            production_variants=list(raw.get("ProductionVariants") or []),
        )

    def create_endpoint(self, name: str, config_name: str, tags: Mapping[str, str]) -> str:
        """Returns the new endpoint's ARN.

        Unlike models and configs, an endpoint that already exists is never taken for our own:
        ``AwsError`` (ALREADY_EXISTS) goes back to the caller, whose next pass proves from the
        endpoint's tags whose it is (another object may have won a race for the name).
        """
        request: dict[str, Any] = {"EndpointName": name, "EndpointConfigName": config_name}
        if tags:
            request["Tags"] = tag_list(tags)
        return str(self._call("CreateEndpoint", **request)["EndpointArn"])

    def update_endpoint(self, name: str, config_name: str) -> None:
        self._call("UpdateEndpoint", EndpointName=name, EndpointConfigName=config_name)

    def delete_endpoint(self, name: str) -> bool:
        """False when there was no such endpoint."""
        return self._deleted("DeleteEndpoint", EndpointName=name)

    # ------------------------------------------------------------------ configs and models

    def describe_endpoint_config(self, name: str) -> dict[str, Any] | None:
        return self._or_none("DescribeEndpointConfig", EndpointConfigName=name)

    def create_endpoint_config(self, request: Mapping[str, Any]) -> str:
        """Returns the EndpointConfigArn (also when it already existed)."""
        return self._created(
            "CreateEndpointConfig",
            request,
            "EndpointConfigArn",
            "DescribeEndpointConfig",
            "EndpointConfigName",
        )

    def delete_endpoint_config(self, name: str) -> bool:
        return self._deleted("DeleteEndpointConfig", EndpointConfigName=name)

    def list_endpoint_configs(self, name_prefix: str) -> dict[str, str]:
        """EndpointConfigs whose names start with ``name_prefix``: name -> ARN."""
        return self._names("ListEndpointConfigs", "EndpointConfigs", "EndpointConfig", name_prefix)

    def describe_model(self, name: str) -> dict[str, Any] | None:
        return self._or_none("DescribeModel", ModelName=name)

    def create_model(self, request: Mapping[str, Any]) -> str:
        """Returns the ModelArn (also when the model already existed)."""
        return self._created("CreateModel", request, "ModelArn", "DescribeModel", "ModelName")

    def delete_model(self, name: str) -> bool:
        return self._deleted("DeleteModel", ModelName=name)

    def list_models(self, name_prefix: str) -> dict[str, str]:
        """Models whose names start with ``name_prefix``: name -> ARN."""
        return self._names("ListModels", "Models", "Model", name_prefix)

    def _names(self, operation: str, items_key: str, kind: str, prefix: str) -> dict[str, str]:
        # NameContains narrows the listing server-side; it matches anywhere in the name, so
        # the prefix test is ours (and moto ignores NameContains on ListModels altogether).
        params: dict[str, Any] = {"MaxResults": self._page_size}
        if prefix:  # the API refuses an empty NameContains
            params["NameContains"] = prefix
        found = {
            item[f"{kind}Name"]: item[f"{kind}Arn"]
            for page in self._pages(operation, **params)
            for item in page.get(items_key, [])
        }
        return {name: found[name] for name in sorted(found) if name.startswith(prefix)}

    # ------------------------------------------------------------------ tags

    def list_tags(self, arn: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        for page in self._pages("ListTags", ResourceArn=arn):
            tags.update(tag_dict(page.get("Tags", [])))
        return tags

    def add_tags(self, arn: str, tags: Mapping[str, str]) -> None:
        """Adds or overwrites ``tags``; no call when there are none."""
        if tags:
            self._call("AddTags", ResourceArn=arn, Tags=tag_list(tags))

    def delete_tags(self, arn: str, keys: list[str]) -> None:
        """Removes tags by key; no call when there are none."""
        if keys:
            self._call("DeleteTags", ResourceArn=arn, TagKeys=list(keys))
