"""classify() and AwsError on constructed botocore errors (no I/O)."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from sagemeter.aws.errors import AwsError, ErrorKind, checked_call, classify


def client_error(code: str, message: str = "", status: int = 400, op: str = "Op") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        op,
    )


@pytest.mark.parametrize(
    ("code", "message", "status", "kind"),
    [
        # SageMaker says "missing" with ValidationException and a text.
        (
            "ValidationException",
            'Could not find endpoint "arn:aws:sagemaker:...".',
            400,
            ErrorKind.NOT_FOUND,
        ),
        ("ValidationException", "Could not find model 'arn:...'.", 400, ErrorKind.NOT_FOUND),
        ("ValidationException", "ModelPackageGroup x does not exist.", 400, ErrorKind.NOT_FOUND),
        ("ValidationException", "Model package x not found", 400, ErrorKind.NOT_FOUND),
        (
            "ValidationException",
            'Cannot create already existing endpoint "arn:..."',
            400,
            ErrorKind.ALREADY_EXISTS,
        ),
        (
            "ValidationException",
            'Cannot update in-progress endpoint "arn:..."',
            400,
            ErrorKind.RETRYABLE,
        ),
        (
            "ValidationException",
            "1 validation error detected: Value 'x' at 'instanceType'",
            400,
            ErrorKind.TERMINAL,
        ),
        ("ResourceNotFound", "Hub content with name x does not exist.", 400, ErrorKind.NOT_FOUND),
        ("ResourceNotFoundException", "", 400, ErrorKind.NOT_FOUND),
        ("NotFoundException", "Invalid Resource identifier specified", 404, ErrorKind.NOT_FOUND),
        ("ResourceInUse", "Resource already exists", 400, ErrorKind.ALREADY_EXISTS),
        ("ResourceInUse", "Cannot delete: in use by a running job", 400, ErrorKind.RETRYABLE),
        (
            "ConflictException",
            "Another resource with the same parent already has this name",
            409,
            ErrorKind.ALREADY_EXISTS,
        ),
        (
            "ConflictException",
            "Unable to complete operation due to concurrent modification",
            409,
            ErrorKind.RETRYABLE,
        ),
        ("ThrottlingException", "Rate exceeded", 400, ErrorKind.THROTTLED),
        ("Throttling", "Rate exceeded", 400, ErrorKind.THROTTLED),
        ("TooManyRequestsException", "Too Many Requests", 429, ErrorKind.THROTTLED),
        ("RequestLimitExceeded", "", 503, ErrorKind.THROTTLED),
        ("ServiceUnavailable", "", 503, ErrorKind.RETRYABLE),
        ("InternalFailure", "", 500, ErrorKind.RETRYABLE),
        ("InternalServerError", "", 500, ErrorKind.RETRYABLE),
        ("500", "<html>Internal Server Error</html>", 500, ErrorKind.RETRYABLE),
        ("AccessDeniedException", "not authorized", 400, ErrorKind.TERMINAL),
        ("AccessDenied", "not authorized", 403, ErrorKind.TERMINAL),
        ("ResourceLimitExceeded", "account-level service limit", 400, ErrorKind.TERMINAL),
        ("IncompleteSignature", "", 400, ErrorKind.TERMINAL),
        ("UnrecognizedClientException", "", 400, ErrorKind.TERMINAL),
    ],
)
def test_client_errors(code: str, message: str, status: int, kind: ErrorKind) -> None:
    assert classify(client_error(code, message, status)) is kind


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (EndpointConnectionError(endpoint_url="http://x"), ErrorKind.RETRYABLE),
        (ReadTimeoutError(endpoint_url="http://x"), ErrorKind.RETRYABLE),
        (ConnectTimeoutError(endpoint_url="http://x"), ErrorKind.RETRYABLE),
        (NoCredentialsError(), ErrorKind.TERMINAL),
        (ParamValidationError(report="Missing required parameter"), ErrorKind.TERMINAL),
        (KeyError("x"), ErrorKind.TERMINAL),
    ],
)
def test_other_exceptions(exc: BaseException, kind: ErrorKind) -> None:
    assert classify(exc) is kind


def test_aws_error_carries_the_parts() -> None:
    error = AwsError.from_exception(
        client_error("ValidationException", "Could not find endpoint x", op="DescribeEndpoint")
    )
    assert (error.kind, error.code, error.message, error.operation) == (
        ErrorKind.NOT_FOUND,
        "ValidationException",
        "Could not find endpoint x",
        "DescribeEndpoint",
    )
    assert str(error) == "DescribeEndpoint: ValidationException: Could not find endpoint x"
    assert classify(error) is ErrorKind.NOT_FOUND
    assert AwsError.from_exception(error) is error


def test_checked_call_translates_botocore_errors_only() -> None:
    class FakeClient:
        def describe_endpoint(self, **params: str) -> dict[str, str]:
            if params["EndpointName"] == "boom":
                raise client_error("ThrottlingException", "slow down", op="DescribeEndpoint")
            if params["EndpointName"] == "bug":
                raise KeyError("not an AWS failure")
            return {"EndpointName": params["EndpointName"]}

    fake = FakeClient()
    assert checked_call(fake, "DescribeEndpoint", EndpointName="ep") == {"EndpointName": "ep"}
    with pytest.raises(AwsError) as throttled:
        checked_call(fake, "DescribeEndpoint", EndpointName="boom")
    assert throttled.value.kind is ErrorKind.THROTTLED
    assert isinstance(throttled.value.__cause__, ClientError)
    with pytest.raises(KeyError):  # programming errors stay what they are
        checked_call(fake, "DescribeEndpoint", EndpointName="bug")


@pytest.mark.parametrize(
    ("kind", "code", "status", "trouble"),
    [
        (ErrorKind.THROTTLED, "ThrottlingException", 400, True),
        (ErrorKind.RETRYABLE, "ServiceUnavailable", 503, True),
        (ErrorKind.RETRYABLE, "InternalFailure", 500, True),
        (ErrorKind.RETRYABLE, "EndpointConnectionError", 0, True),
        # One endpoint busy in a transition, or credentials to renew: not the account's trouble.
        (ErrorKind.RETRYABLE, "ValidationException", 400, False),
        (ErrorKind.RETRYABLE, "ExpiredTokenException", 400, False),
        (ErrorKind.NOT_FOUND, "ResourceNotFound", 404, False),
        (ErrorKind.TERMINAL, "AccessDeniedException", 400, False),
    ],
)
def test_only_service_trouble_opens_the_accounts_backoff(
    kind: ErrorKind, code: str, status: int, trouble: bool
) -> None:
    assert AwsError(kind, code, "m", "Op", status).service_trouble is trouble
