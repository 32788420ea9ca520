"""The API Gateway (REST API, v1) and Lambda gateways: every call a route needs, one method each.

Owns the shape of those calls (paging by ``position``, ``embed=methods``, "already gone"
deletes, idempotent Lambda permissions) and nothing else: parameters are built by
``sagemeter.core.routes``, decisions are made by ``sagemeter.routes``. Methods are synchronous
and raise ``AwsError`` for anything they do not handle themselves.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sagemeter.aws.clients import Identity
from sagemeter.aws.clients import client as shared_client
from sagemeter.aws.errors import AwsError, ErrorKind, checked_call
from sagemeter.aws.gateway import Gateway

__all__ = ["ApiGatewayGateway", "LambdaGateway", "RouteGateways"]

MAX_PAGE_SIZE = 500  # the largest `limit` API Gateway's Get* listings take


class ApiGatewayGateway(Gateway):
    """API Gateway REST APIs in one region. ``client`` defaults to the shared client."""

    SERVICE = "apigateway"

    def __init__(
        self,
        region: str,
        client: Any | None = None,
        page_size: int = MAX_PAGE_SIZE,
        identity: Identity | None = None,
    ):
        super().__init__(region, client, identity)
        self._page_size = page_size

    def _items(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every ``items`` entry of a listing, following ``position`` to the last page."""
        params.setdefault("limit", self._page_size)
        while True:
            page = self._call(operation, **params)
            yield from page.get("items", [])
            position = page.get("position")
            if not position:
                return
            params["position"] = position

    # ------------------------------------------------------------------ REST APIs

    def rest_apis(self) -> list[dict[str, Any]]:
        return list(self._items("GetRestApis"))

    def get_rest_api(self, api_id: str) -> dict[str, Any] | None:
        return self._or_none("GetRestApi", restApiId=api_id)

    def delete_rest_api(self, api_id: str) -> bool:
        return self._deleted("DeleteRestApi", restApiId=api_id)

    def create_rest_api(
        self, name: str, description: str, tags: Mapping[str, str]
    ) -> dict[str, Any]:
        # REGIONAL: callers of an inference endpoint sit in or near its region; EDGE would add
        # a CloudFront hop and its own propagation delays.
        return self._call(
            "CreateRestApi",
            name=name,
            description=description,
            tags=dict(tags),
            endpointConfiguration={"types": ["REGIONAL"]},
        )

    # ------------------------------------------------------------------ resources and methods

    def resources(self, api_id: str) -> list[dict[str, Any]]:
        """Every resource with its methods embedded (integration and responses included),
        so one paged listing shows every route and its record."""
        return list(self._items("GetResources", restApiId=api_id, embed=["methods"]))

    def create_resource(self, api_id: str, parent_id: str, path_part: str) -> dict[str, Any]:
        return self._call(
            "CreateResource", restApiId=api_id, parentId=parent_id, pathPart=path_part
        )

    def delete_resource(self, api_id: str, resource_id: str) -> bool:
        return self._deleted("DeleteResource", restApiId=api_id, resourceId=resource_id)

    def put_method(
        self, api_id: str, resource_id: str, http_method: str, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self._call(
            "PutMethod",
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod=http_method,
            **params,
        )

    def delete_method(self, api_id: str, resource_id: str, http_method: str) -> bool:
        return self._deleted(
            "DeleteMethod", restApiId=api_id, resourceId=resource_id, httpMethod=http_method
        )

    def put_integration(
        self, api_id: str, resource_id: str, http_method: str, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self._call(
            "PutIntegration",
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod=http_method,
            **params,
        )

    def put_method_response(
        self, api_id: str, resource_id: str, http_method: str, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self._call(
            "PutMethodResponse",
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod=http_method,
            **params,
        )

    def put_integration_response(
        self, api_id: str, resource_id: str, http_method: str, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self._call(
            "PutIntegrationResponse",
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod=http_method,
            **params,
        )

    def get_authorizer(self, api_id: str, authorizer_id: str) -> dict[str, Any] | None:
        return self._or_none("GetAuthorizer", restApiId=api_id, authorizerId=authorizer_id)

    # ------------------------------------------------------------------ deployments and stages

    def create_deployment(self, api_id: str, stage: str, description: str) -> str:
        """Deploys the API's current routes to ``stage`` (creating the stage); the id."""
        response = self._call(
            "CreateDeployment", restApiId=api_id, stageName=stage, description=description
        )
        return str(response["id"])

    def get_stage(self, api_id: str, stage: str) -> dict[str, Any] | None:
        return self._or_none("GetStage", restApiId=api_id, stageName=stage)

    def delete_stage(self, api_id: str, stage: str) -> bool:
        return self._deleted("DeleteStage", restApiId=api_id, stageName=stage)

    # ------------------------------------------------------------------ API keys and usage plans

    def api_keys(self, prefix: str) -> list[dict[str, Any]]:
        """The keys whose name starts with ``prefix`` (GetApiKeys' ``nameQuery`` matches a
        prefix), values and tags included (paged)."""
        return [
            key
            for key in self._items("GetApiKeys", nameQuery=prefix, includeValues=True)
            if str(key.get("name", "")).startswith(prefix)
        ]

    def create_api_key(
        self, name: str, description: str, tags: Mapping[str, str]
    ) -> dict[str, Any]:
        """The new key, value included (API Gateway generates it)."""
        return self._call(
            "CreateApiKey", name=name, description=description, enabled=True, tags=dict(tags)
        )

    def delete_api_key(self, key_id: str) -> bool:
        return self._deleted("DeleteApiKey", apiKey=key_id)

    def usage_plans(self) -> list[dict[str, Any]]:
        return list(self._items("GetUsagePlans"))

    def create_usage_plan(
        self, name: str, description: str, api_id: str, stage: str, tags: Mapping[str, str]
    ) -> dict[str, Any]:
        return self._call(
            "CreateUsagePlan",
            name=name,
            description=description,
            apiStages=[{"apiId": api_id, "stage": stage}],
            tags=dict(tags),
        )

    def add_usage_plan_stage(self, plan_id: str, api_id: str, stage: str) -> None:
        self._call(
            "UpdateUsagePlan",
            usagePlanId=plan_id,
            patchOperations=[{"op": "add", "path": "/apiStages", "value": f"{api_id}:{stage}"}],
        )

    def remove_usage_plan_stage(self, plan_id: str, api_id: str, stage: str) -> None:
        self._call(
            "UpdateUsagePlan",
            usagePlanId=plan_id,
            patchOperations=[{"op": "remove", "path": "/apiStages", "value": f"{api_id}:{stage}"}],
        )

    def usage_plan_key_ids(self, plan_id: str) -> set[str]:
        return {str(key["id"]) for key in self._items("GetUsagePlanKeys", usagePlanId=plan_id)}

    def create_usage_plan_key(self, plan_id: str, key_id: str) -> None:
        self._call("CreateUsagePlanKey", usagePlanId=plan_id, keyId=key_id, keyType="API_KEY")

    def delete_usage_plan_key(self, plan_id: str, key_id: str) -> bool:
        return self._deleted("DeleteUsagePlanKey", usagePlanId=plan_id, keyId=key_id)

    def delete_usage_plan(self, plan_id: str) -> bool:
        return self._deleted("DeleteUsagePlan", usagePlanId=plan_id)


class LambdaGateway(Gateway):
    """Lambda in one region: who may invoke a function, and the function's tags."""

    SERVICE = "lambda"

    def __init__(
        self,
        region: str,
        client: Any | None = None,
        sts_client: Any | None = None,
        identity: Identity | None = None,
    ):
        super().__init__(region, client, identity)
        self._sts = sts_client if sts_client is not None else shared_client("sts", region, identity)
        self._account: str | None = None

    def caller_account(self) -> str:
        """The account the calls land in: the REST API's account, which a permission's
        SourceArn names (API Gateway reports no account of its own). Asked once."""
        if self._account is None:
            self._account = str(checked_call(self._sts, "GetCallerIdentity")["Account"])
        return self._account

    def add_permission(self, function_arn: str, statement_id: str, source_arn: str) -> bool:
        """Lets API Gateway invoke the function from ``source_arn``; False if the statement
        already existed (an earlier attempt made it: ids are deterministic)."""
        try:
            self._call(
                "AddPermission",
                FunctionName=function_arn,
                StatementId=statement_id,
                Action="lambda:InvokeFunction",
                Principal="apigateway.amazonaws.com",
                SourceArn=source_arn,
            )
        except AwsError as exc:
            if exc.code == "ResourceConflictException" or exc.kind is ErrorKind.ALREADY_EXISTS:
                return False
            raise
        return True

    def remove_permission(self, function_arn: str, statement_id: str) -> bool:
        """False when the function or the statement was already gone."""
        return self._deleted(
            "RemovePermission", FunctionName=function_arn, StatementId=statement_id
        )

    def function_tags(self, function_arn: str) -> dict[str, str] | None:
        """The function's tags; None when they cannot be read (no such function: raises
        NOT_FOUND; another account's function or no permission: None)."""
        try:
            return dict(self._call("ListTags", Resource=function_arn).get("Tags") or {})
        except AwsError as exc:
            if exc.kind is ErrorKind.TERMINAL:  # AccessDenied*, another account's ARN
                return None
            raise


@dataclass(frozen=True)
class RouteGateways:
    """The gateways one region's routes need."""

    apigateway: ApiGatewayGateway
    lambda_: LambdaGateway

    @classmethod
    def for_region(cls, region: str, identity: Identity | None = None) -> RouteGateways:
        return cls(
            ApiGatewayGateway(region, identity=identity), LambdaGateway(region, identity=identity)
        )
