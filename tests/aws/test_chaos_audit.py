"""The chaos run's AWS audit (``tests/chaos/audit.py``) finds every kind of leftover it
reports, and only the namespace's own: a zero in the chaos table means nothing was there."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from ..chaos.audit import AwsAudit
from .conftest import REGION, LocalAws

pytestmark = [pytest.mark.localaws, pytest.mark.timeout(60), pytest.mark.usefixtures("aws_env")]
ROLE = "arn:aws:iam::123456789012:role/r"


def client(local_aws: LocalAws, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=local_aws.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def leave_everything(local_aws: LocalAws, namespace: str) -> None:
    """One of each kind of resource a ManagedEndpoint of ``namespace`` can leave behind."""
    sm, cw, ag = (client(local_aws, s) for s in ("sagemaker", "cloudwatch", "apigateway"))
    endpoint, tags = f"{namespace}-falcon-abc123", {"sagemeter.io/namespace": namespace}
    sm.create_model(
        ModelName=f"{endpoint}-m-1", PrimaryContainer={"Image": "img:1"}, ExecutionRoleArn=ROLE
    )
    sm.create_endpoint_config(
        EndpointConfigName=f"{endpoint}-c-1",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{endpoint}-m-1",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(
        EndpointName=endpoint,
        EndpointConfigName=f"{endpoint}-c-1",
        Tags=[{"Key": "sagemeter.io/uid", "Value": "u-1"}],
    )
    cw.put_metric_alarm(
        AlarmName=f"sagemeter-{endpoint}-idle",
        MetricName="Invocations",
        Namespace="AWS/SageMaker",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
    )
    api = ag.create_rest_api(name=f"api-{namespace}")["id"]
    root = ag.get_resources(restApiId=api)["items"][0]["id"]
    resource = ag.create_resource(restApiId=api, parentId=root, pathPart=f"{namespace}-r")["id"]
    ag.put_method(
        restApiId=api,
        resourceId=resource,
        httpMethod="POST",
        authorizationType="NONE",
        operationName=f"sagemeter:u-1:fp:{namespace}/falcon",
    )
    ag.create_api_key(name=f"{namespace}-key", enabled=True, tags=tags)
    ag.create_usage_plan(name=f"{namespace}-plan", tags=tags)


def test_audit_finds_each_kind_and_only_its_namespace(local_aws: LocalAws) -> None:
    leave_everything(local_aws, "team-a")
    leave_everything(local_aws, "team-b")

    found = AwsAudit(local_aws.url, "team-a").inventory()

    assert found.leaks() == {
        "endpoints": 1,
        "configs": 1,
        "models": 1,
        "alarms": 1,
        "routes": 1,
        "api_keys": 1,
        "usage_plans": 1,
    }
    assert found.endpoints["team-a-falcon-abc123"]["uid"] == "u-1"
    assert found.routes == ["/team-a-r"]
    assert AwsAudit(local_aws.url, "team-c").inventory().leaks() == dict.fromkeys(found.leaks(), 0)
