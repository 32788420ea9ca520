"""The SSM gateway of the meter (``sagemeter.aws.ssm``) and its mirror
(``sagemeter.selfservice.mirror``) against the local AWS."""

from __future__ import annotations

import boto3
import pytest

from sagemeter.aws.backoff import BACKOFFS
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.aws.gateway import account_of
from sagemeter.aws.ssm import ParameterGateway
from sagemeter.selfservice.mirror import MeterMirror
from sagemeter_sandbox.control import FaultClient

from .conftest import REGION, LocalAws

NAME = "/sagemeter/team-a/falcon"
TAGS = {"sagemeter.io/managed-by": "sagemeter", "sagemeter.io/namespace": "team-a"}


def test_the_mirror_writes_once_per_change_tagged_and_standard(aws_env: LocalAws) -> None:
    mirror = MeterMirror()
    assert mirror.keep("u-1", REGION, None, NAME, '{"phase":"InService"}', TAGS)
    assert not mirror.keep("u-1", REGION, None, NAME, '{"phase":"InService"}', TAGS)
    assert mirror.keep("u-1", REGION, None, NAME, '{"phase":"Parked"}', TAGS)
    ssm = boto3.client("ssm", region_name=REGION)
    assert ssm.get_parameter(Name=NAME)["Parameter"]["Value"] == '{"phase":"Parked"}'
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [NAME]}])
    assert described["Parameters"][0]["Tier"] == "Standard"
    listed = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=NAME)["TagList"]
    assert {t["Key"]: t["Value"] for t in listed} == TAGS
    # A restarted operator reads once, and writes only what differs.
    again = MeterMirror()
    assert not again.keep("u-1", REGION, None, NAME, '{"phase":"Parked"}', TAGS)
    assert again.remove("u-1", REGION, None, NAME)
    assert not again.remove("u-1", REGION, None, NAME)  # gone already


def test_a_throttled_parameter_store_leaves_the_accounts_backoff_closed(
    aws_env: LocalAws,
) -> None:
    faults = FaultClient(aws_env.url)
    faults.throttle("ssm", "PutParameter")
    try:
        with pytest.raises(AwsError) as raised:
            ParameterGateway(REGION).create(NAME, "{}", TAGS)
    finally:
        faults.clear()
    assert raised.value.kind is ErrorKind.THROTTLED
    # SageMaker and the rest of the account go on: Parameter Store's quotas are its own.
    assert BACKOFFS.remaining(account_of(None), REGION) == 0
