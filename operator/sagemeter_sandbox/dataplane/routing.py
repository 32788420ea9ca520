"""Which deployed method a data-plane request reaches, as API Gateway decides it.

API Gateway serves a stage from the *deployment* the stage points at: a snapshot taken by
``CreateDeployment``, so a method written afterwards is not served until the next deployment.
moto keeps no snapshot (a deployment is an id and a stage name), so ``patches`` wraps moto's
``RestAPI.create_deployment`` to copy every resource's methods and the API's authorizers onto the
deployment; the data plane serves those copies. A deployment made before the patch is installed
(there is none in the sandbox) would be served from the live API.

Answers, as API Gateway gives them (the ``MISSING_AUTHENTICATION_TOKEN`` gateway response is
"including the cases when the client attempts to invoke an unsupported API method or resource",
docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html):

* an API id no region has: ``403 {"message":"Forbidden"}`` (``ForbiddenException``), what the
  execute-api front door answers for a host that names no API;
* a stage that does not exist (never deployed, or deleted), a path no deployed resource matches,
  or a method the resource lacks: ``403 {"message":"Missing Authentication Token"}``.

Path templates match one segment per ``{name}`` and the rest of the path for ``{name+}``;
literal parts win over parameters, as in API Gateway. ``ANY`` methods match every method.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from moto.apigateway.models import Deployment, RestAPI, apigateway_backends

from sagemeter_sandbox.motopatches import original

from .exchange import GatewayError, Route

__all__ = ["find_route", "patches"]

_SNAPSHOT = "_sagemeter_snapshot"


def _snapshot(api: RestAPI) -> dict[str, Any]:
    """What a deployment serves: each resource's path and methods, and the authorizers."""
    return {
        "resources": {
            resource.id: (resource.get_path(), copy.deepcopy(resource.resource_methods))
            for resource in list(api.resources.values())
        },
        "authorizers": copy.deepcopy(api.authorizers),
    }


def _create_deployment(
    self: RestAPI, name: str, description: str, stage_variables: Any = None
) -> Deployment:
    moto = original(RestAPI, "create_deployment")
    deployment: Deployment = moto(self, name, description, stage_variables)
    vars(deployment)[_SNAPSHOT] = _snapshot(self)
    return deployment


def patches() -> list[tuple[type, str, object]]:
    """For ``localaws.install``: deployments keep what they serve."""
    return [(RestAPI, "create_deployment", _create_deployment)]


def _apis(api_id: str) -> Iterator[tuple[str, str, RestAPI]]:
    # list(): the server is threaded and moto creates backends lazily.
    for account, regions in list(apigateway_backends.items()):
        for region, backend in list(regions.items()):
            api = backend.apis.get(api_id)
            if api is not None:
                yield account, region, api


def find_route(api_id: str, stage_name: str, method: str, path: str) -> Route:
    """The deployed method serving ``method path`` on the stage; raises ``GatewayError``."""
    found = next(_apis(api_id), None)
    if found is None:
        raise GatewayError(
            403,
            "Forbidden",
            "ForbiddenException",
            detail=f"no REST API {api_id} in any account or region",
        )
    account, region, api = found
    stage = api.stages.get(stage_name)
    deployment = api.deployments.get(stage.deployment_id or "") if stage else None
    if stage is None or deployment is None:
        raise _missing(f"REST API {api_id} has no stage {stage_name!r} (or it was never deployed)")
    snapshot = vars(deployment).get(_SNAPSHOT) or _snapshot(api)
    segments = [unquote(part) for part in path.strip("/").split("/") if part]
    best: tuple[tuple[int, ...], str, str, dict[str, str]] | None = None
    for resource_id, (template, _) in snapshot["resources"].items():
        params = _match(template, segments)
        if params is not None:
            rank = _rank(template)
            if best is None or rank > best[0]:
                best = (rank, resource_id, template, params)
    if best is None:
        raise _missing(f"no resource matches {path or '/'} in stage {stage_name} of {api_id}")
    _, resource_id, template, params = best
    methods = snapshot["resources"][resource_id][1]
    chosen = methods.get(method) or methods.get("ANY")
    if chosen is None:
        raise _missing(f"{template} has no {method} method in stage {stage_name} of {api_id}")
    return Route(
        account=account,
        region=region,
        api_id=api_id,
        stage=stage_name,
        resource_id=resource_id,
        resource_path=template,
        method=chosen,
        path_params=params,
        authorizers=snapshot["authorizers"],
        api_key_source=api.api_key_source or "HEADER",
    )


def _missing(detail: str) -> GatewayError:
    return GatewayError(
        403, "Missing Authentication Token", "MissingAuthenticationTokenException", detail=detail
    )


def _match(template: str, segments: list[str]) -> dict[str, str] | None:
    parts = [part for part in template.strip("/").split("/") if part]
    params: dict[str, str] = {}
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[index:]
            if not rest:
                return None
            params[part[1:-2]] = "/".join(rest)
            return params
        if index >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = segments[index]
        elif part != segments[index]:
            return None
    return params if len(parts) == len(segments) else None


def _rank(template: str) -> tuple[int, ...]:
    """Literal segments beat ``{param}``, which beats ``{proxy+}``, left to right."""
    parts = [part for part in template.strip("/").split("/") if part]
    return tuple(0 if p.endswith("+}") else 1 if p.startswith("{") else 2 for p in parts)
