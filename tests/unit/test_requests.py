"""Pure request builders: CreateModel / CreateEndpointConfig bodies, their names, tags, owners."""

from __future__ import annotations

from typing import Any

import pytest

from sagemeter.api.models import ManagedEndpointSpec
from sagemeter.core.endpoint.naming import is_valid_name
from sagemeter.core.endpoint.ownership import Owner
from sagemeter.core.endpoint.requests import (
    ModelContainer,
    Target,
    build_endpoint_config_request,
    build_model_request,
    container_from_spec,
    own_target,
)
from sagemeter.core.endpoint.tags import tag_list

ROLE = "arn:aws:iam::123456789012:role/sm"
OTHER_ROLE = "arn:aws:iam::123456789012:role/other"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1"
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/falcon-v1"
OWNER = Owner(namespace="team-a", name="falcon", uid="11111111-2222")
TAGS = {**OWNER.tags(), "team": "a"}

CONTAINER_MODEL = {
    "container": {
        "image": IMAGE,
        "modelDataUrl": "s3://models/falcon/model.tar.gz",
        "environment": {"SM_NUM_GPUS": "1", "HF_MODEL_ID": "tiiuae/falcon-7b"},
    }
}


def spec(**fields: Any) -> ManagedEndpointSpec:
    body: dict[str, Any] = {"model": CONTAINER_MODEL, "instanceType": "ml.g5.2xlarge"}
    body.update(fields)
    return ManagedEndpointSpec.model_validate({k: v for k, v in body.items() if v is not None})


def target(s: ManagedEndpointSpec, role: str = ROLE, tags: dict[str, str] = TAGS) -> Target:
    container = container_from_spec(s)
    assert container is not None
    return own_target("team-a-falcon", s, container, role, tags, OWNER.uid)


# -- models ---------------------------------------------------------------------------------


def test_container_model_request() -> None:
    container = container_from_spec(spec())
    assert container is not None
    request = build_model_request("falcon-m-1", container, ROLE, {"b": "2", "a": "1"})
    assert request == {
        "ModelName": "falcon-m-1",
        "PrimaryContainer": {
            "Image": IMAGE,
            "ModelDataUrl": "s3://models/falcon/model.tar.gz",
            "Environment": {"HF_MODEL_ID": "tiiuae/falcon-7b", "SM_NUM_GPUS": "1"},
        },
        "ExecutionRoleArn": ROLE,
        "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}],
    }
    assert "EnableNetworkIsolation" not in request


def test_container_without_data_or_environment_sends_only_the_image() -> None:
    container = container_from_spec(spec(model={"container": {"image": IMAGE}}))
    assert container is not None
    request = build_model_request("m", container, ROLE, {})
    assert request["PrimaryContainer"] == {"Image": IMAGE}
    assert request["Tags"] == []


def test_model_package_runs_with_network_isolation() -> None:
    container = container_from_spec(spec(model={"modelPackageArn": PACKAGE}))
    assert container == ModelContainer(model_package_name=PACKAGE, enable_network_isolation=True)
    request = build_model_request("pkg-m-1", container, ROLE, {})
    assert request["PrimaryContainer"] == {"ModelPackageName": PACKAGE}
    assert request["EnableNetworkIsolation"] is True
    assert request["ExecutionRoleArn"] == ROLE


@pytest.mark.parametrize(
    "model",
    [
        {"jumpStart": {"modelId": "huggingface-llm-falcon-7b-instruct-bf16"}},
        {"endpointConfigName": "an-existing-config"},
    ],
)
def test_sources_that_need_a_lookup_or_none_have_no_direct_container(
    model: dict[str, Any],
) -> None:
    assert container_from_spec(spec(model=model)) is None


def test_adopted_spec_has_no_container() -> None:
    adopted = ManagedEndpointSpec.model_validate({"adopt": True, "endpointName": "notebook"})
    assert container_from_spec(adopted) is None


# -- endpoint configs -----------------------------------------------------------------------


def test_realtime_config_request() -> None:
    request = build_endpoint_config_request("c-1", spec(instanceCount=2), "m-1", {"k": "v"})
    assert request == {
        "EndpointConfigName": "c-1",
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": "m-1",
                "InstanceType": "ml.g5.2xlarge",
                "InitialInstanceCount": 2,
                "InitialVariantWeight": 1.0,
            }
        ],
        "Tags": [{"Key": "k", "Value": "v"}],
    }


def test_async_config_request() -> None:
    s = spec(
        inferenceType="Async",
        **{
            "async": {
                "outputS3Uri": "s3://bucket/out",
                "failureS3Uri": "s3://bucket/err",
                "maxConcurrentInvocationsPerInstance": 4,
            }
        },
    )
    request = build_endpoint_config_request("c", s, "m", {})
    assert request["ProductionVariants"][0]["InstanceType"] == "ml.g5.2xlarge"
    assert request["AsyncInferenceConfig"] == {
        "OutputConfig": {"S3OutputPath": "s3://bucket/out", "S3FailurePath": "s3://bucket/err"},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
    }


def test_async_config_with_only_an_output_path() -> None:
    s = spec(inferenceType="Async", **{"async": {"outputS3Uri": "s3://bucket/out"}})
    request = build_endpoint_config_request("c", s, "m", {})
    assert request["AsyncInferenceConfig"] == {"OutputConfig": {"S3OutputPath": "s3://bucket/out"}}


def test_realtime_config_has_no_async_or_serverless_parts() -> None:
    request = build_endpoint_config_request("c", spec(), "m", {})
    assert "AsyncInferenceConfig" not in request
    assert "ServerlessConfig" not in request["ProductionVariants"][0]


@pytest.mark.parametrize(
    ("serverless", "expected"),
    [
        (
            {"memorySizeMB": 4096, "maxConcurrency": 20},
            {"MemorySizeInMB": 4096, "MaxConcurrency": 20},
        ),
        (None, {"MemorySizeInMB": 2048, "MaxConcurrency": 5}),
    ],
)
def test_serverless_config_request(
    serverless: dict[str, int] | None, expected: dict[str, int]
) -> None:
    s = spec(inferenceType="Serverless", instanceType=None, serverless=serverless)
    request = build_endpoint_config_request("c", s, "m", {})
    (variant,) = request["ProductionVariants"]
    assert variant == {"VariantName": "AllTraffic", "ModelName": "m", "ServerlessConfig": expected}
    assert "AsyncInferenceConfig" not in request


# -- targets and their names ----------------------------------------------------------------


def test_two_owners_of_one_endpoint_name_never_share_a_model_or_config() -> None:
    s = spec()
    container = container_from_spec(s)
    assert container is not None
    mine = own_target("shared", s, container, ROLE, TAGS, "uid-a")
    theirs = own_target("shared", s, container, ROLE, TAGS, "uid-b")
    assert mine.model_name != theirs.model_name
    assert mine.config_name != theirs.config_name
    assert own_target("shared", s, container, ROLE, TAGS, "uid-a") == mine  # deterministic


def test_own_target_ties_names_and_requests_together() -> None:
    t = target(spec())
    assert t.endpoint_name == "team-a-falcon"
    assert t.owns_config
    assert t.model_name is not None
    assert is_valid_name(t.model_name)
    assert is_valid_name(t.config_name)
    assert t.model_name.startswith("team-a-falcon-m-")
    assert t.config_name.startswith("team-a-falcon-c-")
    assert t.model_request is not None and t.config_request is not None
    assert t.model_request["ModelName"] == t.model_name
    assert t.config_request["EndpointConfigName"] == t.config_name
    assert t.config_request["ProductionVariants"][0]["ModelName"] == t.model_name
    assert t.model_request["Tags"] == tag_list(TAGS)
    assert t.config_request["Tags"] == tag_list(TAGS)


def test_target_without_a_config_request_does_not_own_it() -> None:
    assert not Target(endpoint_name="e", config_name="an-existing-config").owns_config


def test_same_spec_gives_the_same_names() -> None:
    first, second = target(spec()), target(spec())
    assert (first.model_name, first.config_name) == (second.model_name, second.config_name)


def test_environment_order_does_not_change_names() -> None:
    env = {"A": "1", "B": "2", "C": "3"}
    forward = spec(model={"container": {"image": IMAGE, "environment": env}})
    backward = spec(
        model={"container": {"image": IMAGE, "environment": dict(reversed(env.items()))}}
    )
    assert target(forward) == target(backward)


@pytest.mark.parametrize(
    "change",
    [
        {"instanceType": "ml.g5.4xlarge"},
        {"instanceCount": 2},
        {"inferenceType": "Async", "async": {"outputS3Uri": "s3://bucket/out"}},
    ],
    ids=["instance-type", "instance-count", "inference-type"],
)
def test_capacity_changes_change_the_config_but_not_the_model(change: dict[str, Any]) -> None:
    before, after = target(spec()), target(spec(**change))
    assert after.model_name == before.model_name
    assert after.config_name != before.config_name


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"memorySizeMB": 2048}, {"memorySizeMB": 3072}),
        ({"maxConcurrency": 5}, {"maxConcurrency": 6}),
    ],
)
def test_serverless_capacity_changes_change_the_config(
    first: dict[str, int], second: dict[str, int]
) -> None:
    def serverless(capacity: dict[str, int]) -> Target:
        return target(spec(inferenceType="Serverless", instanceType=None, serverless=capacity))

    assert serverless(first).config_name != serverless(second).config_name


@pytest.mark.parametrize(
    "change",
    [
        {"async": {"outputS3Uri": "s3://bucket/other"}},
        {"async": {"outputS3Uri": "s3://bucket/out", "failureS3Uri": "s3://bucket/err"}},
        {"async": {"outputS3Uri": "s3://bucket/out", "maxConcurrentInvocationsPerInstance": 2}},
    ],
)
def test_async_changes_change_the_config(change: dict[str, Any]) -> None:
    base = target(spec(inferenceType="Async", **{"async": {"outputS3Uri": "s3://bucket/out"}}))
    assert target(spec(inferenceType="Async", **change)).config_name != base.config_name


@pytest.mark.parametrize(
    "model",
    [
        {"container": {**CONTAINER_MODEL["container"], "image": IMAGE + "-patched"}},
        {"container": {**CONTAINER_MODEL["container"], "modelDataUrl": "s3://models/v2.tgz"}},
        {"container": {**CONTAINER_MODEL["container"], "environment": {"SM_NUM_GPUS": "4"}}},
        {"modelPackageArn": PACKAGE},
    ],
    ids=["image", "model-data", "environment", "model-package"],
)
def test_model_changes_change_both_names(model: dict[str, Any]) -> None:
    before, after = target(spec()), target(spec(model=model))
    assert after.model_name != before.model_name
    # The config names its model, so a new model is a new config too.
    assert after.config_name != before.config_name


def test_role_change_changes_both_names() -> None:
    before, after = target(spec(), role=ROLE), target(spec(), role=OTHER_ROLE)
    assert after.model_name != before.model_name
    assert after.config_name != before.config_name
    assert after.model_request is not None
    assert after.model_request["ExecutionRoleArn"] == OTHER_ROLE


@pytest.mark.parametrize(
    "change",
    [
        {"tags": {"team": "b", "cost-center": "42"}},
        {"expiry": {"ttl": "2h", "warnBefore": "5m"}},
        {"expiry": {"expiresAt": "2026-11-22T18:00:00Z"}},
        {"suspend": True},
        {"idle": {"after": "15m"}},
        {"schedule": {"uptime": ["Mon-Fri 09:00-17:00 Europe/Berlin"]}},
        {"api": {"path": "falcon"}},
    ],
    ids=["tags", "ttl", "expires-at", "suspend", "idle", "schedule", "api"],
)
def test_non_capacity_changes_keep_the_names(change: dict[str, Any]) -> None:
    before, after = target(spec()), target(spec(**change))
    assert (after.model_name, after.config_name) == (before.model_name, before.config_name)


def test_tag_values_do_not_change_the_names_but_are_sent() -> None:
    before = target(spec(), tags=TAGS)
    after = target(spec(), tags={**TAGS, "team": "b", "extra": "1"})
    assert (after.model_name, after.config_name) == (before.model_name, before.config_name)
    assert after.model_request is not None and after.config_request is not None
    assert {"Key": "team", "Value": "b"} in after.model_request["Tags"]
    assert {"Key": "extra", "Value": "1"} in after.config_request["Tags"]
