"""Pure builders of a ManagedEndpoint's API Gateway route, and its ownership record.

Owns what a route *is*: the ``RouteSpec`` taken from ``spec.api``, the parameters of
PutMethod / PutIntegration / PutMethodResponse / PutIntegrationResponse for each mode (direct
SageMaker integration, async, Lambda proxy; AWS_IAM, API_KEY, CUSTOM, NONE), the invoke URL,
the Lambda permission's ids, and the route record that says who owns a route. ``RouteManager``
(``sagemeter.routes``) sends them; these functions are unit-tested without AWS.

The route record lives in the POST method's ``operationName``:
``sagemeter:<uid>:<fingerprint>:<namespace>/<name>``. API Gateway resources cannot be tagged,
and the alternatives are worse: REST API tags cap at 50 per API (so at most ~45 routes), need
read-modify-write across routes, and can disagree with the routes they describe after a crash
or a console edit; a stage's tags share the cap. The operation name is created and deleted in
the same call as the method it describes, so record and route cannot drift apart; it is
visible in the console and in ``get-method``; it has no count limit; and the fingerprint (a
hash of every other method, integration and response parameter) lets a restarted operator see
that a route is already exactly as wanted from one paged ``GetResources`` per region.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from sagemeter.api.models import ApiRoute, Authorization
from sagemeter.core.endpoint.naming import short_hash
from sagemeter.core.endpoint.ownership import MANAGED_BY, OPERATOR, Owner
from sagemeter.core.wake import RouteHold

__all__ = [
    "API_KEY_SECRET_KEY",
    "ASYNC_REQUEST_HEADERS",
    "REALTIME_REQUEST_HEADERS",
    "ROUTE_METHOD",
    "RouteError",
    "RouteRecord",
    "RouteSpec",
    "api_key_name",
    "authorizer_mismatch",
    "check_route_allowed",
    "encode_route_record",
    "invoke_url",
    "lambda_arn_from_uri",
    "lambda_integration_uri",
    "lambda_source_arn",
    "lambda_statement_id",
    "parse_route_record",
    "partition",
    "resource_path",
    "rest_api_tags",
    "route_conflict",
    "sagemaker_integration_uri",
    "split_path",
    "usage_plan_name",
]

ROUTE_METHOD: Final = "POST"
# The data key of the Secret the operator keeps an API_KEY route's key in (docs use it).
API_KEY_SECRET_KEY: Final = "apiKey"
REST_API_NAME: Final = "sagemeter"
REST_API_DESCRIPTION: Final = "Routes to SageMaker endpoints managed by sagemeter (ManagedEndpoint)"

# Error reasons, as the operator reports them in a Degraded condition.
ROUTE_CONFLICT: Final = "RouteConflict"
UNAUTHENTICATED_REFUSED: Final = "UnauthenticatedRouteRefused"
AUTHORIZER_NOT_FOUND: Final = "AuthorizerNotFound"
AUTHORIZER_MISMATCH: Final = "AuthorizerMismatch"
LAMBDA_NOT_FOUND: Final = "LambdaNotFound"
INVOKE_ROLE_MISSING: Final = "InvokeRoleNotConfigured"
REST_API_NOT_FOUND: Final = "RestApiNotFound"

# The authorizer types (API Gateway's ``Authorizer.type``) each authorization needs.
AUTHORIZER_TYPES: Final[dict[Authorization, tuple[str, ...]]] = {
    Authorization.CUSTOM: ("TOKEN", "REQUEST"),
    Authorization.COGNITO_USER_POOLS: ("COGNITO_USER_POOLS",),
}

# The request headers InvokeEndpoint reads (besides the body); API Gateway forwards only the
# headers an AWS integration maps explicitly.
REALTIME_REQUEST_HEADERS: Final = ("Content-Type", "Accept", "X-Amzn-SageMaker-Custom-Attributes")
# InvokeEndpointAsync's parameters are headers; its input is in S3 (InputLocation) or, up to
# 128,000 bytes, the body, which the integration passes through (botocore's sagemaker-runtime
# model, InvokeEndpointAsyncInput).
ASYNC_REQUEST_HEADERS: Final = (
    "X-Amzn-SageMaker-Content-Type",
    "X-Amzn-SageMaker-Accept",
    "X-Amzn-SageMaker-Custom-Attributes",
    "X-Amzn-SageMaker-InputLocation",
    "X-Amzn-SageMaker-Inference-Id",
    "X-Amzn-SageMaker-RequestTTLSeconds",
    "X-Amzn-SageMaker-InvocationTimeoutSeconds",
)
REALTIME_RESPONSE_HEADERS: Final = (
    "Content-Type",
    "X-Amzn-Invoked-Production-Variant",
    "X-Amzn-SageMaker-Custom-Attributes",
)
# Where the async result and error will appear: the whole point of the async response.
ASYNC_RESPONSE_HEADERS: Final = (
    "Content-Type",
    "X-Amzn-SageMaker-OutputLocation",
    "X-Amzn-SageMaker-FailureLocation",
)
# For AWS integrations API Gateway matches selectionPattern against the backend's HTTP status;
# without these every SageMaker error (a parked endpoint's 400 "not found", a model's 424)
# would reach the caller as 200.
ERROR_RESPONSES: Final = (("400", r"4\d{2}"), ("500", r"5\d{2}"))

_RECORD_PREFIX: Final = "sagemeter"
# API Gateway documents no limit for operationName; stay short, it doubles as an OpenAPI
# operationId. The uid and fingerprint always fit: only the readable name is cut.
OPERATION_NAME_MAX: Final = 128
FINGERPRINT_LENGTH: Final = 12
_RECORD = re.compile(
    rf"^{_RECORD_PREFIX}:(?P<uid>[A-Za-z0-9-]{{1,64}}):(?P<fp>[0-9a-f]{{{FINGERPRINT_LENGTH}}})"
    r"(:(?P<namespace>[^/]*)/(?P<name>.*))?$"
)
_STATEMENT_ID_MAX: Final = 100
_LAMBDA_URI = re.compile(
    r"^arn:[a-z-]+:apigateway:[a-z0-9-]+:lambda:path/[^/]+/functions/(.+)/invocations$"
)


class RouteError(Exception):
    """A route the operator will not or cannot make; ``reason`` is the Degraded reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class RouteSpec:
    """What one ManagedEndpoint asks of API Gateway (from ``spec.api``)."""

    path: str
    endpoint_name: str
    owner: Owner
    authorization: Authorization = Authorization.AWS_IAM
    authorizer_id: str | None = None
    # COGNITO_USER_POOLS only: callers send an access token with one of these (else an ID token).
    authorization_scopes: tuple[str, ...] = ()
    lambda_arn: str | None = None
    async_: bool = False
    # While the endpoint does not serve: what the route answers instead (core.wake).
    hold: RouteHold | None = None
    # Where a waking route sends its wake request: (account id, queue name).
    queue: tuple[str, str] | None = None
    # spec.api.selfService: <path>/_meter answers from this SSM parameter (core.self_service).
    meter: str | None = None

    @classmethod
    def from_api(
        cls,
        api: ApiRoute,
        endpoint_name: str,
        owner: Owner,
        async_: bool = False,
        hold: RouteHold | None = None,
        queue: tuple[str, str] | None = None,
        meter: str | None = None,
    ) -> RouteSpec:
        return cls(
            path=api.path.strip("/"),
            endpoint_name=endpoint_name,
            owner=owner,
            # The models keep enum values as plain strings (use_enum_values).
            authorization=Authorization(api.authorization),
            authorizer_id=api.authorizer_id,
            authorization_scopes=tuple(sorted(api.authorization_scopes or ())),
            lambda_arn=api.lambda_arn,
            async_=async_,
            hold=hold,
            queue=queue,
            meter=meter,
        )


@dataclass(frozen=True)
class RouteRecord:
    """Who owns a route, and which configuration they last wrote to it."""

    uid: str
    fingerprint: str
    namespace: str = ""
    name: str = ""

    def describe(self) -> str:
        return f"ManagedEndpoint {self.namespace or '?'}/{self.name or '?'} (uid {self.uid})"


# --------------------------------------------------------------------------- paths and ARNs


def split_path(path: str) -> tuple[str, ...]:
    """``"team-a/falcon"`` -> ``("team-a", "falcon")``: one API Gateway resource per part."""
    return tuple(part for part in path.strip("/").split("/") if part)


def resource_path(path: str) -> str:
    """The path API Gateway reports for a route's resource: ``"/team-a/falcon"``."""
    return "/" + "/".join(split_path(path))


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _dns_suffix(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def invoke_url(api_id: str, region: str, stage: str, path: str) -> str:
    """``https://<api>.execute-api.<region>.amazonaws.com/<stage>/<path>``."""
    return (
        f"https://{api_id}.execute-api.{region}.{_dns_suffix(region)}/{stage}{resource_path(path)}"
    )


def sagemaker_integration_uri(region: str, endpoint_name: str, async_: bool = False) -> str:
    """API Gateway's AWS-service URI of InvokeEndpoint (or InvokeEndpointAsync)."""
    action = "async-invocations" if async_ else "invocations"
    return (
        f"arn:{partition(region)}:apigateway:{region}:runtime.sagemaker:"
        f"path//endpoints/{endpoint_name}/{action}"
    )


def lambda_integration_uri(region: str, lambda_arn: str) -> str:
    return (
        f"arn:{partition(region)}:apigateway:{region}:lambda:path/2015-03-31/functions/"
        f"{lambda_arn}/invocations"
    )


def lambda_arn_from_uri(uri: str) -> str | None:
    """The function of a Lambda proxy integration URI, None for any other URI."""
    match = _LAMBDA_URI.match(uri or "")
    return match.group(1) if match else None


def lambda_source_arn(region: str, account: str, api_id: str, path: str) -> str:
    """The execute-api ARN a Lambda permission is scoped to: POST on this route, any stage."""
    return (
        f"arn:{partition(region)}:execute-api:{region}:{account}:{api_id}/*/{ROUTE_METHOD}"
        f"{resource_path(path)}"
    )


def lambda_statement_id(api_id: str, path: str) -> str:
    """Deterministic (so AddPermission is idempotent) and within Lambda's ``[A-Za-z0-9-_]``."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(split_path(path)))
    sid = f"sagemeter-{api_id}-{short_hash(resource_path(path))}-{readable}"
    return sid[:_STATEMENT_ID_MAX].rstrip("-")


def rest_api_tags() -> dict[str, str]:
    """Tags of the REST API the operator creates; how it finds the API again."""
    return {MANAGED_BY: OPERATOR}


def api_key_name(owner: Owner) -> str:
    return f"sagemeter/{owner.namespace}/{owner.name}"


def usage_plan_name(owner: Owner) -> str:
    return f"sagemeter/{owner.namespace}/{owner.name}"


# --------------------------------------------------------------------------- route record


def encode_route_record(owner: Owner, fingerprint: str) -> str:
    """The ``operationName`` that records ``owner`` and the configuration it wrote."""
    head = f"{_RECORD_PREFIX}:{owner.uid}:{fingerprint}:"
    return (head + f"{owner.namespace}/{owner.name}")[:OPERATION_NAME_MAX]


def parse_route_record(operation_name: str | None) -> RouteRecord | None:
    """The record in an ``operationName``; None when it was not written by sagemeter."""
    match = _RECORD.match(operation_name or "")
    if match is None:
        return None
    return RouteRecord(
        uid=match["uid"],
        fingerprint=match["fp"],
        namespace=match["namespace"] or "",
        name=match["name"] or "",
    )


# --------------------------------------------------------------------------- policy


def route_conflict(method_exists: bool, holder: RouteRecord | None, uid: str) -> str | None:
    """Who else holds a path, in words, or None when the object with `uid` may write it.

    A path is free when no route method is there; it is the object's own when the method's route
    record names its uid. Anything else (another object's record, or a method sagemeter did not
    make) is a conflict: a path is never taken over.
    """
    if not method_exists:
        return None
    if holder is None:
        return "a method not managed by sagemeter"
    if holder.uid != uid:
        return holder.describe()
    return None


def tenant_invoke_role_missing(policy: str, account: str | None) -> str:
    """InvokeRoleNotConfigured for an object placed by an EndpointPolicy's `aws.roleArn`: its
    routes live in that account, and the invoke role comes from the policy, never from the
    operator's setting (a role of the operator's account could not serve them)."""
    where = f" in account {account}" if account else ""
    return (
        f"a direct SageMaker route{where} needs the role API Gateway assumes there to call"
        f" SageMaker: set aws.apiInvokeRoleArn in EndpointPolicy {policy} (a role in that"
        " account trusting apigateway.amazonaws.com), or use spec.api.lambdaArn"
    )


def authorizer_mismatch(authorization: Authorization, authorizer: dict[str, Any]) -> str | None:
    """Why an existing authorizer cannot serve a route of ``authorization``, or None.

    API Gateway's authorizer ``type`` is TOKEN or REQUEST for a Lambda (CUSTOM) authorizer and
    COGNITO_USER_POOLS for a user pool one (botocore's apigateway model, AuthorizerType); a
    method names the matching ``authorizationType``.
    """
    kind = str(authorizer.get("type") or "")
    wanted = AUTHORIZER_TYPES.get(authorization, ())
    if kind in wanted:
        return None
    return (
        f"authorizer {authorizer.get('id')} is a {kind or 'typeless'} authorizer; spec.api"
        f".authorization {authorization} needs a {' or '.join(wanted)} authorizer: set"
        " spec.api.authorizerId to one of those, or spec.api.authorization to what this one"
        " serves"
    )


def check_route_allowed(
    route: RouteSpec, allow_unauthenticated: bool, invoke_role_arn: str | None
) -> None:
    """Raises ``RouteError`` for a route the operator's configuration does not allow."""
    if route.authorization == Authorization.NONE and not allow_unauthenticated:
        raise RouteError(
            UNAUTHENTICATED_REFUSED,
            f"spec.api.authorization NONE would let anyone on the internet call /{route.path}:"
            " set spec.api.authorization to AWS_IAM, API_KEY, CUSTOM or COGNITO_USER_POOLS (the"
            " operator takes"
            " NONE only with SAGEMETER_ALLOW_UNAUTHENTICATED_ROUTES=true)",
        )
    if route.authorization in AUTHORIZER_TYPES and not route.authorizer_id:
        raise RouteError(
            AUTHORIZER_NOT_FOUND,
            f"spec.api.authorization {route.authorization} needs spec.api.authorizerId",
        )
    if route.lambda_arn is None and not invoke_role_arn:
        raise RouteError(
            INVOKE_ROLE_MISSING,
            "a direct SageMaker route needs the role API Gateway assumes to call SageMaker:"
            " set the operator's SAGEMETER_API_INVOKE_ROLE_ARN (Helm: api.invokeRoleArn), or"
            " use spec.api.lambdaArn",
        )
