"""Attacks found by reading the operator as a hostile tenant would: a tenant with every right in
its own namespace (status subresource included) who may also read what AWS shows in an account
it shares with the victim, and anything able to send to the event queue. Each runs against the
operator as a process and asserts that the victim's state in AWS and Kubernetes is what it was.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import pytest

from sagemeter.core.endpoint import naming
from sagemeter.core.endpoint.ownership import precise_time
from sagemeter_sandbox.control import FaultClient

from .conftest import Kubectl, Operator, endpoint_object, wait_for
from .test_dataplane import call
from .test_ownership import Aws, no_mutations, reason, wait_reason
from .test_self_service import self_served
from .test_wake import IDLE as WAKE_IDLE
from .test_wake import aws as sandbox_aws
from .test_wake import idle_park, routed, waking

pytestmark = pytest.mark.cluster

# The flood: requests to the attacker's waking route, from this many threads, at least this
# many of them before the victim's request is sent (each becomes a message in the queue).
FLOOD_THREADS = 8
FLOOD_BEFORE = 300


@pytest.fixture
def aws(sandbox: Any) -> Aws:
    return Aws(sandbox)


@pytest.fixture
def attacker(sandbox: Any, other_namespace: str) -> Kubectl:
    return Kubectl(sandbox, other_namespace)


def write_status(kube: Kubectl, name: str, status: dict[str, Any]) -> None:
    kube.sandbox.kubectl_run(
        "patch",
        "mep",
        name,
        "-n",
        kube.namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


def test_a_forged_ownership_proof_in_status_proves_nothing(
    operator: Operator,
    kube: Kubectl,
    attacker: Kubectl,
    aws: Aws,
    namespace: str,
    other_namespace: str,
) -> None:
    """status.incarnation caches a proof of ownership for one endpoint incarnation. The
    attacker names the victim's endpoint, reads its CreationTime where the account lets it
    (DescribeEndpoint), writes a proof for its own uid into its own status, and suspends:
    the park must not delete the victim's endpoint. A proof counts only when this process made
    it from the endpoint's tags."""
    shared = f"{namespace}-proven"
    operator.namespaces.append(other_namespace)
    operator.start()
    kube.apply(endpoint_object("victim", endpointName=shared))
    kube.wait_phase("victim", "InService")
    victim_uid = kube.get("victim")["metadata"]["uid"]  # type: ignore[index]
    attacker.apply(endpoint_object("forger", endpointName=shared))
    wait_reason(attacker, "forger", "EndpointNameConflict")
    before, calls = aws.state(shared, owner=victim_uid), operator.aws_calls()
    described = aws.sagemaker.describe_endpoint(EndpointName=shared)
    forger = attacker.get("forger")
    assert forger is not None
    forged = {
        "phase": "InService",
        "sagemakerStatus": "InService",
        "endpointName": shared,
        "endpointArn": described["EndpointArn"],
        "endpointConfigName": described["EndpointConfigName"],
        "variantNames": [v["VariantName"] for v in described["ProductionVariants"]],
        "observedGeneration": forger["metadata"]["generation"],
        "incarnation": {
            "endpointName": shared,
            "creationTime": precise_time(described["CreationTime"]),
            "lastModifiedTime": precise_time(described["LastModifiedTime"]),
            "ownerUid": forger["metadata"]["uid"],
        },
    }
    write_status(attacker, "forger", forged)
    attacker.patch("forger", {"spec": {"suspend": True}})
    wait_for(
        "the suspend to be seen",
        lambda: attacker.status("forger").get("observedGeneration") == 2,
    )
    operator.wait_passes(3)
    assert reason(attacker, "forger") == "EndpointNameConflict"
    assert aws.state(shared, owner=victim_uid) == before
    assert no_mutations(operator.aws_calls(), calls) == {}
    assert kube.status("victim")["phase"] == "InService"


def test_a_forged_alarm_event_parks_nothing(
    operator: Operator, kube: Kubectl, aws: Aws, namespace: str
) -> None:
    """Anything that can send to the event queue (in the same account an IAM identity policy
    is enough, whatever the queue's policy says) sends an 'ALARM' state change for the
    victim's idle alarm, which is OK. The alarm's state is read from CloudWatch before
    anything parks: the victim keeps running."""
    operator.start()
    kube.apply(endpoint_object("victim", idle={"after": "30m", "gracePeriod": "0s"}))
    kube.wait_phase("victim", "InService")
    endpoint = kube.status("victim")["endpointName"]
    alarm = naming.alarm_name(endpoint)
    wait_for(
        "the idle alarm", lambda: aws.cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    )
    aws.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test: busy")
    victim_uid = kube.get("victim")["metadata"]["uid"]  # type: ignore[index]
    operator.wait_passes(2)
    before, calls = aws.state(endpoint, owner=victim_uid), operator.aws_calls()
    queue = aws.sqs.get_queue_url(QueueName="sagemeter-events")["QueueUrl"]
    forged = {
        "version": "0",
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "detail": {
            "alarmName": alarm,
            "state": {"value": "ALARM"},
            "previousState": {"value": "OK"},
        },
    }
    aws.sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(forged))
    wait_for(
        "the forged event to be consumed",
        lambda: (
            aws.sqs.get_queue_attributes(
                QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
            == "0"
        ),
    )
    operator.wait_passes(3)
    assert kube.status("victim")["phase"] == "InService"
    assert aws.state(endpoint, owner=victim_uid) == before
    assert no_mutations(operator.aws_calls(), calls) == {}


def test_a_flood_of_one_tenants_wake_requests_starves_no_other_tenants_events(
    operator: Operator,
    kube: Kubectl,
    attacker: Kubectl,
    aws: Aws,
    sandbox: Any,
    namespace: str,
    other_namespace: str,
) -> None:
    """The event queue of an account is shared. The attacker floods its own waking route from
    many threads while the victim's route is asked to wake its endpoint and the victim's other
    endpoint's idle alarm fires: both reach the victim's objects within seconds, not behind
    the flood. The periodic sync is 5 minutes away, so the queue did it."""
    operator.namespaces.append(other_namespace)
    operator.start(
        SAGEMETER_SYNC_INTERVAL="5m", SAGEMETER_POLL_INTERVAL="2s", SAGEMETER_LOG_FORMAT="json"
    )
    for kubectl, name in ((attacker, "noisy"), (kube, "sleepy")):
        path = f"{kubectl.namespace}/{name}"
        kubectl.apply(
            endpoint_object(
                name,
                idle=WAKE_IDLE,
                api={"path": path, "authorization": "API_KEY", "wakeOnRequest": True},
            )
        )
    kube.apply(endpoint_object("busy", idle={"after": "30m", "gracePeriod": "0s"}))
    routes = {}
    for kubectl, name in ((attacker, "noisy"), (kube, "sleepy")):
        kubectl.wait_phase(name, "InService")
        routes[name] = routed(kubectl, sandbox, name, f"{kubectl.namespace}/{name}")
    kube.wait_phase("busy", "InService")
    for kubectl, name in ((attacker, "noisy"), (kube, "sleepy")):
        idle_park(kubectl, sandbox, name, kubectl.status(name)["endpointName"])
    for name in ("noisy", "sleepy"):
        url, key = routes[name]
        wait_for(f"{name}'s waking route", lambda u=url, k=key: waking(u, k), timeout=60)
    # `waking` sent one real request each: let those wakes through before the flood, so the
    # victim's measured wake is the one sent during it.
    kube.wait_phase("sleepy", "InService", timeout=60)
    idle_park(kube, sandbox, "sleepy", kube.status("sleepy")["endpointName"])
    busy_alarm = naming.alarm_name(kube.status("busy")["endpointName"])
    wait_for(
        "busy's idle alarm",
        lambda: aws.cloudwatch.describe_alarms(AlarmNames=[busy_alarm])["MetricAlarms"],
    )
    sleepy_url, sleepy_key = routes["sleepy"]
    wait_for("sleepy's waking route again", lambda: waking(sleepy_url, sleepy_key), timeout=60)
    # That request woke sleepy again: park it once more, then measure during the flood.
    kube.wait_phase("sleepy", "InService", timeout=60)
    idle_park(kube, sandbox, "sleepy", kube.status("sleepy")["endpointName"])
    # noisy woke too. Parked again, and unable to start (SageMaker refuses its CreateEndpoint,
    # as it does an account out of instances), its route answers every request of the flood
    # "waking" and queues it: a queue full of wake requests that each cost a pass.
    attacker.wait_phase("noisy", "InService", timeout=60)
    noisy_endpoint = attacker.status("noisy")["endpointName"]
    idle_park(attacker, sandbox, "noisy", noisy_endpoint)
    faults = FaultClient(sandbox.aws_endpoint_url)
    faults.error(
        400,
        service="sagemaker",
        operation="CreateEndpoint",
        code="ResourceLimitExceeded",
        contains=noisy_endpoint,
    )
    noisy_url, noisy_key = routes["noisy"]
    wait_for("noisy's waking route again", lambda: waking(noisy_url, noisy_key), timeout=60)

    stop, sent, answers = threading.Event(), [0], Counter[str]()

    def flood() -> None:
        while not stop.is_set():
            status, body, _ = call(noisy_url, noisy_key)
            answers[f"{status} {body.get('state', '')}".strip()] += 1
            sent[0] += 1

    threads = [threading.Thread(target=flood, daemon=True) for _ in range(FLOOD_THREADS)]
    for thread in threads:
        thread.start()
    try:
        wait_for("the flood to fill the queue", lambda: sent[0] >= FLOOD_BEFORE, timeout=60)
        asked = time.time()
        # The park's waking hold answers once its deployment is out (coalesced, 1.5-5 s).
        wait_for("sleepy's waking route", lambda: waking(sleepy_url, sleepy_key), timeout=30)
        wake = wait_for(
            "sleepy's CreateEndpoint",
            lambda: [
                t
                for t in operator.aws_action_times(
                    f"{namespace}/sleepy", "sagemaker:CreateEndpoint"
                )
                if t >= asked
            ],
            timeout=60,
        )[0]
        fired = time.time()
        aws.cloudwatch.set_alarm_state(AlarmName=busy_alarm, StateValue="ALARM", StateReason="t")
        park = wait_for(
            "busy's DeleteEndpoint",
            lambda: operator.aws_action_times(f"{namespace}/busy", "sagemaker:DeleteEndpoint"),
            timeout=60,
        )[0]
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        refused = faults.clear().injected.get("error", 0)
    print(
        f"\nduring a flood of {sent[0]} requests (answers: {dict(answers)}; {refused}"
        f" CreateEndpoint refused): victim's wake {wake - asked:.2f} s, victim's idle park"
        f" {park - fired:.2f} s"
    )
    assert sent[0] >= FLOOD_BEFORE
    assert answers["503 waking"] >= FLOOD_BEFORE // 3, answers  # each one queued
    assert refused >= 1
    assert attacker.status("noisy")["phase"] == "Parked"
    # Starved, either would wait for the 5-minute sync; unflooded, each takes about a second.
    # The bound leaves a loaded 2-core machine (every process here shares it) its slack.
    assert wake - asked < 30.0
    assert park - fired < 30.0


def test_a_forged_meter_parameter_in_status_deletes_nothing(
    operator: Operator,
    kube: Kubectl,
    attacker: Kubectl,
    sandbox: Any,
    namespace: str,
    other_namespace: str,
) -> None:
    """status.meterParameter says an object may have left an SSM parameter behind. The attacker
    writes the victim's parameter name into its own object's status (self-service off) and
    makes a pass, then deletes the object: the victim's parameter stays, and its meter still
    answers. Only `/sagemeter/<namespace>/<name>` of the object itself is ever deleted."""
    operator.namespaces.append(other_namespace)
    operator.start()
    self_served(kube, sandbox, namespace, "victim")
    parameter = f"/sagemeter/{namespace}/victim"
    ssm = sandbox_aws(sandbox, "ssm")

    def value() -> str | None:
        try:
            return str(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
        except ssm.exceptions.ParameterNotFound:
            return None

    before = wait_for("the victim's parameter", value)
    attacker.apply(endpoint_object("forger"))
    attacker.wait_phase("forger", "InService")
    write_status(attacker, "forger", {"meterParameter": parameter})
    attacker.patch("forger", {"spec": {"suspend": True}})
    wait_for(
        "the forger's pass",
        lambda: attacker.status("forger").get("observedGeneration") == 2,
    )
    attacker.wait_phase("forger", "Parked")
    assert value() == before
    write_status(attacker, "forger", {"meterParameter": parameter})
    attacker.delete("forger", wait=True)
    assert value() == before
    assert kube.status("victim")["meterParameter"] == parameter
