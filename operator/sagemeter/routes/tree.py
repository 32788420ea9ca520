"""One REST API's resource tree as the operator knows it, and the edits routes make to it.

Owns reading the tree (one paged ``GetResources?embed=methods``: every resource with its
methods, so every route record), writing a route's POST method on a path (creating the
resources it needs), and deleting a route without touching anything else: a resource that
still has children or other methods keeps existing (API Gateway deletes a resource's whole
subtree), and parents left empty by the deletion are pruned. The tree is a cache: callers
``load`` it again before acting on a view that may be stale. It is read as the REST API's
owner; each route is written and deleted as the object it belongs to (the ``apigateway`` the
caller passes). A route with self-service has its `<path>/_meter` resource (GET, POST) too:
written before the route's POST (whose default integration response, written last, proves the
whole route written), and deleted with the route.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sagemeter.aws.apigateway import ApiGatewayGateway
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.core import routes as core
from sagemeter.core.route_methods import METER_RESOURCE, MethodConfig
from sagemeter.core.routes import ROUTE_METHOD, RouteRecord

__all__ = ["ResourceTree"]

ROOT = "/"


@dataclass
class _Node:
    id: str
    parent_id: str | None
    methods: dict[str, dict[str, Any]]


class ResourceTree:
    """The resources of REST API ``api_id``, by path (``"/"``, ``"/team-a/falcon"``)."""

    def __init__(
        self, apigateway: ApiGatewayGateway, api_id: str, clock: Callable[[], float]
    ) -> None:
        self.api_id = api_id
        self._apigateway = apigateway
        self._clock = clock
        self._nodes: dict[str, _Node] = {}
        self.loaded_at: float | None = None

    def load(self) -> None:
        self._nodes = {
            str(item["path"]): _Node(
                id=str(item["id"]),
                parent_id=item.get("parentId"),
                methods=dict(item.get("resourceMethods") or {}),
            )
            for item in self._apigateway.resources(self.api_id)
        }
        self.loaded_at = self._clock()

    def age(self) -> float:
        return float("inf") if self.loaded_at is None else self._clock() - self.loaded_at

    # ------------------------------------------------------------------ reading

    def post(self, path: str) -> dict[str, Any] | None:
        """The route method at ``path`` as GetResources shows it, or None."""
        node = self._nodes.get(path)
        return node.methods.get(ROUTE_METHOD) if node else None

    def record(self, path: str) -> RouteRecord | None:
        return core.parse_route_record((self.post(path) or {}).get("operationName"))

    def paths(self) -> list[str]:
        return list(self._nodes)

    def owned_paths(self, uid: str) -> set[str]:
        """Every path whose route record names ``uid``."""
        return {
            path
            for path in self._nodes
            if (record := self.record(path)) is not None and record.uid == uid
        }

    def meter_methods(self, path: str) -> set[str]:
        """The methods of `<path>/_meter` (the route's self-service resource)."""
        node = self._nodes.get(_meter_path(path))
        return set(node.methods) if node else set()

    def integration_uri(self, path: str) -> str:
        return str(((self.post(path) or {}).get("methodIntegration") or {}).get("uri") or "")

    # ------------------------------------------------------------------ writing

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """A change AWS refused half-way (a throttle, an outage) leaves what the API holds
        unknown: the cache may show a method gone that is still there, or miss one just put.
        The tree is then as good as never read, and its next use reads it again; a decision
        taken on it (nothing of an owner's left to delete) would otherwise rest on the
        failed change."""
        try:
            yield
        except BaseException:
            self.loaded_at = None
            raise

    def write_route(self, path: str, config: MethodConfig, apigateway: ApiGatewayGateway) -> None:
        """(Re)writes POST ``path`` as ``config`` says, creating the resources on the way."""
        with self._changing():
            self._write_route(path, config, apigateway)

    def _write_route(self, path: str, config: MethodConfig, apigateway: ApiGatewayGateway) -> None:
        api_id = self.api_id
        node = self._nodes.get(path)
        if node is not None and ROUTE_METHOD in node.methods:
            # PutMethod refuses an existing method. The stage keeps serving the deployed
            # snapshot meanwhile, so callers see no gap.
            apigateway.delete_method(api_id, node.id, ROUTE_METHOD)
            node.methods.pop(ROUTE_METHOD)
        self._delete_meter(path, apigateway)
        if config.meter:
            meter = self._ensure_resource(_meter_path(path), apigateway)
            for sub in config.meter:
                self._put(meter, sub.http_method, sub, apigateway)
                meter.methods[sub.http_method] = {"httpMethod": sub.http_method}
        node = self._ensure_resource(path, apigateway)
        self._put(node, ROUTE_METHOD, config, apigateway)
        # What GetResources would now show, as far as anyone reads it.
        node.methods[ROUTE_METHOD] = {
            "operationName": config.method["operationName"],
            "apiKeyRequired": config.method.get("apiKeyRequired", False),
            "methodIntegration": {
                **config.integration,
                "integrationResponses": {r["statusCode"]: r for r in config.integration_responses},
            },
        }

    def _put(
        self,
        node: _Node,
        http_method: str,
        config: Any,
        apigateway: ApiGatewayGateway,
    ) -> None:
        """One method: itself, its integration, then its responses (a `MethodConfig` or a
        `MeterMethod`)."""
        api_id = self.api_id
        apigateway.put_method(api_id, node.id, http_method, config.method)
        apigateway.put_integration(api_id, node.id, http_method, config.integration)
        # Method responses first: an integration response must name a declared status.
        for response in config.method_responses:
            apigateway.put_method_response(api_id, node.id, http_method, response)
        for response in config.integration_responses:
            apigateway.put_integration_response(api_id, node.id, http_method, response)

    def _delete_meter(self, path: str, apigateway: ApiGatewayGateway) -> None:
        """Deletes `<path>/_meter` (and what is under it): the route's own, as no user path
        may have a segment starting with `_`."""
        meter_path = _meter_path(path)
        node = self._nodes.get(meter_path)
        if node is None:
            return
        apigateway.delete_resource(self.api_id, node.id)
        for known in [p for p in self._nodes if p == meter_path or p.startswith(meter_path + "/")]:
            del self._nodes[known]

    def _ensure_resource(
        self, path: str, apigateway: ApiGatewayGateway, retried: bool = False
    ) -> _Node:
        parent = self._nodes[ROOT]
        current = ""
        for part in core.split_path(path):
            current = f"{current}/{part}"
            node = self._nodes.get(current)
            if node is None:
                try:
                    created = apigateway.create_resource(self.api_id, parent.id, part)
                except AwsError as exc:
                    if exc.kind is not ErrorKind.ALREADY_EXISTS or retried:
                        raise
                    # Someone made it since the tree was read: read it again.
                    self.load()
                    return self._ensure_resource(path, apigateway, retried=True)
                node = _Node(id=str(created["id"]), parent_id=parent.id, methods={})
                self._nodes[current] = node
            parent = node
        return parent

    def delete_route(self, path: str, apigateway: ApiGatewayGateway) -> None:
        """Deletes POST ``path``; its resource and empty parents too when nothing else uses
        them."""
        with self._changing():
            self._delete_route(path, apigateway)

    def _delete_route(self, path: str, apigateway: ApiGatewayGateway) -> None:
        self._delete_meter(path, apigateway)
        node = self._nodes[path]
        if self._has_children(node) or set(node.methods) - {ROUTE_METHOD}:
            # Deleting the resource would delete everything under it: other routes live there.
            apigateway.delete_method(self.api_id, node.id, ROUTE_METHOD)
            node.methods.pop(ROUTE_METHOD, None)
            return
        node.methods.pop(ROUTE_METHOD, None)
        by_id = {n.id: p for p, n in self._nodes.items()}
        while path != ROOT and not node.methods and not self._has_children(node):
            apigateway.delete_resource(self.api_id, node.id)
            del self._nodes[path]
            path = by_id.get(node.parent_id or "", ROOT)
            node = self._nodes[path]

    def _has_children(self, node: _Node) -> bool:
        return any(other.parent_id == node.id for other in self._nodes.values())


def _meter_path(path: str) -> str:
    return f"{path.rstrip('/')}/{METER_RESOURCE}"
