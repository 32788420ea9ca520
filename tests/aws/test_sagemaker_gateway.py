"""SageMakerGateway against the local AWS (moto server, with the sandbox's lifecycle when
available): every method, the idempotent creates, paging, tags, prefixes, error kinds and the
call counter."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.config import Config

from sagemeter.aws import clients
from sagemeter.aws.calls import CALLS, CallCounter
from sagemeter.aws.clients import CLIENT_OPTIONS
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.aws.sagemaker import SageMakerGateway
from sagemeter.runtime import metrics
from tests.contract import expect_violation

from .conftest import REGION, SEEN, LocalAws, reset_clients, slow_transitions

ROLE = "arn:aws:iam::123456789012:role/sagemeter-sm"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1.1"

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("aws_env")]


def model_request(name: str) -> dict[str, Any]:
    return {
        "ModelName": name,
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": IMAGE, "Environment": {"SM_NUM_GPUS": "1"}},
    }


def config_request(name: str, model: str) -> dict[str, Any]:
    return {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                # In plain moto's list of instance types (localaws accepts any ml.*).
                "InstanceType": "ml.g4dn.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
    }


def wait_for(check: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@pytest.fixture
def gateway() -> SageMakerGateway:
    return SageMakerGateway(REGION)


@pytest.fixture
def config(gateway: SageMakerGateway) -> str:
    """An endpoint config (and its model) to build endpoints from."""
    gateway.create_model(model_request("m-base"))
    gateway.create_endpoint_config(config_request("c-base", "m-base"))
    return "c-base"


def in_service(gateway: SageMakerGateway, name: str) -> Callable[[], bool]:
    def check() -> bool:
        found = gateway.describe_endpoint(name)
        return found is not None and found.status == "InService"

    return check


# ------------------------------------------------------------------ creates and describes


def test_create_model_twice_returns_the_same_arn(gateway: SageMakerGateway) -> None:
    arn = gateway.create_model(model_request("m-1"))
    assert arn.endswith(":model/m-1")
    assert gateway.create_model(model_request("m-1")) == arn
    described = gateway.describe_model("m-1")
    assert described is not None and described["ModelArn"] == arn
    assert "ResponseMetadata" not in described


def test_create_endpoint_config_twice_returns_the_same_arn(gateway: SageMakerGateway) -> None:
    gateway.create_model(model_request("m-1"))
    arn = gateway.create_endpoint_config(config_request("c-1", "m-1"))
    assert gateway.create_endpoint_config(config_request("c-1", "m-1")) == arn
    described = gateway.describe_endpoint_config("c-1")
    assert described is not None and described["EndpointConfigArn"] == arn
    assert described["ProductionVariants"][0]["ModelName"] == "m-1"


def test_create_endpoint_never_claims_an_existing_endpoint(
    gateway: SageMakerGateway, config: str
) -> None:
    arn = gateway.create_endpoint("ep-1", config, {"team": "a"})
    with pytest.raises(AwsError) as raised:
        gateway.create_endpoint("ep-1", config, {"team": "b"})
    assert raised.value.kind is ErrorKind.ALREADY_EXISTS
    assert gateway.list_tags(arn) == {"team": "a"}
    described = gateway.describe_endpoint("ep-1")
    assert described is not None
    assert (described.name, described.arn, described.config_name) == ("ep-1", arn, config)
    assert described.status in ("Creating", "InService")
    assert described.failure_reason is None
    created, modified = described.creation_time, described.last_modified_time
    assert created is not None and modified is not None and created <= modified
    assert gateway.list_tags(arn) == {"team": "a"}
    wait_for(in_service(gateway, "ep-1"))
    described = gateway.describe_endpoint("ep-1")
    assert described is not None
    assert described.production_variants[0]["VariantName"] == "AllTraffic"


def test_describing_what_does_not_exist_returns_none(gateway: SageMakerGateway) -> None:
    assert gateway.describe_endpoint("nope") is None
    assert gateway.describe_endpoint_config("nope") is None
    assert gateway.describe_model("nope") is None


def test_failed_endpoint_reports_its_reason(gateway: SageMakerGateway, aws_env: LocalAws) -> None:
    gateway.create_model({**model_request("m-bad"), "PrimaryContainer": {"Image": "x/y:fail"}})
    gateway.create_endpoint_config(config_request("c-bad", "m-bad"))
    gateway.create_endpoint("ep-bad", "c-bad", {})

    def failed() -> bool:
        found = gateway.describe_endpoint("ep-bad")
        return found is not None and found.status == "Failed"

    wait_for(failed)
    described = gateway.describe_endpoint("ep-bad")
    assert described is not None and "ping health check" in (described.failure_reason or "")


# ------------------------------------------------------------------ update and delete


def test_update_endpoint_moves_it_to_the_new_config(
    gateway: SageMakerGateway, config: str, aws_env: LocalAws
) -> None:
    with slow_transitions(SEEN):
        gateway.create_endpoint("ep-1", config, {})
    with pytest.raises(AwsError) as busy:  # still Creating
        gateway.update_endpoint("ep-1", config)
    assert busy.value.kind is ErrorKind.RETRYABLE
    wait_for(in_service(gateway, "ep-1"))
    gateway.create_model(model_request("m-2"))
    gateway.create_endpoint_config(config_request("c-2", "m-2"))
    with slow_transitions(SEEN):
        gateway.update_endpoint("ep-1", "c-2")
    described = gateway.describe_endpoint("ep-1")
    assert described is not None and described.status == "Updating"
    wait_for(in_service(gateway, "ep-1"))
    described = gateway.describe_endpoint("ep-1")
    assert described is not None and described.config_name == "c-2"


def test_update_of_a_missing_endpoint_is_not_found(
    gateway: SageMakerGateway, config: str, aws_env: LocalAws
) -> None:
    with pytest.raises(AwsError) as missing:
        gateway.update_endpoint("nope", config)
    assert (missing.value.kind, missing.value.code) == (ErrorKind.NOT_FOUND, "ValidationException")
    assert missing.value.operation == "UpdateEndpoint"


def test_delete_returns_false_once_gone(gateway: SageMakerGateway, config: str) -> None:
    gateway.create_endpoint("ep-1", config, {})
    wait_for(in_service(gateway, "ep-1"))
    assert gateway.delete_endpoint("ep-1") is True
    wait_for(lambda: gateway.describe_endpoint("ep-1") is None)
    assert gateway.delete_endpoint("ep-1") is False
    assert gateway.delete_endpoint_config(config) is True
    assert gateway.delete_endpoint_config(config) is False
    assert gateway.delete_model("m-base") is True
    assert gateway.delete_model("m-base") is False


# ------------------------------------------------------------------ listings


def test_sweep_follows_pages(gateway: SageMakerGateway, config: str) -> None:
    names = {f"ep-{i:03d}" for i in range(120)}
    for name in sorted(names):
        gateway.create_endpoint(name, config, {})
    CALLS.reset()
    started = time.monotonic()
    swept = gateway.sweep_endpoints()
    assert time.monotonic() - started < 10
    assert set(swept) == names
    assert CALLS.snapshot() == {"sagemaker:ListEndpoints": 2}  # 100 + 20
    summary = swept["ep-007"]
    assert summary.arn.endswith(":endpoint/ep-007")
    assert summary.status in ("Creating", "InService")


def test_sweep_page_size_is_a_parameter(config: str) -> None:
    gateway = SageMakerGateway(REGION, page_size=2)
    for i in range(5):
        gateway.create_endpoint(f"ep-{i}", config, {})
    CALLS.reset()
    assert len(gateway.sweep_endpoints()) == 5
    assert CALLS.snapshot() == {"sagemaker:ListEndpoints": 3}


def test_sweep_of_an_empty_region(gateway: SageMakerGateway) -> None:
    assert gateway.sweep_endpoints() == {}


def test_name_listings_keep_only_the_prefix(gateway: SageMakerGateway) -> None:
    # "x-mep-a-3" contains the prefix (NameContains matches it) but does not start with it.
    for name in ("mep-a-1", "mep-a-2", "x-mep-a-3", "mep-b-1"):
        gateway.create_model(model_request(name))
        gateway.create_endpoint_config(config_request(name, name))
    models = gateway.list_models("mep-a-")
    assert list(models) == ["mep-a-1", "mep-a-2"]
    assert models["mep-a-1"].endswith(":model/mep-a-1")
    configs = gateway.list_endpoint_configs("mep-a-")
    assert list(configs) == ["mep-a-1", "mep-a-2"]
    assert configs["mep-a-2"].endswith(":endpoint-config/mep-a-2")
    assert gateway.list_models("none-") == {}
    assert len(gateway.list_models("")) == 4


# ------------------------------------------------------------------ tags


def test_tags_add_overwrite_delete(gateway: SageMakerGateway, config: str) -> None:
    arn = gateway.create_endpoint("ep-1", config, {"sagemeter.io/managed-by": "sagemeter"})
    gateway.add_tags(arn, {"team": "a", "cost-center": "42"})
    gateway.add_tags(arn, {"team": "b"})
    gateway.delete_tags(arn, ["cost-center"])
    assert gateway.list_tags(arn) == {"sagemeter.io/managed-by": "sagemeter", "team": "b"}


def test_empty_tag_changes_make_no_call(gateway: SageMakerGateway, config: str) -> None:
    arn = gateway.create_endpoint("ep-1", config, {})
    CALLS.reset()
    gateway.add_tags(arn, {})
    gateway.delete_tags(arn, [])
    assert CALLS.total() == 0
    assert gateway.list_tags(arn) == {}


# ------------------------------------------------------------------ errors and counting


def test_real_moto_errors_are_classified(gateway: SageMakerGateway) -> None:
    with (
        pytest.raises(AwsError) as bad_instance,
        expect_violation("sagemaker:CreateEndpointConfig", "ProductionVariants"),
    ):
        gateway.create_model(model_request("m-1"))
        gateway.create_endpoint_config(
            {
                **config_request("c-1", "m-1"),
                "ProductionVariants": [
                    {
                        "VariantName": "v",
                        "ModelName": "m-1",
                        "InstanceType": "gpu-large",
                        "InitialInstanceCount": 1,
                    }
                ],
            }
        )
    assert bad_instance.value.kind is ErrorKind.TERMINAL
    with pytest.raises(AwsError) as no_config:
        gateway.create_endpoint("ep-1", "nope", {})
    assert no_config.value.kind is ErrorKind.NOT_FOUND
    with pytest.raises(AwsError) as no_resource:
        gateway.list_tags("arn:aws:sagemaker:us-east-1:123456789012:endpoint/nope")
    assert no_resource.value.kind in (ErrorKind.NOT_FOUND, ErrorKind.RETRYABLE)  # moto: 500


def test_call_counter_counts_exactly_the_calls_made(
    gateway: SageMakerGateway, aws_env: LocalAws
) -> None:
    assert CALLS.total() == 0
    gateway.describe_model("nope")
    gateway.create_model(model_request("m-1"))
    gateway.create_model(model_request("m-1"))  # exists: CreateModel fails, DescribeModel
    assert CALLS.snapshot() == {"sagemaker:DescribeModel": 2, "sagemaker:CreateModel": 2}
    assert CALLS.total() == 4
    assert CALLS.attempts_snapshot() == CALLS.snapshot()  # nothing was retried
    assert CALLS.errors_snapshot() == {
        "sagemaker:DescribeModel:ValidationException": 1,
        "sagemaker:CreateModel:ValidationException": 1,
    }
    CALLS.reset()
    assert (CALLS.snapshot(), CALLS.errors_snapshot(), CALLS.total()) == ({}, {}, 0)


def describe_unreachable(counter: CallCounter, retries: int, attach: int = 1) -> AwsError:
    """DescribeEndpoint against a port nobody listens on, counted by ``counter``."""
    with socket_bound_but_closed() as url:
        unreachable = boto3.client(
            "sagemaker",
            region_name=REGION,
            endpoint_url=url,
            config=Config(retries={"mode": "standard", "max_attempts": retries}, connect_timeout=1),
        )
        for _ in range(attach):
            counter.attach(unreachable)
        with pytest.raises(AwsError) as down:
            SageMakerGateway(REGION, client=unreachable).describe_endpoint("ep-1")
    return down.value


def test_unreachable_aws_is_retryable_and_retries_are_attempts() -> None:
    counter = CallCounter()
    error = describe_unreachable(counter, retries=2, attach=2)  # attached twice: counted once
    assert error.kind is ErrorKind.RETRYABLE
    assert error.code == "EndpointConnectionError"
    assert counter.snapshot() == {"sagemaker:DescribeEndpoint": 1}
    # Config's max_attempts counts retries, not attempts: 1 + 2.
    assert counter.attempts_snapshot() == {"sagemaker:DescribeEndpoint": 3}
    assert counter.errors_snapshot() == {"sagemaker:DescribeEndpoint:EndpointConnectionError": 1}


def test_retries_show_in_the_attempts_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = CallCounter()
    monkeypatch.setattr(metrics, "CALLS", counter)
    describe_unreachable(counter, retries=1)
    scraped = {
        (family.name, sample.labels["operation"]): sample.value
        for family in metrics.AwsCallCollector().collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert scraped[("sagemeter_aws_calls", "DescribeEndpoint")] == 1
    assert scraped[("sagemeter_aws_attempts", "DescribeEndpoint")] == 2


@contextmanager
def socket_bound_but_closed() -> Iterator[str]:
    """A URL whose port nobody listens on (bound, never listening: connections are refused)."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}"


# ------------------------------------------------------------------ clients


def test_clients_are_shared_per_service_and_region(aws_env: LocalAws) -> None:
    made: list[Any] = []
    threads = [
        threading.Thread(target=lambda: made.append(clients.client("sagemaker", REGION)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(c) for c in made}) == 1
    shared = made[0]
    assert clients.client("sagemaker", "eu-west-1") is not shared
    assert shared.meta.endpoint_url == aws_env.url  # AWS_ENDPOINT_URL, honoured by boto3
    assert shared.meta.config.retries == CLIENT_OPTIONS["retries"]
    reset_clients()
    assert clients.client("sagemaker", REGION) is not shared
