"""What API Gateway hands to code: the Lambda proxy event (payload format 1.0), which a
``REQUEST`` authorizer also receives, and the ``$context`` values of mapping templates.

Header names reach the function as the WSGI server reports them (``X-Api-Key``), not in the
client's own spelling. A body that is not UTF-8 is sent base64-encoded (``isBase64Encoded``),
as API Gateway does for binary media types; no ``binaryMediaTypes`` setting is consulted.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from .exchange import Call, Caller, Route

__all__ = ["proxy_event", "request_event", "template_context"]


def request_event(call: Call, route: Route, caller: Caller) -> dict[str, Any]:
    """The request part of a proxy event (everything but the body)."""
    multi_headers: dict[str, list[str]] = {}
    for name, value in call.headers.items():
        multi_headers.setdefault(name, []).append(value)
    query = call.query_params()
    request_context: dict[str, Any] = {
        "resourceId": route.resource_id,
        "resourcePath": route.resource_path,
        "httpMethod": call.method,
        "extendedRequestId": call.request_id,
        "requestTime": _request_time(call.time_epoch_ms),
        "path": f"/{route.stage}{call.path}",
        "accountId": route.account,
        "protocol": "HTTP/1.1",
        "stage": route.stage,
        "domainPrefix": route.api_id,
        "requestTimeEpoch": call.time_epoch_ms,
        "requestId": call.request_id,
        "identity": dict(caller.identity),
        "domainName": f"{route.api_id}.execute-api.{route.region}.amazonaws.com",
        "apiId": route.api_id,
    }
    if caller.authorizer is not None:
        request_context["authorizer"] = dict(caller.authorizer)
    return {
        "resource": route.resource_path,
        "path": call.path,
        "httpMethod": call.method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": dict(route.path_params) or None,
        "stageVariables": None,
        "requestContext": request_context,
    }


def proxy_event(call: Call, route: Route, caller: Caller) -> dict[str, Any]:
    """The whole event a Lambda proxy (``AWS_PROXY``) integration sends."""
    event = request_event(call, route, caller)
    try:
        event["body"], event["isBase64Encoded"] = call.body.decode(), False
    except UnicodeDecodeError:
        event["body"], event["isBase64Encoded"] = base64.b64encode(call.body).decode(), True
    if not call.body:
        event["body"] = None
    return event


def template_context(call: Call, route: Route, caller: Caller | None = None) -> dict[str, Any]:
    """``$context`` values by dotted name (``sagemeter_sandbox.dataplane.vtl``): the request's,
    and the caller's ``identity.<name>`` and ``authorizer.<name>`` (``authorizer.claims.<claim>``
    of a user pool token) as the authorization step found them."""
    found: dict[str, Any] = {}
    if caller is not None:
        for key, value in caller.identity.items():
            if value is not None:
                found[f"identity.{key}"] = value
        for key, value in (caller.authorizer or {}).items():
            if isinstance(value, dict):
                found.update({f"authorizer.{key}.{k}": v for k, v in value.items()})
            elif value is not None:
                found[f"authorizer.{key}"] = value
    return found | {
        "requestId": call.request_id,
        "requestTimeEpoch": call.time_epoch_ms,
        "stage": route.stage,
        "resourcePath": route.resource_path,
        "resourceId": route.resource_id,
        "identity.sourceIp": call.source_ip,
        "httpMethod": call.method,
        "path": f"/{route.stage}{call.path}",
        "apiId": route.api_id,
        "accountId": route.account,
    }


def _request_time(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
