"""The sandbox's local AWS (``sagemeter_sandbox.localaws``) run as the sandbox runs it: a
subprocess on a free port, driven with boto3. Lifecycle delays are shortened to DELAY seconds.

``SAGEMETER_RECORD_FIXTURES=1`` rewrites ``tests/fixtures/localaws/describe_endpoint/<Status>.json``
from these runs (the local AWS's answers, never SageMaker's); otherwise the fixtures are checked
to still have the server's shape. Either way, every answer is checked against AWS's contract:
botocore's DescribeEndpointOutput (its members, and the ones it requires).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sagemeter_sandbox import quotas
from tests.contract import expect_violation

# Long enough that the calls a test makes while an endpoint is in a transition (a describe, a
# listing, a refused call) all fall inside it on a loaded machine; 0.5 s did not.
DELAY = 2.0
ROLE = "arn:aws:iam::123456789012:role/sagemeter-sm"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "localaws" / "describe_endpoint"
RECORD = os.environ.get("SAGEMETER_RECORD_FIXTURES") == "1"

pytestmark = [pytest.mark.localaws, pytest.mark.timeout(60)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        quotas.ENVIRONMENT: quotas.SANDBOX_QUOTAS,  # as the sandbox starts it
        **os.environ,
        "SAGEMETER_LOCALAWS_CREATE_SECONDS": str(DELAY),
        "SAGEMETER_LOCALAWS_UPDATE_SECONDS": str(DELAY),
        "SAGEMETER_LOCALAWS_DELETE_SECONDS": str(DELAY),
    }
    cmd = [sys.executable, "-m", "sagemeter_sandbox.localaws", "--host", "127.0.0.1"]
    proc = subprocess.Popen([*cmd, "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "localaws exited during start-up"
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("localaws did not answer GET /moto-api/")


def _stop_server(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=10)


def _client(url: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    proc, url = _start_server()
    yield url
    assert _stop_server(proc) == 0, "SIGTERM must end localaws cleanly"


@pytest.fixture(scope="module")
def sm(server: str) -> Any:
    return _client(server, "sagemaker")


def deploy_config(sm: Any, name: str, tag: str = "2.1", **variant: Any) -> str:
    """A model and an endpoint config named after ``name``; returns the config's name."""
    sm.create_model(
        ModelName=f"{name}-model",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": f"{IMAGE}:{tag}", "ModelDataUrl": "s3://b/model.tar.gz"},
    )
    variant = variant or {"InstanceType": "ml.g5.2xlarge", "InitialInstanceCount": 1}
    sm.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": f"{name}-model", **variant}],
    )
    return f"{name}-config"


def describe(sm: Any, name: str) -> dict[str, Any]:
    response = dict(sm.describe_endpoint(EndpointName=name))
    response.pop("ResponseMetadata")
    return response


def wait_for(sm: Any, name: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10 * DELAY + 5
    while time.monotonic() < deadline:
        current = describe(sm, name)
        if current["EndpointStatus"] == status:
            return current
        time.sleep(0.05)
    raise AssertionError(f"{name} never reached {status}; last: {current}")


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def listed_status(sm: Any, name: str) -> str | None:
    found = [
        e for e in sm.list_endpoints(NameContains=name)["Endpoints"] if e["EndpointName"] == name
    ]
    return found[0]["EndpointStatus"] if found else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def within_describe_endpoint_output(response: dict[str, Any]) -> None:
    """AWS's contract for the answer: the members of botocore's DescribeEndpointOutput, with
    every one it requires."""
    shape = (
        botocore.session.get_session()
        .get_service_model("sagemaker")
        .shape_for("DescribeEndpointOutput")
    )
    assert set(response) <= set(shape.members), set(response) - set(shape.members)
    assert set(shape.required_members) <= set(response)


def check_fixture(status: str, response: dict[str, Any]) -> None:
    """Writes (when recording) or checks the local AWS's DescribeEndpoint fixture for
    ``status``; the answer itself must be within AWS's contract."""
    within_describe_endpoint_output(response)
    path = FIXTURES / f"{status}.json"
    if RECORD:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_jsonable(response), indent=2) + "\n")
    written = json.loads(path.read_text())
    assert written["EndpointStatus"] == status
    assert set(written) == set(response), f"{path.name} no longer matches DescribeEndpoint"


def test_create_is_creating_then_in_service(sm: Any) -> None:
    config = deploy_config(sm, "falcon")
    started = time.monotonic()
    arn = sm.create_endpoint(EndpointName="falcon", EndpointConfigName=config)["EndpointArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:123456789012:endpoint/falcon"

    creating = describe(sm, "falcon")
    assert creating["EndpointStatus"] == "Creating"
    assert "ProductionVariants" not in creating
    assert listed_status(sm, "falcon") == "Creating"
    assert [e["EndpointName"] for e in sm.list_endpoints(StatusEquals="Creating")["Endpoints"]] == [
        "falcon"
    ]
    check_fixture("Creating", creating)

    ready = wait_for(sm, "falcon", "InService")
    assert time.monotonic() - started >= DELAY * 0.9
    assert listed_status(sm, "falcon") == "InService"
    assert ready["LastModifiedTime"] > creating["LastModifiedTime"]
    [variant] = ready["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic"
    assert variant["CurrentInstanceCount"] == 1
    assert variant["DeployedImages"][0]["SpecifiedImage"] == f"{IMAGE}:2.1"
    assert "FailureReason" not in ready and "DataCaptureConfig" not in ready
    check_fixture("InService", ready)


def test_update_goes_updating_then_in_service_on_new_config(sm: Any) -> None:
    old = deploy_config(sm, "upd-a")
    new = deploy_config(sm, "upd-b", InstanceType="ml.g6e.xlarge", InitialInstanceCount=2)
    sm.create_endpoint(EndpointName="upd", EndpointConfigName=old)
    before = wait_for(sm, "upd", "InService")

    sm.update_endpoint(EndpointName="upd", EndpointConfigName=new)
    updating = describe(sm, "upd")
    assert updating["EndpointStatus"] == "Updating"
    assert updating["EndpointConfigName"] == old  # still serving the old config meanwhile
    assert listed_status(sm, "upd") == "Updating"
    code, message = error_of(lambda: sm.update_endpoint(EndpointName="upd", EndpointConfigName=old))
    assert (code, message.startswith("Cannot update in-progress endpoint")) == (
        "ValidationException",
        True,
    )
    check_fixture("Updating", updating)  # after: it takes a while, and Updating lasts 2 s

    after = wait_for(sm, "upd", "InService")
    assert after["EndpointConfigName"] == new
    assert after["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    assert after["LastModifiedTime"] > before["LastModifiedTime"]
    assert after["CreationTime"] == before["CreationTime"]


def test_in_progress_endpoint_refuses_update_and_delete(sm: Any) -> None:
    config = deploy_config(sm, "busy")
    sm.create_endpoint(EndpointName="busy", EndpointConfigName=config)
    for call in (
        lambda: sm.update_endpoint(EndpointName="busy", EndpointConfigName=config),
        lambda: sm.delete_endpoint(EndpointName="busy"),
    ):
        code, message = error_of(call)
        assert code == "ValidationException"
        assert message.startswith("Cannot update in-progress endpoint")
    assert describe(sm, "busy")["EndpointStatus"] == "Creating"


def test_update_requires_existing_endpoint_and_config(sm: Any) -> None:
    config = deploy_config(sm, "exists")
    code, message = error_of(
        lambda: sm.update_endpoint(EndpointName="nope", EndpointConfigName=config)
    )
    assert code == "ValidationException" and "Could not find endpoint" in message
    sm.create_endpoint(EndpointName="exists", EndpointConfigName=config)
    wait_for(sm, "exists", "InService")
    code, message = error_of(
        lambda: sm.update_endpoint(EndpointName="exists", EndpointConfigName="nope")
    )
    assert code == "ValidationException" and "Could not find endpoint configuration" in message


def test_delete_shows_deleting_then_gone(sm: Any) -> None:
    config = deploy_config(sm, "gone")
    sm.create_endpoint(EndpointName="gone", EndpointConfigName=config)
    wait_for(sm, "gone", "InService")
    sm.delete_endpoint(EndpointName="gone")
    deleting = describe(sm, "gone")
    assert deleting["EndpointStatus"] == "Deleting"
    assert listed_status(sm, "gone") == "Deleting"
    code, message = error_of(
        lambda: sm.create_endpoint(EndpointName="gone", EndpointConfigName=config)
    )
    assert code == "ValidationException" and "Cannot create already existing endpoint" in message
    check_fixture("Deleting", deleting)  # after: it takes a while, and Deleting lasts 2 s

    deadline = time.monotonic() + 10 * DELAY + 5
    while listed_status(sm, "gone") == "Deleting" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listed_status(sm, "gone") is None
    code, message = error_of(lambda: describe(sm, "gone"))
    assert code == "ValidationException" and message.startswith("Could not find endpoint")
    # The config is kept, so the endpoint comes back with one call.
    sm.create_endpoint(EndpointName="gone", EndpointConfigName=config)
    assert describe(sm, "gone")["EndpointStatus"] == "Creating"


def test_failing_image_fails_the_endpoint_which_can_be_deleted(sm: Any) -> None:
    config = deploy_config(sm, "broken", tag="fail")
    sm.create_endpoint(EndpointName="broken", EndpointConfigName=config)
    assert describe(sm, "broken")["EndpointStatus"] == "Creating"
    failed = wait_for(sm, "broken", "Failed")
    assert failed["FailureReason"].startswith(
        "The primary container for production variant AllTraffic did not pass the ping health check"
    )
    assert listed_status(sm, "broken") == "Failed"
    check_fixture("Failed", failed)
    sm.delete_endpoint(EndpointName="broken")
    assert describe(sm, "broken")["EndpointStatus"] == "Deleting"


def test_failed_update_rolls_back_to_the_old_config(sm: Any) -> None:
    good = deploy_config(sm, "rollback-a")
    bad = deploy_config(sm, "rollback-b", tag="fail")
    sm.create_endpoint(EndpointName="rollback", EndpointConfigName=good)
    wait_for(sm, "rollback", "InService")
    sm.update_endpoint(EndpointName="rollback", EndpointConfigName=bad)
    assert describe(sm, "rollback")["EndpointStatus"] == "Updating"
    time.sleep(DELAY)
    after = wait_for(sm, "rollback", "InService")
    assert after["EndpointConfigName"] == good
    assert after["FailureReason"].startswith("Update failed: The primary container")
    # The next update starts clean.
    sm.update_endpoint(EndpointName="rollback", EndpointConfigName=good)
    assert "FailureReason" not in describe(sm, "rollback")


def test_list_endpoints_pages(sm: Any) -> None:
    config = deploy_config(sm, "page")
    names = {f"page-{i}" for i in range(7)}
    for name in sorted(names):
        sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    pages: list[list[str]] = []
    kwargs: dict[str, Any] = {"NameContains": "page-", "MaxResults": 3}
    while True:
        response = sm.list_endpoints(**kwargs)
        pages.append([e["EndpointName"] for e in response["Endpoints"]])
        if "NextToken" not in response:
            break
        kwargs["NextToken"] = response["NextToken"]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert {name for page in pages for name in page} == names
    # Settled, so that a listing and the describes after it see the same statuses.
    for name in names:
        wait_for(sm, name, "InService")
    paginator = sm.get_paginator("list_endpoints")
    listed = [
        e
        for p in paginator.paginate(NameContains="page-", PaginationConfig={"PageSize": 3})
        for e in p["Endpoints"]
    ]
    assert {e["EndpointName"] for e in listed} == names
    for summary in listed:
        assert summary["EndpointStatus"] == describe(sm, summary["EndpointName"])["EndpointStatus"]


def test_serverless_and_async_configs(sm: Any) -> None:
    serverless = deploy_config(
        sm, "sls", ServerlessConfig={"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    )
    sm.create_model(
        ModelName="async-model", ExecutionRoleArn=ROLE, Containers=[{"Image": f"{IMAGE}:2.1"}]
    )
    sm.create_endpoint_config(
        EndpointConfigName="async-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "async-model",
                "InstanceType": "ml.g6.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
        AsyncInferenceConfig={
            "OutputConfig": {"S3OutputPath": "s3://b/out", "S3FailurePath": "s3://b/err"},
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
        },
    )
    sm.create_endpoint(EndpointName="sls", EndpointConfigName=serverless)
    sm.create_endpoint(EndpointName="async", EndpointConfigName="async-config")
    sls = wait_for(sm, "sls", "InService")
    assert sls["ProductionVariants"][0]["CurrentServerlessConfig"] == {
        "MemorySizeInMB": 2048,
        "MaxConcurrency": 5,
    }
    async_ = wait_for(sm, "async", "InService")
    assert async_["AsyncInferenceConfig"]["OutputConfig"]["S3OutputPath"] == "s3://b/out"
    assert "AsyncInferenceConfig" not in sls


@pytest.mark.parametrize(
    "instance_type",
    [
        "ml.g6e.xlarge",
        "ml.g5.48xlarge",
        "ml.p4d.24xlarge",
        "ml.p5.48xlarge",
        "ml.inf2.xlarge",
        "ml.trn1.2xlarge",
        "ml.c7i.large",
        "ml.m7i.xlarge",
        "ml.r7i.2xlarge",
    ],
)
def test_current_instance_types_are_accepted(sm: Any, instance_type: str) -> None:
    name = "it-" + instance_type.replace(".", "-")
    deploy_config(sm, name, InstanceType=instance_type, InitialInstanceCount=1)


@pytest.mark.parametrize("instance_type", ["g5.xlarge", "ml.g5.huge", "ml.m5.large "])
def test_instance_types_outside_sagemakers_enum_are_rejected(sm: Any, instance_type: str) -> None:
    """botocore's ProductionVariantInstanceType enum: a well-formed ml.x.y that SageMaker does
    not have is refused like a malformed one."""
    with expect_violation("sagemaker:CreateEndpointConfig", "ProductionVariants"):
        name = f"bad-{instance_type.strip().replace('.', '-')}"
        code, message = error_of(lambda: deploy_config(sm, name, InstanceType=instance_type))
    assert code == "ValidationException"
    assert "Member must satisfy enum value set" in message


def test_every_instance_type_of_sagemakers_enum_is_accepted(sm: Any) -> None:
    for instance_type in ("ml.m5.large", "ml.g6e.xlarge", "ml.p5.48xlarge", "ml.inf2.xlarge"):
        deploy_config(sm, f"ok-{instance_type.replace('.', '-')}", InstanceType=instance_type)


def test_existing_names_are_refused(sm: Any) -> None:
    config = deploy_config(sm, "twice")
    sm.create_endpoint(EndpointName="twice", EndpointConfigName=config)
    calls = {
        "model": lambda: sm.create_model(
            ModelName="twice-model", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE}
        ),
        "endpoint configuration": lambda: sm.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "twice-model",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            ],
        ),
        "endpoint": lambda: sm.create_endpoint(EndpointName="twice", EndpointConfigName=config),
    }
    for noun, call in calls.items():
        code, message = error_of(call)
        assert code == "ValidationException"
        assert message.startswith(f'Cannot create already existing {noun} "arn:aws:sagemaker:')
    assert sm.describe_model(ModelName="twice-model")["PrimaryContainer"]["Image"].endswith(":2.1")


def test_model_options_are_kept(sm: Any) -> None:
    sm.create_model(
        ModelName="isolated",
        ExecutionRoleArn=ROLE,
        Containers=[
            {"ModelPackageName": "arn:aws:sagemaker:us-east-1:123456789012:model-package/p/1"}
        ],
        EnableNetworkIsolation=True,
    )
    model = sm.describe_model(ModelName="isolated")
    assert model["EnableNetworkIsolation"] is True
    assert model["Containers"][0]["ModelPackageName"].endswith("model-package/p/1")
    sm.delete_model(ModelName="isolated")
    assert error_of(lambda: sm.describe_model(ModelName="isolated"))[0] == "ValidationException"


def test_tags_on_endpoint_config_and_model(sm: Any) -> None:
    config = deploy_config(sm, "tagged")
    arn = sm.create_endpoint(
        EndpointName="tagged",
        EndpointConfigName=config,
        Tags=[
            {"Key": "sagemeter.io/managed-by", "Value": "sagemeter"},
            {"Key": "team", "Value": "a"},
        ],
    )["EndpointArn"]
    sm.add_tags(
        ResourceArn=arn, Tags=[{"Key": "team", "Value": "b"}, {"Key": "cost", "Value": "x"}]
    )
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert tags == {"sagemeter.io/managed-by": "sagemeter", "team": "b", "cost": "x"}
    sm.delete_tags(ResourceArn=arn, TagKeys=["cost"])
    assert {t["Key"] for t in sm.list_tags(ResourceArn=arn)["Tags"]} == {
        "sagemeter.io/managed-by",
        "team",
    }
    for other in (
        sm.describe_endpoint_config(EndpointConfigName=config)["EndpointConfigArn"],
        sm.describe_model(ModelName="tagged-model")["ModelArn"],
    ):
        sm.add_tags(ResourceArn=other, Tags=[{"Key": "k", "Value": "v"}])
        assert sm.list_tags(ResourceArn=other)["Tags"] == [{"Key": "k", "Value": "v"}]
    missing = arn.replace("/tagged", "/missing")
    assert error_of(lambda: sm.list_tags(ResourceArn=missing))[0] == "ValidationException"


def test_reset_clears_state_and_keeps_the_lifecycle() -> None:
    proc, url = _start_server()
    try:
        sm = _client(url, "sagemaker")
        config = deploy_config(sm, "reset")
        sm.create_endpoint(EndpointName="reset", EndpointConfigName=config)
        request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        assert sm.list_endpoints()["Endpoints"] == []
        config = deploy_config(sm, "reset")
        sm.create_endpoint(EndpointName="reset", EndpointConfigName=config)
        assert describe(sm, "reset")["EndpointStatus"] == "Creating"
        wait_for(sm, "reset", "InService")
    finally:
        assert _stop_server(proc) == 0
