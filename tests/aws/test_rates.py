"""API Gateway's fixed rate quotas in the local AWS (``sagemeter_sandbox.rates``).

CreateDeployment: 1 request every 5 seconds per account and region
(https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
"""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sagemeter_sandbox.control import FaultClient

from .conftest import REGION, LocalAws

pytestmark = [pytest.mark.localaws, pytest.mark.timeout(60), pytest.mark.usefixtures("aws_env")]


def _apigateway(local_aws: LocalAws, region: str = REGION) -> Any:
    return boto3.client(
        "apigateway",
        endpoint_url=local_aws.url,
        region_name=region,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _api_with_a_method(apigateway: Any) -> str:
    api = apigateway.create_rest_api(name="quota")["id"]
    root = apigateway.get_resources(restApiId=api)["items"][0]["id"]
    apigateway.put_method(
        restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE"
    )
    apigateway.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    return str(api)


def test_create_deployment_is_refused_within_five_seconds_per_account_and_region(
    local_aws: LocalAws, control: FaultClient
) -> None:
    apigateway = _apigateway(local_aws)
    first, second = _api_with_a_method(apigateway), _api_with_a_method(apigateway)
    apigateway.create_deployment(restApiId=first, stageName="prod")
    started = time.monotonic()
    # Another REST API of the same account and region shares the quota.
    with pytest.raises(ClientError) as refused:
        apigateway.create_deployment(restApiId=second, stageName="prod")
    error = refused.value.response
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert 1 <= int(error["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) <= 5
    # Another region has its own.
    other = _apigateway(local_aws, "eu-west-1")
    other.create_deployment(restApiId=_api_with_a_method(other), stageName="prod")

    while time.monotonic() - started < 5.0:
        time.sleep(0.2)
    apigateway.create_deployment(restApiId=second, stageName="prod")
    served = [
        e["status"] for e in control.requests("apigateway:CreateDeployment", account="123456789012")
    ]
    assert served == [201, 429, 201, 201]
