"""The local AWS's request log (``sagemeter_sandbox.requestlog``): what reached moto, when."""

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


@pytest.fixture
def sagemaker(local_aws: LocalAws) -> Any:
    return boto3.client(
        "sagemaker",
        endpoint_url=local_aws.url,
        region_name=REGION,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_records_calls_that_reached_aws_with_time_outcome_and_name(
    control: FaultClient, sagemaker: Any
) -> None:
    before = time.time()
    sagemaker.create_model(
        ModelName="logged",
        PrimaryContainer={"Image": "img:1"},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
    )
    with pytest.raises(ClientError):
        sagemaker.describe_endpoint(EndpointName="missing")
    control.throttle("sagemaker", "DeleteModel")
    with pytest.raises(ClientError):  # refused by the fault: moto never saw it
        sagemaker.delete_model(ModelName="logged")

    entries = control.requests()
    assert [(e["call"], e["status"], e["name"]) for e in entries] == [
        ("sagemaker:CreateModel", 200, "logged"),
        ("sagemaker:DescribeEndpoint", 400, ""),  # reads name nothing
    ]
    assert before <= entries[0]["ts"] <= entries[1]["ts"] <= time.time()
    assert all(e["ms"] >= 0 for e in entries)


def test_filters_by_call_time_and_name_and_clears(control: FaultClient, sagemaker: Any) -> None:
    for name in ("alpha-1", "beta-1", "alpha-2"):
        sagemaker.create_model(
            ModelName=name,
            PrimaryContainer={"Image": "img:1"},
            ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
        )
    middle = control.requests(contains="beta")[0]["ts"]
    sagemaker.delete_model(ModelName="alpha-1")

    assert [e["name"] for e in control.requests(contains="alpha")] == [
        "alpha-1",
        "alpha-2",
        "alpha-1",
    ]
    assert [e["name"] for e in control.requests("sagemaker:DeleteModel")] == ["alpha-1"]
    assert [
        e["name"]
        for e in control.requests("sagemaker:CreateModel,sagemaker:DeleteModel", since=middle)
    ] == ["beta-1", "alpha-2", "alpha-1"]
    assert control.clear_requests() == 4
    assert control.requests() == []


def test_records_the_account_whose_credentials_signed_the_call(
    control: FaultClient, local_aws: LocalAws
) -> None:
    base = {"endpoint_url": local_aws.url, "region_name": REGION}
    own = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    credentials = boto3.client("sts", **base, **own).assume_role(
        RoleArn="arn:aws:iam::111111111111:role/sagemeter-team-a", RoleSessionName="test"
    )["Credentials"]
    tenant = boto3.client(
        "sns",
        **base,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    tenant.create_topic(Name="theirs")
    boto3.client("sns", **base, **own).create_topic(Name="ours")
    entries = control.requests("sns:CreateTopic")
    assert [e["account"] for e in entries] == ["111111111111", "123456789012"]
