"""One call through the local data plane: the request as API Gateway sees it, the route it
matched, the reply, and the errors API Gateway answers with before or instead of an integration.

Owns only these shapes; who fills them in is ``routing`` (the route), ``auth`` (the caller) and
``integrations`` (the reply).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from werkzeug.datastructures import Headers

__all__ = ["Call", "Caller", "GatewayError", "Reply", "Route", "configuration_error"]


@dataclass(frozen=True)
class Call:
    """The client's request: ``path`` is what follows ``_user_request_`` (``/team-a/falcon``),
    decoded; ``url`` the whole URL exactly as the client sent it (SigV4 signs it)."""

    method: str
    path: str
    query: str
    headers: Headers
    body: bytes
    url: str
    source_ip: str
    request_id: str
    time_epoch_ms: int
    api_id: str
    stage: str
    endpoint_url: str  # the local AWS as this client reached it, for Lambda functions

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def query_params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)


@dataclass(frozen=True)
class Route:
    """A deployed method that matched a call, as the stage's deployment captured it."""

    account: str
    region: str
    api_id: str
    stage: str
    resource_id: str
    resource_path: str  # the resource's template path, ``/items/{id}``
    method: Any  # moto.apigateway.models.Method (a deployment's copy)
    path_params: dict[str, str]
    authorizers: dict[str, Any]  # moto Authorizer objects of the same deployment
    api_key_source: str = "HEADER"

    def execute_api_arn(self, resource: str) -> str:
        """``arn:aws:execute-api:<region>:<account>:<api>/<resource>``, what policies name."""
        return (
            f"arn:{_partition(self.region)}:execute-api:{self.region}:{self.account}:"
            f"{self.api_id}/{resource}"
        )

    def method_arn(self, call: Call) -> str:
        """The ARN of this method as called: ``...:<api>/<stage>/<METHOD>/<path>``."""
        return self.execute_api_arn(f"{self.stage}/{call.method}{call.path}")


@dataclass
class Caller:
    """Who the authorization step found: ``identity`` is ``requestContext.identity`` of a
    Lambda proxy event, ``authorizer`` the custom authorizer's ``principalId`` and context."""

    identity: dict[str, Any] = field(default_factory=dict)
    authorizer: dict[str, Any] | None = None


@dataclass
class Reply:
    status: int
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @classmethod
    def json(cls, status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
        reply = cls(status, Headers(headers or {}), json.dumps(document).encode())
        reply.headers.setdefault("Content-Type", "application/json")
        return reply


class GatewayError(Exception):
    """An answer API Gateway gives itself (a gateway response), such as ``403
    {"message":"Forbidden"}``. ``detail`` is what the sandbox records about why, when the
    body (like AWS's) does not say."""

    def __init__(
        self,
        status: int,
        message: str | None,
        error_type: str,
        *,
        key: str = "message",
        detail: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or message or error_type)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.key = key
        self.detail = detail or message or error_type
        self.headers = headers or {}

    def reply(self) -> Reply:
        return Reply.json(
            self.status,
            {self.key: self.message},
            {"x-amzn-ErrorType": self.error_type, **self.headers},
        )


def configuration_error(
    detail: str,
    message: str | None = "Internal server error",
    error_type: str = "InternalServerErrorException",
) -> GatewayError:
    """What API Gateway answers when the API itself is wrong (a missing Lambda permission, no
    matching integration response): ``500 {"message": "Internal server error"}`` by default.
    The reason goes to the request log and the ``x-sagemeter-dataplane-error`` header."""
    header = {"x-sagemeter-dataplane-error": " ".join(detail.split())[:500]}
    return GatewayError(500, message, error_type, detail=detail, headers=header)


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
