"""Every SageMaker endpoint status in the local AWS and what SageMaker accepts in each.

``EXPECTED`` is written out here independently of ``endpoint_states.RULES`` (the cited sources
are in that module's docstring), so a wrong rule in either place fails a test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sagemeter_sandbox.control import FaultClient, FaultControlError
from sagemeter_sandbox.endpoint_states import RULES, STATUSES

from .conftest import DELAY, REGION, SEEN, LocalAws, slow_transitions

ROLE = "arn:aws:iam::123456789012:role/sagemeter-sm"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "localaws" / "describe_endpoint"

IN_PROGRESS = 'Cannot update in-progress endpoint "{arn}".'
FAILED = 'Cannot update failed endpoint "{arn}".'
OK = None
CALLS = ("DeleteEndpoint", "UpdateEndpoint", "UpdateEndpointWeightsAndCapacities")
# status -> what each of CALLS answers: OK, or the ValidationException message.
EXPECTED: dict[str, tuple[str | None, str | None, str | None]] = {
    # No source says OutOfService refuses a call (ACK acts there): permissive.
    "OutOfService": (OK, OK, OK),
    "Creating": (IN_PROGRESS, IN_PROGRESS, IN_PROGRESS),
    "Updating": (IN_PROGRESS, IN_PROGRESS, IN_PROGRESS),
    "SystemUpdating": (IN_PROGRESS, IN_PROGRESS, IN_PROGRESS),
    "RollingBack": (IN_PROGRESS, IN_PROGRESS, IN_PROGRESS),
    "InService": (OK, OK, OK),
    "Deleting": (IN_PROGRESS, IN_PROGRESS, IN_PROGRESS),
    "Failed": (OK, FAILED, FAILED),
    "UpdateRollbackFailed": (OK, OK, OK),
}
# The status an accepted call leaves the endpoint in.
AFTER = {
    "DeleteEndpoint": "Deleting",
    "UpdateEndpoint": "Updating",
    "UpdateEndpointWeightsAndCapacities": "Updating",
}

pytestmark = [pytest.mark.localaws, pytest.mark.timeout(120), pytest.mark.usefixtures("aws_env")]


@pytest.fixture
def sm(local_aws: LocalAws) -> Any:
    return boto3.client(
        "sagemaker",
        endpoint_url=local_aws.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def deploy_config(sm: Any, name: str) -> str:
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InstanceType": "ml.g5.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
    )
    return name


@pytest.fixture
def endpoint(sm: Any) -> Iterator[str]:
    """An InService endpoint "ep" on config "old"; config "new" exists too."""
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=deploy_config(sm, "old"))
    deploy_config(sm, "new")
    wait_for(sm, "ep", "InService")
    yield "ep"


def describe(sm: Any, name: str) -> dict[str, Any]:
    found = dict(sm.describe_endpoint(EndpointName=name))
    found.pop("ResponseMetadata")
    return found


def listed(sm: Any, name: str) -> str | None:
    found = [
        e["EndpointStatus"] for e in sm.list_endpoints()["Endpoints"] if e["EndpointName"] == name
    ]
    return found[0] if found else None


def wait_for(sm: Any, name: str, status: str | None) -> None:
    deadline = time.monotonic() + 20 * DELAY + 5
    while listed(sm, name) != status:
        assert time.monotonic() < deadline, f"{name} never reached {status}"
        time.sleep(0.05)


def _rescale(sm: Any, name: str) -> Any:
    capacity = [{"VariantName": "AllTraffic", "DesiredInstanceCount": 2}]
    return sm.update_endpoint_weights_and_capacities(
        EndpointName=name, DesiredWeightsAndCapacities=capacity
    )


CALL: dict[str, Callable[[Any, str], Any]] = {
    "DeleteEndpoint": lambda sm, name: sm.delete_endpoint(EndpointName=name),
    "UpdateEndpoint": lambda sm, name: sm.update_endpoint(
        EndpointName=name, EndpointConfigName="new"
    ),
    "UpdateEndpointWeightsAndCapacities": _rescale,
}


def test_the_table_covers_every_status_and_call() -> None:
    assert set(EXPECTED) == set(STATUSES) == set(RULES)
    assert set(CALL) == set(CALLS)


@pytest.mark.parametrize(
    ("status", "call"), [(status, call) for status in EXPECTED for call in CALLS]
)
def test_each_status_accepts_or_refuses_each_call_as_sagemaker_does(
    sm: Any, control: FaultClient, endpoint: str, status: str, call: str
) -> None:
    control.set_endpoint_status(endpoint, status)
    before = describe(sm, endpoint)
    expected = EXPECTED[status][CALLS.index(call)]
    if expected is OK:
        with slow_transitions():  # the status the call leaves, not the one after it
            CALL[call](sm, endpoint)
            assert describe(sm, endpoint)["EndpointStatus"] == AFTER[call]
        return
    with pytest.raises(ClientError) as caught:
        CALL[call](sm, endpoint)
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (error["Error"]["Code"], error["Error"]["Message"]) == (
        "ValidationException",
        expected.format(arn=before["EndpointArn"]),
    )
    assert describe(sm, endpoint) == before  # a refused call changes nothing


@pytest.mark.parametrize("status", STATUSES)
def test_describe_and_list_show_every_status(
    sm: Any, control: FaultClient, endpoint: str, status: str
) -> None:
    shown = control.set_endpoint_status(endpoint, status, failure_reason="disk full")
    assert shown["endpointStatus"] == status
    described = describe(sm, endpoint)
    assert described["EndpointStatus"] == listed(sm, endpoint) == status
    assert [e["EndpointName"] for e in sm.list_endpoints(StatusEquals=status)["Endpoints"]] == [
        endpoint
    ]
    assert described["FailureReason"] == "disk full"
    # Within AWS's contract (botocore's DescribeEndpointOutput), and the same shape as the
    # local AWS's own InService answer plus the reason.
    output = (
        botocore.session.get_session()
        .get_service_model("sagemaker")
        .shape_for("DescribeEndpointOutput")
    )
    assert set(described) <= set(output.members)
    assert set(output.required_members) <= set(described)
    own = json.loads((FIXTURES / "InService.json").read_text())
    assert set(described) == {*own, "FailureReason"}


@pytest.mark.parametrize("status", ["Failed", "UpdateRollbackFailed"])
def test_failure_statuses_get_a_reason_by_default(
    sm: Any, control: FaultClient, endpoint: str, status: str
) -> None:
    control.set_endpoint_status(endpoint, status)
    assert status in describe(sm, endpoint)["FailureReason"]
    control.set_endpoint_status(endpoint, "InService")
    assert "FailureReason" not in describe(sm, endpoint)


def test_a_timed_status_moves_on_lazily_and_reads_agree(
    sm: Any, control: FaultClient, endpoint: str
) -> None:
    control.set_endpoint_status(endpoint, "SystemUpdating", seconds=SEEN, then="InService")
    assert describe(sm, endpoint)["EndpointStatus"] == listed(sm, endpoint) == "SystemUpdating"
    with pytest.raises(ClientError):
        sm.delete_endpoint(EndpointName=endpoint)
    wait_for(sm, endpoint, "InService")
    assert describe(sm, endpoint)["EndpointStatus"] == "InService"
    sm.delete_endpoint(EndpointName=endpoint)
    wait_for(sm, endpoint, None)


def test_a_timed_failure_keeps_its_reason(sm: Any, control: FaultClient, endpoint: str) -> None:
    control.set_endpoint_status(
        endpoint, "RollingBack", seconds=DELAY, then="Failed", failure_reason="capacity"
    )
    wait_for(sm, endpoint, "Failed")
    assert describe(sm, endpoint)["FailureReason"] == "capacity"


def test_deleting_without_then_ends_with_the_endpoint_gone(
    sm: Any, control: FaultClient, endpoint: str
) -> None:
    control.set_endpoint_status(endpoint, "Deleting", seconds=SEEN)
    assert listed(sm, endpoint) == "Deleting"
    wait_for(sm, endpoint, None)
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sm.describe_endpoint(EndpointName=endpoint)


def test_forcing_a_creating_endpoint_lands_its_deployment_first(
    sm: Any, control: FaultClient
) -> None:
    with slow_transitions(SEEN):
        sm.create_endpoint(EndpointName="fresh", EndpointConfigName=deploy_config(sm, "fresh"))
    assert "ProductionVariants" not in describe(sm, "fresh")
    control.set_endpoint_status("fresh", "OutOfService")
    described = describe(sm, "fresh")
    assert described["EndpointStatus"] == "OutOfService"
    assert described["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    time.sleep(SEEN + DELAY)  # the creation's own transition no longer applies
    assert describe(sm, "fresh")["EndpointStatus"] == "OutOfService"


def test_an_accepted_call_replaces_a_pending_transition(
    sm: Any, control: FaultClient, endpoint: str
) -> None:
    control.set_endpoint_status(endpoint, "Failed", seconds=DELAY, then="InService")
    sm.delete_endpoint(EndpointName=endpoint)
    wait_for(sm, endpoint, None)


def test_weights_and_capacities_update_like_sagemaker(sm: Any, endpoint: str) -> None:
    with slow_transitions(SEEN):
        CALL["UpdateEndpointWeightsAndCapacities"](sm, endpoint)
    assert describe(sm, endpoint)["EndpointStatus"] == "Updating"
    wait_for(sm, endpoint, "InService")
    assert describe(sm, endpoint)["ProductionVariants"][0]["CurrentInstanceCount"] == 2


def test_the_control_refuses_what_it_cannot_do(control: FaultClient, endpoint: str) -> None:
    cases: list[tuple[dict[str, Any], int]] = [
        ({"name": "missing", "status": "InService"}, 404),
        ({"name": endpoint, "status": "Stopped"}, 400),
        ({"name": endpoint, "status": "InService", "then": "Failed"}, 400),
        ({"name": endpoint, "status": "Failed", "seconds": 1.0}, 400),
        ({"name": endpoint, "status": "InService", "account_id": "210987654321"}, 404),
        ({"name": endpoint, "status": "InService", "region": "nowhere-1"}, 404),
    ]
    for kwargs, status in cases:
        with pytest.raises(FaultControlError) as caught:
            control.set_endpoint_status(**kwargs)
        assert caught.value.status == status, kwargs
