"""ListModels in the local AWS filters and pages like SageMaker (``motopatches``, gap 1)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from .conftest import REGION, LocalAws

pytestmark = [pytest.mark.localaws, pytest.mark.timeout(60), pytest.mark.usefixtures("aws_env")]


@pytest.fixture
def sagemaker(local_aws: LocalAws) -> Any:
    client = boto3.client(
        "sagemaker",
        endpoint_url=local_aws.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for name in ("team-a-one", "team-b-one", "team-a-two", "team-a-three"):
        client.create_model(
            ModelName=name,
            PrimaryContainer={"Image": "img:1"},
            ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
        )
    return client


def names(page: dict[str, Any]) -> list[str]:
    return [model["ModelName"] for model in page["Models"]]


def test_name_contains_filters_and_newest_come_first(sagemaker: Any) -> None:
    assert names(sagemaker.list_models(NameContains="team-a")) == [
        "team-a-three",
        "team-a-two",
        "team-a-one",
    ]
    assert names(
        sagemaker.list_models(NameContains="team-a", SortBy="Name", SortOrder="Ascending")
    ) == ["team-a-one", "team-a-three", "team-a-two"]
    assert names(sagemaker.list_models(NameContains="nobody")) == []


def test_pages_hold_max_results_and_the_token_continues(sagemaker: Any) -> None:
    first = sagemaker.list_models(MaxResults=3, SortBy="Name", SortOrder="Ascending")
    second = sagemaker.list_models(
        MaxResults=3, SortBy="Name", SortOrder="Ascending", NextToken=first["NextToken"]
    )
    assert names(first) == ["team-a-one", "team-a-three", "team-a-two"]
    assert names(second) == ["team-b-one"] and "NextToken" not in second
    paginated = sagemaker.get_paginator("list_models").paginate(PaginationConfig={"PageSize": 1})
    assert sorted(n for page in paginated for n in names(page)) == sorted(
        names(sagemaker.list_models(MaxResults=100))
    )
    with pytest.raises(ClientError):
        sagemaker.list_models(NextToken="not-a-token")
