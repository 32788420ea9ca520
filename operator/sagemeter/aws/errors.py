"""AWS error classification: what a failed call means for the reconciler.

Owns ``ErrorKind``, ``classify`` and ``AwsError``, the one exception every gateway raises.
The reconciler maps kinds to its own reactions (a condition, a requeue with delay); nothing
above ``aws/`` inspects botocore error codes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from botocore import xform_name
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

__all__ = ["AwsError", "ErrorKind", "checked_call", "classify"]


class ErrorKind(StrEnum):
    NOT_FOUND = "NotFound"
    ALREADY_EXISTS = "AlreadyExists"
    THROTTLED = "Throttled"
    RETRYABLE = "Retryable"
    TERMINAL = "Terminal"


# Each service's own throttling code: SageMaker, EventBridge, Logs, SSM "ThrottlingException";
# CloudWatch, STS, IAM "Throttling"; API Gateway, Lambda, Cognito "TooManyRequestsException";
# SQS "RequestThrottled"; SNS "Throttled" (botocore's models, or the services' Common Errors
# where the model has no shape); S3 "SlowDown".
_THROTTLED_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "Throttled",
        "RequestThrottled",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)
_NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFound",
        "ResourceNotFoundException",
        "NotFoundException",
        "NotFound",
        "NoSuchEntity",
        "ParameterNotFound",  # SSM
    }
)
_ALREADY_EXISTS_CODES = frozenset(
    {
        "ResourceAlreadyExistsException",
        "AlreadyExistsException",
        "EntityAlreadyExists",
        "ParameterAlreadyExists",  # SSM
    }
)
_RETRYABLE_CODES = frozenset(
    {
        # Credentials that ran out: renewed and tried again.
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "InternalServerException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# Conflict codes that mean "exists" only when the message says so; otherwise they report a
# concurrent change (API Gateway) or a resource busy in a transition, which clears by itself.
_CONFLICT_CODES = frozenset({"ResourceInUse", "ConflictException"})
# SageMaker reports missing endpoints, configs and models as ValidationException, not 404.
_NOT_FOUND_TEXT = ("could not find", "does not exist", "not found")
_ALREADY_EXISTS_TEXT = ("cannot create already existing", "already exist")


def _client_error_kind(code: str, message: str, status: int) -> ErrorKind:
    text = message.lower()
    if code in _THROTTLED_CODES or status == 429:
        return ErrorKind.THROTTLED
    if code in _NOT_FOUND_CODES:
        return ErrorKind.NOT_FOUND
    if code in _ALREADY_EXISTS_CODES:
        return ErrorKind.ALREADY_EXISTS
    if code in _CONFLICT_CODES:
        if any(t in text for t in (*_ALREADY_EXISTS_TEXT, "already has")):
            return ErrorKind.ALREADY_EXISTS
        return ErrorKind.RETRYABLE
    if code == "ValidationException":
        if any(t in text for t in _ALREADY_EXISTS_TEXT):
            return ErrorKind.ALREADY_EXISTS
        if any(t in text for t in _NOT_FOUND_TEXT):
            return ErrorKind.NOT_FOUND
        # 'Cannot update in-progress endpoint': SageMaker's word for "busy in a transition";
        # the same call succeeds once the endpoint settles, so requeue rather than give up.
        if "in-progress" in text:
            return ErrorKind.RETRYABLE
        return ErrorKind.TERMINAL
    if code in _RETRYABLE_CODES or status >= 500:
        return ErrorKind.RETRYABLE
    # AccessDenied*, ResourceLimitExceeded, IncompleteSignature, unknown 4xx: a person must act.
    return ErrorKind.TERMINAL


def _client_error_parts(exc: ClientError) -> tuple[str, str, int]:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return str(error.get("Code", "")), str(error.get("Message", "")), int(status or 0)


def classify(exc: BaseException) -> ErrorKind:
    """The kind of any exception a boto3 call (or a gateway) can raise."""
    if isinstance(exc, AwsError):
        return exc.kind
    if isinstance(exc, ClientError):
        return _client_error_kind(*_client_error_parts(exc))
    # Network trouble: the request may never have reached AWS; retrying is always safe for us
    # because every mutating gateway call is idempotent by name.
    if isinstance(
        exc,
        EndpointConnectionError
        | ConnectionClosedError
        | ReadTimeoutError
        | BotoConnectionError
        | HTTPClientError,
    ):
        return ErrorKind.RETRYABLE
    return ErrorKind.TERMINAL


_TRANSPORT_ERRORS = frozenset(
    {
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectionError",
        "HTTPClientError",
        "ConnectTimeoutError",
    }
)


class AwsError(Exception):
    """A failed AWS call, classified. ``operation`` is the API name, e.g. ``CreateEndpoint``."""

    def __init__(
        self, kind: ErrorKind, code: str, message: str, operation: str = "", status: int = 0
    ) -> None:
        super().__init__(f"{operation or 'AWS'}: {code}: {message}")
        self.kind = kind
        self.code = code
        self.message = message
        self.operation = operation
        self.status = status

    @property
    def service_trouble(self) -> bool:
        """AWS throttles, fails (5xx) or cannot be reached: trouble of the account and region,
        not of one resource (an endpoint busy in a transition is retried on its own)."""
        return (
            self.kind is ErrorKind.THROTTLED
            or self.status >= 500
            or self.code
            in _RETRYABLE_CODES - {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}
            or self.code in _TRANSPORT_ERRORS
        )

    @classmethod
    def from_exception(cls, exc: BaseException, operation: str = "") -> AwsError:
        if isinstance(exc, AwsError):
            return exc
        if isinstance(exc, ClientError):
            code, message, status = _client_error_parts(exc)
            return cls(classify(exc), code, message, operation or exc.operation_name, status)
        return cls(classify(exc), type(exc).__name__, str(exc), operation)


def checked_call(client: Any, operation: str, /, **params: Any) -> Any:
    """Calls API ``operation`` (e.g. ``"CreateEndpoint"``) on a boto3 client; botocore
    failures come out as ``AwsError``."""
    method = getattr(client, xform_name(operation))
    try:
        return method(**params)
    except (ClientError, BotoCoreError) as exc:
        raise AwsError.from_exception(exc, operation) from exc
