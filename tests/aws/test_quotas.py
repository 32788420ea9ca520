"""SageMaker's per-account instance quotas in the local AWS (``sagemeter_sandbox.quotas``):
CreateEndpoint and UpdateEndpoint are refused with ``ResourceLimitExceeded`` in SageMaker's
words when the instances asked for do not fit beside what the account's endpoints hold, an
update being blue/green; quotas per account and region, AWS's new-account values by default."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sagemeter_sandbox.control import FaultClient
from sagemeter_sandbox.quotas import AWS_DEFAULTS, Quotas

from .conftest import DELAY, REGION, SEEN, LocalAws, client, slow_transitions

pytestmark = pytest.mark.timeout(120)

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/model:1"
FAILING = "123456789012.dkr.ecr.us-east-1.amazonaws.com/model:fail"
ROLE = "arn:aws:iam::123456789012:role/sm"
P4D = "ml.p4d.24xlarge"


@pytest.fixture
def faults(aws_env: LocalAws) -> Iterator[FaultClient]:
    control = FaultClient(aws_env.url)
    yield control
    control.clear_quotas(region=REGION)


def sagemaker() -> Any:
    return client("sagemaker", REGION)


def config(name: str, *variants: tuple[str, int], image: str = IMAGE) -> str:
    sm = sagemaker()
    sm.create_model(ModelName=name, PrimaryContainer={"Image": image}, ExecutionRoleArn=ROLE)
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": f"v{index}",
                "ModelName": name,
                "InstanceType": instance_type,
                "InitialInstanceCount": count,
            }
            for index, (instance_type, count) in enumerate(variants)
        ],
    )
    return name


def settled(name: str, status: str) -> None:
    deadline = time.monotonic() + 10 * DELAY + 5
    while sagemaker().describe_endpoint(EndpointName=name)["EndpointStatus"] != status:
        assert time.monotonic() < deadline, f"{name} never {status}"
        time.sleep(DELAY / 3)


def refused(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert error["Code"] == "ResourceLimitExceeded", error
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Message"])


def usage(faults: FaultClient) -> dict[str, int]:
    found: dict[str, int] = faults.quotas(region=REGION)["usage"]
    return found


def test_a_new_account_refuses_a_gpu_endpoint_in_sagemakers_words(faults: FaultClient) -> None:
    faults.set_quotas("aws-defaults", region=REGION)
    sm = sagemaker()
    gpu = config("gpu", ("ml.g5.2xlarge", 1))
    message = refused(lambda: sm.create_endpoint(EndpointName="gpu", EndpointConfigName=gpu))
    assert message == (
        "The account-level service limit 'ml.g5.2xlarge for endpoint usage' is 0 Instances,"
        " with current utilization of 0 Instances and a request delta of 1 Instances. Please"
        " contact AWS support to request an increase for this limit."
    )
    with pytest.raises(ClientError):  # nothing was created
        sm.describe_endpoint(EndpointName="gpu")
    # What a new account may run: two ml.t2.medium.
    small = config("small", ("ml.t2.medium", 2))
    sm.create_endpoint(EndpointName="small", EndpointConfigName=small)
    assert usage(faults) == {"ml.t2.medium": 2}


def test_endpoints_of_the_account_add_up(faults: FaultClient) -> None:
    faults.set_quotas({P4D: 3}, region=REGION)
    sm = sagemaker()
    sm.create_endpoint(EndpointName="a", EndpointConfigName=config("a", (P4D, 2)))
    message = refused(
        lambda: sm.create_endpoint(EndpointName="b", EndpointConfigName=config("b", (P4D, 2)))
    )
    assert "is 3 Instances, with current utilization of 2 Instances and a request delta of 2" in (
        message
    )
    sm.create_endpoint(EndpointName="c", EndpointConfigName=config("c", (P4D, 1)))
    assert usage(faults)[P4D] == 3
    # Deleting frees the instances (permissive: no source says when SageMaker does).
    settled("a", "InService")
    sm.delete_endpoint(EndpointName="a")
    assert usage(faults)[P4D] == 1
    sm.create_endpoint(EndpointName="b", EndpointConfigName="b")


def test_an_update_is_blue_green(faults: FaultClient) -> None:
    faults.set_quotas({P4D: 3}, region=REGION)
    sm = sagemaker()
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=config("one", (P4D, 1)))
    settled("ep", "InService")
    two = config("two", (P4D, 2))
    three = config("three", (P4D, 3))
    message = refused(lambda: sm.update_endpoint(EndpointName="ep", EndpointConfigName=three))
    assert "current utilization of 1 Instances and a request delta of 3 Instances" in message
    assert sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService"

    with slow_transitions(SEEN):
        sm.update_endpoint(EndpointName="ep", EndpointConfigName=two)
    assert usage(faults)[P4D] == 3  # both fleets while Updating
    settled("ep", "InService")
    assert usage(faults)[P4D] == 2  # the blue fleet is gone


def test_what_holds_nothing(faults: FaultClient) -> None:
    faults.set_quotas({P4D: 1, "ml.m5.large": 0}, region=REGION)
    sm = sagemaker()
    sm.create_endpoint(
        EndpointName="broken", EndpointConfigName=config("broken", (P4D, 1), image=FAILING)
    )
    settled("broken", "Failed")
    assert usage(faults).get(P4D, 0) == 0
    sm.create_endpoint(EndpointName="next", EndpointConfigName=config("next", (P4D, 1)))
    sm.create_model(ModelName="sls", PrimaryContainer={"Image": IMAGE}, ExecutionRoleArn=ROLE)
    sm.create_endpoint_config(
        EndpointConfigName="sls",
        ProductionVariants=[
            {
                "VariantName": "v0",
                "ModelName": "sls",
                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 1},
            }
        ],
    )
    sm.create_endpoint(EndpointName="sls", EndpointConfigName="sls")  # no instances


def test_quotas_are_per_account_and_region(faults: FaultClient) -> None:
    faults.set_quotas({P4D: 0}, region="eu-west-1")
    sagemaker().create_endpoint(EndpointName="here", EndpointConfigName=config("here", (P4D, 1)))
    eu = client("sagemaker", "eu-west-1")
    eu.create_model(ModelName="m", PrimaryContainer={"Image": IMAGE}, ExecutionRoleArn=ROLE)
    eu.create_endpoint_config(
        EndpointConfigName="c",
        ProductionVariants=[
            {"VariantName": "v", "ModelName": "m", "InstanceType": P4D, "InitialInstanceCount": 1}
        ],
    )
    refused(lambda: eu.create_endpoint(EndpointName="there", EndpointConfigName="c"))
    faults.clear_quotas(region="eu-west-1")
    eu.create_endpoint(EndpointName="there", EndpointConfigName="c")


def test_the_table_and_its_syntax() -> None:
    defaults = Quotas(AWS_DEFAULTS)
    assert [defaults.limit(t) for t in ("ml.g5.2xlarge", "ml.p4d.24xlarge", "ml.m5.large")] == [
        0,
        0,
        0,
    ]
    assert defaults.limit("ml.t2.medium") == 2
    table = Quotas.parse("aws-defaults, ml.g5.*=4, ml.g5.48xlarge=0")
    assert (table.limit("ml.g5.2xlarge"), table.limit("ml.g5.48xlarge")) == (4, 0)
    assert Quotas.parse("").limit("ml.g5.2xlarge") is None  # no entry: no quota
    for bad in ("ml.g5.2xlarge", "=3", "ml.g5.2xlarge=-1", "x=many"):
        with pytest.raises(ValueError):
            Quotas.parse(bad)
