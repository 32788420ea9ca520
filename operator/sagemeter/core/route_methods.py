"""Pure builders of a route's POST method, integration and responses, for each thing a route
can do: call SageMaker directly (realtime or async), proxy through a Lambda, and, while the
endpoint does not serve, answer `503` through a MOCK integration or send a wake request to the
event queue (`core.wake`). `RouteManager` (``sagemeter.routes.manager``) sends them; the
fingerprint of all of it is the route record's, so a route is rewritten exactly when it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sagemeter.api.models import Authorization
from sagemeter.core.endpoint.naming import short_hash
from sagemeter.core.routes import (
    ASYNC_REQUEST_HEADERS,
    ASYNC_RESPONSE_HEADERS,
    ERROR_RESPONSES,
    FINGERPRINT_LENGTH,
    REALTIME_REQUEST_HEADERS,
    REALTIME_RESPONSE_HEADERS,
    RouteSpec,
    encode_route_record,
    lambda_integration_uri,
    partition,
    sagemaker_integration_uri,
)
from sagemeter.core.self_service import METER_RESOURCE, MeterMethod, extend_message, meter_methods
from sagemeter.core.wake import HoldKind, RouteHold, hold_body, wake_message

__all__ = ["METER_RESOURCE", "MethodConfig", "build_method_config", "method_complete"]


@dataclass(frozen=True)
class MethodConfig:
    """The four kinds of API Gateway calls that make one route, without the ids
    (``restApiId``, ``resourceId``, ``httpMethod``) the gateway adds."""

    method: dict[str, Any]
    integration: dict[str, Any]
    method_responses: tuple[dict[str, Any], ...]
    integration_responses: tuple[dict[str, Any], ...]
    fingerprint: str
    proxy: bool
    # The methods of <path>/_meter (spec.api.selfService), written before the route's POST.
    meter: tuple[MeterMethod, ...] = ()


def _method(route: RouteSpec, request_headers: tuple[str, ...]) -> dict[str, Any]:
    method: dict[str, Any] = {"authorizationType": "AWS_IAM", "apiKeyRequired": False}
    if route.authorization == Authorization.API_KEY:
        method.update(authorizationType="NONE", apiKeyRequired=True)
    elif route.authorization == Authorization.CUSTOM:
        method.update(authorizationType="CUSTOM", authorizerId=route.authorizer_id)
    elif route.authorization == Authorization.COGNITO_USER_POOLS:
        method.update(authorizationType="COGNITO_USER_POOLS", authorizerId=route.authorizer_id)
        if route.authorization_scopes:
            method["authorizationScopes"] = list(route.authorization_scopes)
    elif route.authorization == Authorization.NONE:
        method["authorizationType"] = "NONE"
    if request_headers:
        # Declared, not required: SageMaker has defaults for all but InputLocation (which an
        # inline body replaces), and SageMaker's own error is clearer than API Gateway's
        # "missing parameter".
        method["requestParameters"] = {
            f"method.request.header.{header}": False for header in request_headers
        }
    return method


def _header_map(side: str, headers: tuple[str, ...]) -> dict[str, str]:
    return {f"{side}.header.{h}": f"method.request.header.{h}" for h in headers}


def _response_map(headers: tuple[str, ...]) -> dict[str, str]:
    return {f"method.response.header.{h}": f"integration.response.header.{h}" for h in headers}


def build_method_config(route: RouteSpec, region: str, invoke_role_arn: str | None) -> MethodConfig:
    """Every parameter of the route's POST method, integration and responses."""
    integration: dict[str, Any]
    method_responses: tuple[dict[str, Any], ...]
    integration_responses: tuple[dict[str, Any], ...]
    if route.hold is not None:
        method, integration, method_responses, integration_responses = _held(
            route, region, invoke_role_arn
        )
    elif route.lambda_arn:
        # Lambda proxy: the function sees the whole request (headers included) and shapes
        # the whole response, so nothing is mapped and no responses are declared.
        method = _method(route, ())
        integration = {
            "type": "AWS_PROXY",
            "integrationHttpMethod": "POST",
            "uri": lambda_integration_uri(region, route.lambda_arn),
        }
        method_responses, integration_responses = (), ()
    else:
        request_headers = ASYNC_REQUEST_HEADERS if route.async_ else REALTIME_REQUEST_HEADERS
        response_headers = ASYNC_RESPONSE_HEADERS if route.async_ else REALTIME_RESPONSE_HEADERS
        method = _method(route, request_headers)
        integration = {
            "type": "AWS",
            "integrationHttpMethod": "POST",
            "uri": sagemaker_integration_uri(region, route.endpoint_name, route.async_),
            "credentials": invoke_role_arn,
            "requestParameters": _header_map("integration.request", request_headers),
            # The body goes to SageMaker as sent: no mapping templates.
            "passthroughBehavior": "WHEN_NO_MATCH",
        }
        success = "202" if route.async_ else "200"
        declared = {f"method.response.header.{h}": False for h in response_headers}
        method_responses = tuple(
            {"statusCode": status, "responseParameters": dict(declared)}
            for status in (success, *(status for status, _ in ERROR_RESPONSES))
        )
        # The default (pattern-less) response last: the gateway writes it last, so its
        # presence proves a route was completely written.
        integration_responses = (
            *(
                {
                    "statusCode": status,
                    "selectionPattern": pattern,
                    "responseParameters": _response_map(("Content-Type",)),
                }
                for status, pattern in ERROR_RESPONSES
            ),
            {"statusCode": success, "responseParameters": _response_map(response_headers)},
        )
    meter = _meter(route, region, invoke_role_arn)
    parts: list[Any] = [method, integration, method_responses, integration_responses]
    if meter:
        # Only with selfService, so every other route keeps the fingerprint it had.
        parts.append([vars(m) for m in meter])
    fingerprint = short_hash(parts, FINGERPRINT_LENGTH)
    method = {**method, "operationName": encode_route_record(route.owner, fingerprint)}
    return MethodConfig(
        method=method,
        integration=integration,
        method_responses=method_responses,
        integration_responses=integration_responses,
        fingerprint=fingerprint,
        proxy=route.lambda_arn is not None and route.hold is None,
        meter=meter,
    )


def _meter(route: RouteSpec, region: str, invoke_role_arn: str | None) -> tuple[MeterMethod, ...]:
    if route.meter is None:
        return ()
    queue_uri, message = None, None
    if route.queue is not None:
        account, queue = route.queue
        queue_uri = f"arn:{partition(region)}:apigateway:{region}:sqs:path/{account}/{queue}"
        message = extend_message(
            route.owner.uid, route.owner.namespace, route.owner.name, route.path
        )
    return meter_methods(
        method=_method(route, ()),
        authorization=route.authorization,
        region_arn=f"arn:{partition(region)}:apigateway:{region}",
        invoke_role_arn=invoke_role_arn,
        parameter=route.meter,
        content_types=HELD_CONTENT_TYPES,
        queue_uri=queue_uri,
        message=message,
    )


def method_complete(config_proxy: bool, method: dict[str, Any]) -> bool:
    """Whether a method (as GetMethod or embedded GetResources shows it) was fully written:
    an integration and, for non-proxy routes, the default integration response, written last.
    """
    integration = method.get("methodIntegration") or {}
    if not integration:
        return False
    if config_proxy:
        return True
    responses = integration.get("integrationResponses") or {}
    return any(not r.get("selectionPattern") for r in responses.values())


# --------------------------------------------------------------------------- held routes

# Content types a held route answers for (API Gateway picks a request template by the request's
# Content-Type); any other is answered like these by the MOCK, or refused with 415 by the
# waking route, which never forwards a body it has no template for.
HELD_CONTENT_TYPES = (
    "application/json",
    "text/plain",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
)
HELD_RESPONSE_HEADERS = ("Retry-After", "Sagemeter-State")


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "") + "'"


def _held_headers(hold: RouteHold) -> dict[str, str]:
    headers = {"method.response.header.Sagemeter-State": _quoted(hold.kind.value)}
    if hold.retry_after is not None:
        headers["method.response.header.Retry-After"] = _quoted(hold.retry_after)
    return headers


def _held(
    route: RouteSpec, region: str, invoke_role_arn: str | None
) -> tuple[dict[str, Any], dict[str, Any], tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    """A route whose endpoint does not serve: the same authorization (nobody unauthorized can
    wake anything), and `503` with the reason; a waking route sends the wake request first."""
    hold = route.hold
    assert hold is not None
    method = _method(route, ())
    declared = {f"method.response.header.{h}": False for h in HELD_RESPONSE_HEADERS}
    body = {"application/json": hold_body(hold)}
    if hold.kind == HoldKind.WAKING and route.queue is not None:
        account, queue = route.queue
        message = wake_message(route.owner.uid, route.owner.namespace, route.owner.name, route.path)
        # A double-quoted Velocity string renders $context.requestId; its quotes are doubled.
        quoted = message.replace('"', '""')
        send = f'Action=SendMessage&MessageBody=$util.urlEncode("{quoted}")'
        integration: dict[str, Any] = {
            "type": "AWS",
            "integrationHttpMethod": "POST",
            "uri": f"arn:{partition(region)}:apigateway:{region}:sqs:path/{account}/{queue}",
            "credentials": invoke_role_arn,
            "requestParameters": {
                "integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"
            },
            "requestTemplates": {content: send for content in HELD_CONTENT_TYPES},
            "passthroughBehavior": "NEVER",
        }
        responses: tuple[dict[str, Any], ...] = (
            {
                "statusCode": "503",
                "selectionPattern": r"2\d{2}",
                "responseParameters": _held_headers(hold),
                "responseTemplates": body,
            },
            {
                "statusCode": "502",
                "responseTemplates": {
                    "application/json": '{"state": "error", "reason": "WakeNotSent"}'
                },
            },
        )
        method_responses: tuple[dict[str, Any], ...] = (
            {"statusCode": "503", "responseParameters": dict(declared)},
            {"statusCode": "502", "responseParameters": {}},
        )
        return method, integration, method_responses, responses
    mock = {content: '{"statusCode": 503}' for content in HELD_CONTENT_TYPES}
    integration = {"type": "MOCK", "requestTemplates": mock, "passthroughBehavior": "WHEN_NO_MATCH"}
    method_responses = ({"statusCode": "503", "responseParameters": dict(declared)},)
    responses = (
        {"statusCode": "503", "responseParameters": _held_headers(hold), "responseTemplates": body},
    )
    return method, integration, method_responses, responses
