"""AWS's wire protocols as the local AWS sees them: which call a request makes, how errors look.

Owns ``identify`` (an HTTP request's service, operation and protocol) and ``error_response``
(an AWS error in that protocol, shaped so botocore parses its code and message as from AWS). It
does not decide anything: fault injection (``faults``) uses both.

* **Service**: the SigV4 credential scope (``Authorization`` header or presigned
  ``X-Amz-Credential``); ``monitoring`` is also known as ``cloudwatch``. Unsigned: ``""``.
* **Operation**: ``X-Amz-Target`` for JSON protocols (SageMaker, CloudWatch, SQS, EventBridge,
  Logs), the ``Action`` parameter for query protocols (STS, IAM), and for REST protocols (API
  Gateway, Lambda, the SageMaker runtime, S3) the method and path matched against botocore's
  HTTP bindings of the service, most specific first; ``""`` when nothing matches. CBOR
  (``smithy-rpc-v2-cbor``) is not recognised: botocore 1.44 talks JSON to this server.
* **Errors**: JSON ``{"__type", "message"}``; REST-JSON ``{"message"}`` plus
  ``x-amzn-ErrorType``; query ``<ErrorResponse><Error><Type/><Code/><Message/>``; REST-XML
  ``<Error><Code/><Message/>``; all with an ``x-amzn-RequestId``.
"""

from __future__ import annotations

import functools
import io
import json
import re
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl
from xml.sax.saxutils import escape

import botocore.session
from werkzeug.wsgi import get_input_stream

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = [
    "COMMON_ERRORS",
    "AwsCall",
    "Response",
    "error_response",
    "identify",
    "read_body",
    "throttling",
]

ALIASES = {"monitoring": "cloudwatch"}  # credential scope -> the name botocore users know
REST_MODELS = {"sagemaker": "sagemaker-runtime", "monitoring": "cloudwatch"}
SCOPE = re.compile(r"/\d{8}/[^/]+/([^/]+)/aws4_request")
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/CommonErrors.html
COMMON_ERRORS = {
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
    "InternalFailure": "The request processing has failed because of an unknown error, "
    "exception or failure.",
}
Response = tuple[str, list[tuple[str, str]], bytes]  # WSGI status line, headers, body

# Each service's own throttling error, (HTTP status, code). Services whose botocore model
# carries a throttling exception answer that one (``_MODELED_THROTTLING``, read from the model:
# API Gateway and Lambda ``TooManyRequestsException`` 429, SQS ``RequestThrottled``, EventBridge,
# CloudWatch Logs and SSM ``ThrottlingException``, SNS ``Throttled`` 429, Cognito
# ``TooManyRequestsException``); the others are written out here with their source.
_THROTTLING: dict[str, tuple[int, str]] = {
    # SageMaker API reference, Common Errors: "ThrottlingException ... HTTP Status Code: 400"
    # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/CommonErrors.html); the
    # runtime's model has no throttling shape of its own and shares the page.
    "sagemaker": (400, "ThrottlingException"),
    # CloudWatch answers the query protocol's "Throttling" (HTTP 400, "Rate exceeded"):
    # AWS Knowledge Center, "cloudwatch-400-error-throttling", which quotes the response.
    "monitoring": (400, "Throttling"),
    # STS and IAM (query protocol) answer "Throttling", "Rate exceeded", HTTP 400, as quoted
    # from AWS in aws/aws-sdk-go-v2#2481 (STS GetCallerIdentity) and jlevers/selling-partner-api
    # #278 (STS AssumeRole, the XML body).
    "sts": (400, "Throttling"),
    "iam": (400, "Throttling"),
    # S3: "SlowDown", HTTP 503 (S3 API reference, Error responses).
    "s3": (503, "SlowDown"),
}
_MODELED_THROTTLING = (
    "TooManyRequestsException",
    "ThrottlingException",
    "RequestThrottled",
    "ThrottledException",
)


@dataclass(frozen=True)
class AwsCall:
    """The AWS call an HTTP request makes."""

    service: str  # the credential scope, e.g. "sagemaker", "monitoring"
    operation: str  # e.g. "CreateModel"; "" when unknown
    protocol: str  # json | query | rest-json | rest-xml
    text: str  # path, query string and body

    @property
    def services(self) -> set[str]:
        """Every name the service goes by."""
        return {self.service, ALIASES.get(self.service, self.service)}

    @property
    def key(self) -> str:
        return f"{ALIASES.get(self.service, self.service)}:{self.operation}"


def read_body(environ: WSGIEnvironment) -> bytes:
    """The request body, put back so that the application reads it too."""
    body = get_input_stream(environ).read()
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
    return body


@functools.cache
def _routes(service: str) -> tuple[tuple[str, re.Pattern[str], frozenset[str], str], ...]:
    """botocore's HTTP bindings of a REST service, most specific first."""
    try:
        model = botocore.session.get_session().get_service_model(service)
    except Exception:  # UnknownServiceError and friends: no routes
        return ()
    if not model.protocol.startswith("rest"):
        return ()
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri, _, query = http.get("requestUri", "/").partition("?")
        parts = re.split(r"(\{[^}]+\})", uri)
        regex = "".join(
            (".+" if p.endswith("+}") else "[^/]+") if p.startswith("{") else re.escape(p)
            for p in parts
        )
        keys = frozenset(k.split("=")[0] for k in query.split("&") if k)
        weight = sum(len(p) for p in parts if not p.startswith("{")) + 100 * len(keys)
        routes.append((weight, http["method"], re.compile(f"^{regex}/?$"), keys, name))
    routes.sort(key=lambda route: -route[0])
    return tuple((verb, pattern, keys, name) for _, verb, pattern, keys, name in routes)


def identify(environ: WSGIEnvironment) -> AwsCall:
    """The call a request makes (reads its body and puts it back)."""
    query = environ.get("QUERY_STRING", "")
    found = SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")) or SCOPE.search(
        " ".join(parse_qs(query).get("X-Amz-Credential", []))
    )
    service = found.group(1) if found else ""
    body = read_body(environ)
    method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
    text = f"{path}?{query}\n{body.decode('utf-8', 'replace')}"
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return AwsCall(service, target.rsplit(".", 1)[-1], "json", text)
    params = dict(parse_qsl(query))
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl(body.decode("utf-8", "replace")))
    if "Action" in params:
        return AwsCall(service, params["Action"], "query", text)
    protocol = "rest-xml" if service == "s3" else "rest-json"
    query_keys = {key for key, _ in parse_qsl(query, keep_blank_values=True)}
    for verb, pattern, keys, name in _routes(REST_MODELS.get(service, service)):
        if verb == method and pattern.match(path) and keys <= query_keys:
            return AwsCall(service, name, protocol, text)
    return AwsCall(service, "", protocol, text)


@functools.cache
def throttling(service: str) -> tuple[int, str]:
    """The (HTTP status, error code) ``service`` (a credential scope) answers when it throttles:
    its model's own throttling exception, else ``_THROTTLING``'s documented one, else the common
    ``ThrottlingException`` (400) most services list among their Common Errors."""
    if service in _THROTTLING:
        return _THROTTLING[service]
    try:
        model = botocore.session.get_session().get_service_model(ALIASES.get(service, service))
    except Exception:  # an unknown service: the common error
        return 400, "ThrottlingException"
    for name in _MODELED_THROTTLING:
        if name in model.shape_names:
            error = model.shape_for(name).metadata.get("error", {})
            return int(error.get("httpStatusCode", 400)), str(error.get("code", name))
    return 400, "ThrottlingException"


def error_response(protocol: str, status: int, code: str, message: str) -> Response:
    """An AWS error in ``protocol``, as a WSGI status line, headers and body."""
    request_id = str(uuid.uuid4())
    if protocol == "query":
        kind = "Sender" if status < 500 else "Receiver"
        text = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>"
            f"{escape(message)}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
        content_type = "text/xml"
    elif protocol == "rest-xml":
        text = (
            f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
        content_type = "application/xml"
    else:
        document: dict[str, Any] = {"message": message}
        if protocol == "json":
            document["__type"] = code
        text, content_type = json.dumps(document), "application/json"
    headers = [("Content-Type", content_type), ("x-amzn-RequestId", request_id)]
    if protocol == "rest-json":
        headers.append(("x-amzn-ErrorType", code))
    body = text.encode()
    headers.append(("Content-Length", str(len(body))))
    return f"{status} {HTTPStatus(status).phrase}", headers, body
