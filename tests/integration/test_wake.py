"""Wake on request, end to end: requests over HTTP through the local API Gateway data plane,
the operator as a process, the event queue in the local AWS.

An idle-parked endpoint's route answers 503 "waking" and the request wakes it (a CreateEndpoint
within seconds, then 200 once InService); a route parked for another reason says why and wakes
nothing; a message forged into the queue wakes nothing a real request could not; a wake message
waiting in the queue across an operator restart wakes exactly once."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import boto3
import pytest

from sagemeter.core.endpoint import naming
from sagemeter_sandbox.control import FaultClient
from sagemeter_sandbox.dataplane import user_request_url

from .conftest import Kubectl, Operator, endpoint_object, wait_for
from .test_dataplane import call

pytestmark = pytest.mark.cluster

IDLE = {"after": "1m", "gracePeriod": "0s"}


def aws(sandbox: Any, service: str) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=sandbox.aws_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def routed(kube: Kubectl, sandbox: Any, name: str, path: str) -> tuple[str, str]:
    """The data-plane URL of the object's route and its API key, once both exist."""
    status = wait_for(
        f"{name}'s route and key",
        lambda: (s := kube.status(name)).get("apiKeySecret") and s.get("invokeUrl") and s,
    )
    secret = kube.get(status["apiKeySecret"], kind="secret")
    assert secret is not None
    api_id = status["invokeUrl"].split("//")[1].split(".")[0]
    url = user_request_url(sandbox.aws_endpoint_url, api_id, "prod", path)
    return url, base64.b64decode(secret["data"]["apiKey"]).decode()


def serving(kube: Kubectl, sandbox: Any, namespace: str, name: str) -> tuple[str, str]:
    """An idle-parkable object with a wake-on-request route, InService: its URL and API key."""
    path = f"{namespace}/{name}"
    kube.apply(
        endpoint_object(
            name, idle=IDLE, api={"path": path, "authorization": "API_KEY", "wakeOnRequest": True}
        )
    )
    kube.wait_phase(name, "InService")
    return routed(kube, sandbox, name, path)


def idle_park(kube: Kubectl, sandbox: Any, name: str, endpoint: str) -> None:
    """Let the idle alarm fire (moto never evaluates alarms; CloudWatch would)."""
    cloudwatch = aws(sandbox, "cloudwatch")
    alarm = naming.alarm_name(endpoint)
    wait_for(
        "the idle alarm", lambda: cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    )
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test: idle")
    assert kube.wait_phase(name, "Parked", timeout=60)["parkedReason"] == "Idle"


def waking(url: str, key: str) -> Any:
    answer = call(url, key)
    return answer if answer[0] == 503 and answer[1].get("state") == "waking" else None


def test_a_request_wakes_an_idle_endpoint_and_then_it_serves(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    operator.start()
    url, key = serving(kube, sandbox, namespace, "sleepy")
    assert wait_for("the model's answer", lambda: call(url, key)[0] == 200)
    endpoint = kube.status("sleepy")["endpointName"]
    idle_park(kube, sandbox, "sleepy", endpoint)
    creates = operator.aws_calls().get("sagemaker:CreateEndpoint", 0)
    # The first create's Creating -> InService, as the operator observed it (the local AWS
    # takes SAGEMETER_LOCALAWS_CREATE_SECONDS=2 s).
    took = kube.status("sleepy")["lastCreateSeconds"]
    assert 2 <= took < 30

    answer = wait_for("a waking answer", lambda: waking(url, key), timeout=60)
    sent = time.monotonic()
    assert answer[1] == {"state": "waking", "reason": "Idle"}
    assert answer[2].get("Sagemeter-State") == "waking"
    assert int(answer[2]["Retry-After"]) == took  # SPEC §6: Retry-After = lastCreateSeconds
    wait_for(
        "the CreateEndpoint",
        lambda: operator.aws_calls().get("sagemaker:CreateEndpoint", 0) > creates,
        timeout=30,
    )
    woke_in = time.monotonic() - sent
    # The call is counted as it is sent; the pass writes status once AWS has answered it.
    woken = wait_for("the wake in status", lambda: (s := kube.status("sleepy")).get("wakes") and s)
    if woken["phase"] == "Creating":  # the reason lasts while the woken endpoint starts
        parked = {c["type"]: c for c in woken["conditions"]}["Parked"]
        assert parked["status"] == "False" and parked["reason"] == "WokenByRequest"
    kube.wait_phase("sleepy", "InService", timeout=60)
    served = wait_for("the model's answer again", lambda: (a := call(url, key))[0] == 200 and a)
    assert served[1]["endpoint"] == endpoint
    status = kube.status("sleepy")
    assert status["wakes"] == 1 and status["wakesToday"]["count"] == 1
    assert "WokenByRequest" in [e["reason"] for e in kube.events("sleepy")]
    # One wake per park: the requests sent while it was starting woke nothing more.
    assert operator.aws_calls().get("sagemaker:CreateEndpoint", 0) == creates + 1
    print(f"\nrequest -> CreateEndpoint: {woke_in:.2f} s")
    assert woke_in < 30  # the wake queue, not the 5-minute sync


@pytest.mark.parametrize("park", ["suspend", "expire"])
def test_a_route_parked_for_another_reason_says_why_and_wakes_nothing(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str, park: str
) -> None:
    operator.start()
    url, key = serving(kube, sandbox, namespace, park)
    change = (
        {"suspend": True}
        if park == "suspend"
        else {"expiry": {"expiresAt": "2020-01-01T00:00:00Z"}}
    )
    kube.patch(park, {"spec": change})
    reason = "Suspended" if park == "suspend" else "Expired"
    kube.wait_phase(park, "Parked")
    answer = wait_for("the parked answer", lambda: (a := call(url, key))[0] == 503 and a)
    assert answer[1] == {"state": "parked", "reason": reason}
    creates = operator.aws_calls().get("sagemaker:CreateEndpoint", 0)
    for _ in range(3):
        assert call(url, key)[0] == 503
    operator.wait_passes(3)
    assert operator.aws_calls().get("sagemaker:CreateEndpoint", 0) == creates
    assert kube.status(park)["phase"] == "Parked"


def test_a_forged_wake_message_wakes_nothing_a_request_could_not(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    operator.start()
    # "quiet" has no wakeOnRequest; "sleepy" does but is not idle-parked.
    for name, wakes in (("quiet", False), ("sleepy", True)):
        kube.apply(
            endpoint_object(
                name,
                idle=IDLE,
                api={
                    "path": f"{namespace}/{name}",
                    "authorization": "API_KEY",
                    "wakeOnRequest": wakes,
                },
            )
        )
        kube.wait_phase(name, "InService")
    kube.patch("quiet", {"spec": {"suspend": True}})
    kube.wait_phase("quiet", "Parked")
    sqs = aws(sandbox, "sqs")
    queue = wait_for(
        "the event queue", lambda: sqs.get_queue_url(QueueName="sagemeter-events")["QueueUrl"]
    )
    uid = kube.get("quiet")["metadata"]["uid"]  # type: ignore[index]
    creates = operator.aws_calls().get("sagemaker:CreateEndpoint", 0)
    forged = [
        {
            "kind": "sagemeter.wake",
            "uid": uid,
            "namespace": namespace,
            "name": "quiet",
            "path": f"{namespace}/quiet",
        },  # no wakeOnRequest, and not idle-parked
        {
            "kind": "sagemeter.wake",
            "uid": uid,
            "namespace": namespace,
            "name": "sleepy",
            "path": f"{namespace}/sleepy",
        },  # another object's name on this uid
    ]
    for message in forged:
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(message))
    wait_for(
        "the forged messages to be consumed",
        lambda: (
            int(
                sqs.get_queue_attributes(
                    QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]["ApproximateNumberOfMessages"]
            )
            == 0
        ),
    )
    assert kube.status("quiet")["phase"] == "Parked"
    annotations = kube.get("quiet")["metadata"].get("annotations") or {}  # type: ignore[index]
    assert "sagemeter.io/wake" not in annotations
    assert operator.aws_calls().get("sagemaker:CreateEndpoint", 0) == creates


def test_a_wake_waiting_in_the_queue_across_a_restart_happens_once(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    operator.start()
    url, key = serving(kube, sandbox, namespace, "restart")
    idle_park(kube, sandbox, "restart", kube.status("restart")["endpointName"])

    def switched_and_deployed() -> bool:
        # Without sending a request (which the running operator would act on at once): the
        # waking route was written, and a deployment of the REST API followed.
        logs = operator.logs()
        written = logs.rfind("503 waking (Idle)")
        return written >= 0 and logs.find("deployed REST API", written) > written

    wait_for("the waking route to be deployed", switched_and_deployed, timeout=60)
    operator.kill()  # a crash: whatever arrives now waits in the queue
    answer = waking(url, key)
    assert answer and answer[1] == {"state": "waking", "reason": "Idle"}
    assert waking(url, key)  # a second request for the same park
    operator.start()
    kube.wait_phase("restart", "InService", timeout=60)
    assert operator.aws_calls().get("sagemaker:CreateEndpoint", 0) == 1
    assert kube.status("restart")["wakes"] == 1


def test_a_queue_the_platform_provisioned_is_used_as_it_is(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    # The platform made the queue with its own policy; the operator's role may neither change
    # that policy nor put EventBridge rules. Requests still wake; sweeps still see the rest.
    sqs = aws(sandbox, "sqs")
    theirs = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Platform",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "sqs:SendMessage",
                    "Resource": "*",
                }
            ],
        }
    )
    queue = sqs.create_queue(QueueName="sagemeter-events")["QueueUrl"]  # or finds it
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": theirs})
    faults = FaultClient(sandbox.aws_endpoint_url)
    try:
        for service, action in (("sqs", "SetQueueAttributes"), ("events", "PutRule")):
            faults.error(403, service=service, operation=action, code="AccessDenied")
        operator.start()
        url, key = serving(kube, sandbox, namespace, "provisioned")
        idle_park(kube, sandbox, "provisioned", kube.status("provisioned")["endpointName"])
        assert wait_for("a waking answer", lambda: waking(url, key), timeout=60)
        kube.wait_phase("provisioned", "InService", timeout=60)
        assert kube.status("provisioned")["wakes"] == 1
        stats = faults.stats()
    finally:
        faults.clear()
    policy = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["Policy"])["Attributes"]
    assert json.loads(policy["Policy"]) == json.loads(theirs)
    assert stats.by_operation.get("sqs:SetQueueAttributes", {}).get("error", 0) >= 1
    assert "cannot set the policy" in operator.logs()
    assert "cannot put the EventBridge rule" in operator.logs()
