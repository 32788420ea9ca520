"""A method's integration in the local data plane: the request API Gateway sends on, and the
response it makes of the answer.

* ``AWS`` with a path-style or action-style service URI
  (``arn:aws:apigateway:<region>:runtime.sagemaker:path//endpoints/<name>/invocations``,
  ``...:sqs:path/<account>/<queue>``, ``...:<service>:action/<Action>``; a JSON-protocol
  service's action, such as ``ssm:action/GetParameter``, goes as its ``X-Amz-Target``): the
  request is sent to the local AWS *in-process* (a WSGI sub-request through its own app, fault
  rules and request log included, in the API's account), so it meets every realism patch of
  the local AWS, e.g. SageMaker's "Endpoint ... not found." for a parked endpoint. Headers
  and query parameters come only from the integration's ``requestParameters``
  (``method.request.header|querystring|path.X``,
  ``context.X`` or ``'static'``); the body is the request template chosen by Content-Type, or
  the method body as ``passthroughBehavior`` allows (else ``415``). The integration response
  is the one whose ``selectionPattern`` matches the backend's HTTP status, else the default;
  its ``responseTemplates`` (chosen by Accept) and ``responseParameters``
  (``integration.response.header.X``, ``integration.response.body``, ``context.X``,
  ``'static'``) make the reply, and a template's ``$context.responseOverride`` (status,
  headers) has the last word. The integration's ``credentials`` role is not assumed: moto is
  called with the sandbox's credentials.
* ``MOCK``: the request template's ``{"statusCode": N}`` selects the integration response
  (``200`` without a template); no backend is called.
* ``AWS_PROXY`` to a Lambda function: the function (run by ``lambdas``) gets the proxy event
  and answers ``{statusCode, headers, multiValueHeaders, body, isBase64Encoded}``; a function
  error, a malformed answer or a timeout is ``502 {"message": "Internal server error"}``, a
  function over the ``29`` s integration timeout ``504``. The function's resource policy must
  let ``apigateway.amazonaws.com`` invoke it from the method's ARN (unless the integration has
  credentials), else ``500``.

Not supported (``500`` saying so): ``HTTP``/``HTTP_PROXY`` integrations, non-proxy Lambda,
content handling (binary conversion), integration response ``selectionPattern`` against Lambda
error messages, response/request models and validators.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.datastructures import Headers
from werkzeug.test import Client

from . import lambdas
from .auth import SANDBOX_KEY
from .events import proxy_event, template_context
from .exchange import Call, Caller, GatewayError, Reply, Route, configuration_error
from .vtl import TemplateError, TemplateInput, render

__all__ = ["INTEGRATION_TIMEOUT_SECONDS", "integrate"]

INTEGRATION_TIMEOUT_SECONDS = 29.0
WsgiApp = Callable[..., Iterable[bytes]]
_AWS_URI = re.compile(
    r"^arn:[a-z-]+:apigateway:(?P<region>[a-z0-9-]+):(?P<service>[a-z0-9.-]+):"
    r"(?P<style>path|action)/(?P<rest>.*)$"
)
_PROXY_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}


def integrate(call: Call, route: Route, caller: Caller, moto_app: WsgiApp) -> Reply:
    """The reply for an authorized call; raises ``GatewayError`` or ``TemplateError``."""
    integration = route.method.method_integration
    if integration is None:
        raise configuration_error(f"{call.method} {route.resource_path} has no integration")
    kind = (integration.integration_type or "").upper()
    context = template_context(call, route, caller)
    if kind == "AWS_PROXY":
        return _lambda_proxy(call, route, caller, integration)
    if kind == "MOCK":
        rendered = _request_body(call, integration, context).decode() or "{}"
        try:
            status = int(json.loads(rendered).get("statusCode", 200))
        except (ValueError, AttributeError) as error:
            raise configuration_error(
                f"MOCK request template gave no statusCode: {rendered!r}"
            ) from error
        return _respond(call, integration, status, Headers(), b"", context)
    if kind == "AWS":
        match = _AWS_URI.match(integration.uri or "")
        if match is None or match["service"] == "lambda":
            raise configuration_error(
                f"the local data plane makes AWS service integrations only, not {integration.uri}"
            )
        status, headers, body = _service_call(call, route, integration, match, moto_app, context)
        return _respond(call, integration, status, headers, body, context)
    raise configuration_error(f"the local data plane does not make {kind} integrations")


# --------------------------------------------------------------------------- requests


def _content_type(value: str | None) -> str:
    return (value or "application/json").split(";")[0].strip().lower()


def _request_body(call: Call, integration: Any, context: Mapping[str, Any]) -> bytes:
    templates: dict[str, str | None] = integration.request_templates or {}
    wanted = _content_type(call.header("Content-Type"))
    for content_type, template in templates.items():
        if content_type.lower() == wanted and template is not None:
            return render(template, TemplateInput(_text(call.body), context)).encode()
    behaviour = (integration.passthrough_behaviour or "WHEN_NO_MATCH").upper()
    if behaviour == "WHEN_NO_MATCH" or (behaviour == "WHEN_NO_TEMPLATES" and not templates):
        return call.body
    raise GatewayError(
        415,
        "Unsupported Media Type",
        "UnsupportedMediaTypeException",
        detail=f"no request template for {wanted} ({behaviour})",
    )


def _request_value(source: str, call: Call, route: Route, context: Mapping[str, Any]) -> str | None:
    if len(source) >= 2 and source[0] == source[-1] == "'":
        return source[1:-1]
    where, _, name = source.partition(".request.")
    kind, _, key = name.partition(".")
    if where == "method" and kind == "header":
        return call.header(key)
    if where == "method" and kind == "querystring":
        values = call.query_params().get(key)
        return values[-1] if values else None
    if where == "method" and kind == "path":
        return route.path_params.get(key)
    if source.startswith("context.") and source.removeprefix("context.") in context:
        return str(context[source.removeprefix("context.")])
    raise TemplateError(f"requestParameters: unsupported source {source!r}")


def _service_call(
    call: Call,
    route: Route,
    integration: Any,
    uri: re.Match[str],
    moto_app: WsgiApp,
    context: Mapping[str, Any],
) -> tuple[int, Headers, bytes]:
    """Sends the integration request to moto in-process; its status, headers and body."""
    headers: dict[str, str] = {}
    query: list[tuple[str, str]] = [("Action", uri["rest"])] if uri["style"] == "action" else []
    path = "/" + uri["rest"].lstrip("/") if uri["style"] == "path" else "/"
    target = _json_target(uri["service"], uri["rest"]) if uri["style"] == "action" else None
    if target is not None:
        # A JSON-protocol service (SSM, Kinesis, DynamoDB) reads the action from X-Amz-Target,
        # not the query: API Gateway's tutorials name such actions in the URI and map only
        # Content-Type (application/x-amz-json-1.1), "Tutorial: Create a REST API as an Amazon
        # Kinesis proxy"; the target prefix is the service model's (botocore).
        query, headers["X-Amz-Target"] = [], target
    for target, source in (integration.request_parameters or {}).items():
        value = _request_value(str(source), call, route, context)
        kind, _, name = target.removeprefix("integration.request.").partition(".")
        if value is None:
            continue
        if kind == "header":
            headers[name] = value
        elif kind == "querystring":
            query.append((name, value))
        elif kind == "path":
            path = path.replace("{" + name + "}", value)
        else:
            raise TemplateError(f"requestParameters: unsupported target {target!r}")
    headers.setdefault("Content-Type", call.header("Content-Type") or "application/json")
    body = _request_body(call, integration, context)
    host = f"{uri['service']}.{uri['region']}.amazonaws.com"
    url = f"https://{host}{path}" + (f"?{urlencode(query)}" if query else "")
    request = AWSRequest(
        method=integration.http_method or "POST", url=url, data=body, headers=headers
    )
    # moto's server picks the service and region from the signature's credential scope.
    SigV4Auth(Credentials(*SANDBOX_KEY), uri["service"].split(".")[-1], uri["region"]).add_auth(
        request
    )
    sent = Headers([(k, str(v)) for k, v in request.headers.items()])
    sent["x-moto-account-id"] = route.account
    response = Client(moto_app).open(
        path,
        base_url=f"https://{host}",
        method=request.method,
        headers=sent,
        data=body,
        query_string=urlencode(query),
    )
    return response.status_code, Headers(response.headers), response.get_data()


@functools.cache
def _json_target(service: str, action: str) -> str | None:
    """``AmazonSSM.GetParameter`` for a JSON-protocol service's action; None for the others."""
    try:
        model = botocore.session.get_session().get_service_model(service)
    except Exception:  # no model under that endpoint prefix: the query protocol's Action
        return None
    prefix = model.metadata.get("targetPrefix")
    return f"{prefix}.{action}" if model.metadata.get("protocol") == "json" and prefix else None


# --------------------------------------------------------------------------- responses


def _respond(
    call: Call,
    integration: Any,
    status: int,
    headers: Headers,
    body: bytes,
    context: Mapping[str, Any],
) -> Reply:
    responses = list((integration.integration_responses or {}).values())
    status_text = str(status)
    chosen = next(
        (
            r
            for r in responses
            if r.selection_pattern and re.fullmatch(r.selection_pattern, status_text, re.S)
        ),
        None,
    ) or next((r for r in responses if not r.selection_pattern), None)
    if chosen is None:
        raise configuration_error(
            "No match for output mapping and no default output mapping configured. "
            f"Endpoint Response Status Code: {status}"
        )
    reply = Reply(int(chosen.status_code))
    templates: dict[str, str | None] = chosen.response_templates or {}
    content_type, template = _response_template(templates, call.header("Accept"))
    given = TemplateInput(_text(body), context)
    if template:
        reply.body = render(template, given).encode()
        reply.headers["Content-Type"] = content_type
    else:
        reply.body = body
        reply.headers["Content-Type"] = "application/json"
    for target, source in (chosen.response_parameters or {}).items():
        if not target.startswith("method.response.header."):
            raise TemplateError(f"responseParameters: unsupported target {target!r}")
        value = _response_value(str(source), headers, body, context)
        if value is not None:
            reply.headers[target.removeprefix("method.response.header.")] = value
    # `#set($context.responseOverride...)` in the template wins over the integration response.
    for key, value in given.overrides.items():
        if key == "status":
            try:
                reply.status = int(value)
            except ValueError as error:
                raise TemplateError(f"responseOverride.status {value!r} is no number") from error
        else:
            reply.headers[key.removeprefix("header.")] = value
    return reply


def _response_template(
    templates: dict[str, str | None], accept: str | None
) -> tuple[str, str | None]:
    if not templates:
        return "application/json", None
    for wanted in (_content_type(part) for part in (accept or "").split(",") if part.strip()):
        for content_type, template in templates.items():
            if content_type.lower() == wanted:
                return content_type, template
    if "application/json" in templates:
        return "application/json", templates["application/json"]
    return next(iter(templates.items()))


def _response_value(
    source: str, headers: Headers, body: bytes, context: Mapping[str, Any]
) -> str | None:
    if len(source) >= 2 and source[0] == source[-1] == "'":
        return source[1:-1]
    if source.startswith("integration.response.header."):
        return headers.get(source.removeprefix("integration.response.header."))
    if source == "integration.response.body":
        return _text(body)
    if source.startswith("context.") and source.removeprefix("context.") in context:
        return str(context[source.removeprefix("context.")])
    raise TemplateError(f"responseParameters: unsupported source {source!r}")


def _text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------- Lambda proxy


def _internal(detail: str, status: int = 502) -> GatewayError:
    return GatewayError(
        status, "Internal server error", "InternalServerErrorException", detail=detail
    )


def _lambda_proxy(call: Call, route: Route, caller: Caller, integration: Any) -> Reply:
    arn = lambdas.function_arn_from_uri(integration.uri)
    if arn is None:
        raise configuration_error(f"AWS_PROXY to {integration.uri}: only Lambda is supported")
    function = lambdas.find_function(arn)
    if function is None:
        raise configuration_error(f"Lambda function {arn} does not exist")
    source_arn = route.method_arn(call)
    if not integration.credentials and not lambdas.permits_apigateway(function, source_arn):
        raise configuration_error(
            "Execution failed due to configuration error: Invalid permissions on Lambda "
            f"function ({function.function_arn} does not allow apigateway.amazonaws.com "
            f"from {source_arn})"
        )
    event = proxy_event(call, route, caller)
    try:
        result = lambdas.invoke(
            function, event, call.request_id, call.endpoint_url, INTEGRATION_TIMEOUT_SECONDS
        )
    except lambdas.LambdaUnsupported as error:
        raise GatewayError(
            502, f"local data plane: {error}", "InternalServerErrorException"
        ) from error
    except TimeoutError as error:
        if float(function.timeout or 3) > INTEGRATION_TIMEOUT_SECONDS:
            raise GatewayError(
                504, "Endpoint request timed out", "InternalServerErrorException"
            ) from error
        raise _internal(f"{function.function_arn}: {error}") from error
    if result.error:
        raise _internal(f"{function.function_arn} failed: {result.payload}")
    return _proxy_reply(result.payload, function.function_arn)


def _proxy_reply(answer: Any, arn: str) -> Reply:
    malformed = _internal(f"Malformed Lambda proxy response from {arn}: {answer!r:.300}")
    if not isinstance(answer, dict) or not set(answer) <= _PROXY_KEYS or "statusCode" not in answer:
        raise malformed
    body, headers, multi = (
        answer.get("body"),
        answer.get("headers"),
        answer.get("multiValueHeaders"),
    )
    if (
        not isinstance(body, str | None)
        or not isinstance(headers, dict | None)
        or not isinstance(multi, dict | None)
    ):
        raise malformed
    try:
        reply = Reply(int(answer["statusCode"]))
        data = (
            base64.b64decode(body or "") if answer.get("isBase64Encoded") else (body or "").encode()
        )
    except (TypeError, ValueError) as error:
        raise malformed from error
    reply.body = data
    for name, values in (multi or {}).items():
        for value in values if isinstance(values, list) else [values]:
            reply.headers.add(name, str(value))
    for name, value in (headers or {}).items():
        reply.headers[name] = str(value)
    reply.headers.setdefault("Content-Type", "application/json")
    return reply
