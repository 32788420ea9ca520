"""The local AWS emits the EventBridge events AWS emits (``sagemeter_sandbox.aws_events``):
CloudWatch alarm state changes and SageMaker endpoint status changes reach an SQS queue through
a rule, in the documented shape, within about a second, in the account they belong to, whatever
fault rules are set."""

from __future__ import annotations

import json
import re
import statistics
import time
import uuid
from datetime import UTC
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sagemeter_sandbox.control import FaultClient

from .conftest import DELAY, REGION, LocalAws
from .eventbridge import (
    ALARM_RULE,
    ENDPOINT_RULE,
    assumed,
    client,
    deploy_config,
    put_idle_alarm,
    statuses,
    subscribe,
)

ACCOUNT = "123456789012"
TENANT = "111111111111"
ENVELOPE = [
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
]
EVENT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ALARM_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
# Nothing more arrives: how long a test waits to be sure.
QUIET = 1.0

pytestmark = [pytest.mark.localaws, pytest.mark.timeout(120), pytest.mark.usefixtures("aws_env")]


def _envelope(
    body: dict[str, Any], source: str, detail_type: str, resource: str, account: str = ACCOUNT
) -> None:
    assert list(body) == ENVELOPE
    assert body["version"] == "0"
    uuid.UUID(body["id"])
    assert (body["source"], body["detail-type"]) == (source, detail_type)
    assert (body["account"], body["region"], body["resources"]) == (account, REGION, [resource])
    assert EVENT_TIME.fullmatch(body["time"]), body["time"]


# --------------------------------------------------------------------------- CloudWatch


def test_an_alarm_state_change_reaches_the_queue_in_the_documented_shape(
    local_aws: LocalAws, control: FaultClient
) -> None:
    queue = subscribe(local_aws, "alarms", ALARM_RULE)
    cloudwatch = client(local_aws, "cloudwatch")
    put_idle_alarm(cloudwatch, "sagemeter-x-idle", "no invocations for 15 minutes")
    put_idle_alarm(cloudwatch, "notebook-idle")  # not sagemeter's: the prefix leaves it out
    reason_data = json.dumps({"version": "1.0", "recentDatapoints": []})
    cloudwatch.set_alarm_state(
        AlarmName="sagemeter-x-idle",
        StateValue="ALARM",
        StateReason="Threshold Crossed",
        StateReasonData=reason_data,
    )
    cloudwatch.set_alarm_state(AlarmName="notebook-idle", StateValue="ALARM", StateReason="t")

    [body] = queue.receive(count=2, timeout=QUIET)
    alarm = cloudwatch.describe_alarms(AlarmNames=["sagemeter-x-idle"])["MetricAlarms"][0]
    _envelope(body, "aws.cloudwatch", "CloudWatch Alarm State Change", alarm["AlarmArn"])
    detail = body["detail"]
    assert sorted(detail) == ["alarmName", "configuration", "previousState", "state"]
    assert detail["alarmName"] == "sagemeter-x-idle"
    assert detail["state"] == {
        "reason": "Threshold Crossed",
        "reasonData": reason_data,
        "value": "ALARM",
        "timestamp": alarm["StateUpdatedTimestamp"]
        .astimezone(UTC)
        .strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        + "+0000",
    }
    previous = detail["previousState"]
    assert {k: v for k, v in previous.items() if k != "timestamp"} == {
        "reason": "Unchecked: Initial alarm creation",
        "value": "INSUFFICIENT_DATA",
    }
    assert ALARM_TIME.fullmatch(previous["timestamp"])
    configuration = dict(detail["configuration"])
    [metric] = [dict(m) for m in configuration.pop("metrics")]
    assert configuration == {"description": "no invocations for 15 minutes"}
    uuid.UUID(metric.pop("id"))
    assert metric == {
        "metricStat": {
            "metric": {
                "dimensions": {"EndpointName": "sagemeter-x-idle", "VariantName": "AllTraffic"},
                "name": "Invocations",
                "namespace": "AWS/SageMaker",
            },
            "period": 60,
            "stat": "Sum",
        },
        "returnData": True,
    }

    # The journal saw both events, and delivered only the one the rule selects.
    entries = {
        e["event"]["detail"]["alarmName"]: e for e in control.events(source="aws.cloudwatch")
    }
    assert entries["sagemeter-x-idle"]["event"] == body
    [delivery] = entries["sagemeter-x-idle"]["deliveries"]
    assert (delivery["targetArn"], delivery["outcome"]) == (queue.queue_arn, "delivered")
    assert entries["notebook-idle"]["deliveries"] == []

    # The same state again is no change: nothing. Back to OK is one, from ALARM.
    cloudwatch.set_alarm_state(AlarmName="sagemeter-x-idle", StateValue="ALARM", StateReason="r")
    cloudwatch.set_alarm_state(AlarmName="sagemeter-x-idle", StateValue="OK", StateReason="ok")
    [back] = queue.receive(count=2, timeout=QUIET)
    assert (back["detail"]["previousState"]["value"], back["detail"]["state"]["value"]) == (
        "ALARM",
        "OK",
    )
    assert "reasonData" not in back["detail"]["state"]
    assert back["id"] != body["id"]


def test_a_new_alarm_starts_insufficient_data_and_an_update_keeps_its_state(
    local_aws: LocalAws,
) -> None:
    cloudwatch = client(local_aws, "cloudwatch")
    put_idle_alarm(cloudwatch, "sagemeter-y-idle")
    [alarm] = cloudwatch.describe_alarms(AlarmNames=["sagemeter-y-idle"])["MetricAlarms"]
    assert (alarm["StateValue"], alarm["StateReason"]) == (
        "INSUFFICIENT_DATA",
        "Unchecked: Initial alarm creation",
    )
    assert "StateReasonData" not in alarm
    cloudwatch.set_alarm_state(AlarmName="sagemeter-y-idle", StateValue="ALARM", StateReason="r")
    put_idle_alarm(cloudwatch, "sagemeter-y-idle", "now with a description")
    [updated] = cloudwatch.describe_alarms(AlarmNames=["sagemeter-y-idle"])["MetricAlarms"]
    assert (updated["StateValue"], updated["StateReason"]) == ("ALARM", "r")
    assert updated["AlarmDescription"] == "now with a description"


# --------------------------------------------------------------------------- SageMaker


def test_endpoint_lifecycle_events_arrive_without_further_calls(
    local_aws: LocalAws, control: FaultClient
) -> None:
    queue = subscribe(local_aws, "endpoints", ENDPOINT_RULE)
    sm = client(local_aws, "sagemaker")
    deploy_config(sm, "v1")
    deploy_config(sm, "v2")
    started = time.monotonic()
    arn = sm.create_endpoint(
        EndpointName="ep", EndpointConfigName="v1", Tags=[{"Key": "team", "Value": "a"}]
    )["EndpointArn"]
    [creating] = queue.receive()
    [in_service] = queue.receive(timeout=DELAY + 5)  # no SageMaker call in between
    arrived = time.monotonic() - started
    print(f"\nIN_SERVICE arrived {arrived:.3f} s after CreateEndpoint (Creating lasts {DELAY} s)")
    assert DELAY <= arrived < DELAY + 5.0

    for body, status in ((creating, "CREATING"), (in_service, "IN_SERVICE")):
        _envelope(body, "aws.sagemaker", "SageMaker Endpoint State Change", arn)
        detail = body["detail"]
        assert list(detail) == [
            "EndpointName",
            "EndpointArn",
            "EndpointConfigName",
            "ProductionVariants",
            "EndpointStatus",
            "CreationTime",
            "LastModifiedTime",
            "Tags",
        ]
        assert (detail["EndpointName"], detail["EndpointArn"], detail["EndpointStatus"]) == (
            "ep",
            arn,
            status,
        )
        assert detail["EndpointConfigName"] == "v1"
        assert detail["ProductionVariants"] == [{"DesiredWeight": 1.0, "DesiredInstanceCount": 1.0}]
        assert detail["Tags"] == {"team": "a"}
        assert isinstance(detail["CreationTime"], float)
    described = sm.describe_endpoint(EndpointName="ep")
    assert in_service["detail"]["CreationTime"] == round(
        described["CreationTime"].timestamp() * 1000
    )
    assert in_service["detail"]["LastModifiedTime"] > creating["detail"]["LastModifiedTime"]

    sm.update_endpoint(EndpointName="ep", EndpointConfigName="v2")
    updates = queue.receive(2, timeout=DELAY + 2)
    assert statuses(updates) == ["UPDATING", "IN_SERVICE"]
    assert updates[-1]["detail"]["EndpointConfigName"] == "v2"

    sm.delete_endpoint(EndpointName="ep")
    assert statuses(queue.receive()) == ["DELETING"]
    # Once gone there is nothing more: AWS documents no event after DELETING.
    assert queue.receive(timeout=DELAY + QUIET) == []
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sm.describe_endpoint(EndpointName="ep")
    emitted = [e["event"]["detail"]["EndpointStatus"] for e in control.events()]
    assert emitted == ["CREATING", "IN_SERVICE", "UPDATING", "IN_SERVICE", "DELETING"]


def test_a_failed_endpoint_says_why(local_aws: LocalAws) -> None:
    queue = subscribe(local_aws, "endpoints", ENDPOINT_RULE)
    sm = client(local_aws, "sagemaker")
    sm.create_endpoint(EndpointName="bad", EndpointConfigName=deploy_config(sm, "bad", "fail"))
    creating, failed = queue.receive(2, timeout=DELAY + 2)
    assert statuses([creating, failed]) == ["CREATING", "FAILED"]
    assert "FailureReason" not in creating["detail"]
    assert "did not pass the ping health check" in failed["detail"]["FailureReason"]


def test_a_forced_status_emits_too(local_aws: LocalAws, control: FaultClient) -> None:
    queue = subscribe(local_aws, "endpoints", ENDPOINT_RULE)
    sm = client(local_aws, "sagemaker")
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=deploy_config(sm, "v1"))
    assert statuses(queue.receive(2, timeout=DELAY + 2)) == ["CREATING", "IN_SERVICE"]

    control.set_endpoint_status("ep", "SystemUpdating", seconds=DELAY, then="InService")
    assert statuses(queue.receive(2, timeout=DELAY + 2)) == ["SYSTEM_UPDATING", "IN_SERVICE"]
    control.set_endpoint_status("ep", "UpdateRollbackFailed", failure_reason="half rolled")
    [body] = queue.receive()
    assert body["detail"]["EndpointStatus"] == "UPDATE_ROLLBACK_FAILED"
    assert body["detail"]["FailureReason"] == "half rolled"
    control.set_endpoint_status("ep", "UpdateRollbackFailed", failure_reason="half rolled")
    assert queue.receive(timeout=QUIET) == []  # no change, no event


# --------------------------------------------------------------------------- accounts


def test_events_stay_in_the_account_whose_resource_changed(local_aws: LocalAws) -> None:
    tenant = assumed(local_aws, TENANT)
    home_alarms = subscribe(local_aws, "alarms", ALARM_RULE)
    tenant_alarms = subscribe(local_aws, "alarms", ALARM_RULE, credentials=tenant)
    tenant_endpoints = subscribe(local_aws, "endpoints", ENDPOINT_RULE, credentials=tenant)
    home_endpoints = subscribe(local_aws, "endpoints", ENDPOINT_RULE)
    assert f":{TENANT}:" in tenant_alarms.rule_arn and f":{ACCOUNT}:" in home_alarms.rule_arn

    cloudwatch = client(local_aws, "cloudwatch", tenant)
    put_idle_alarm(cloudwatch, "sagemeter-t-idle")
    cloudwatch.set_alarm_state(AlarmName="sagemeter-t-idle", StateValue="ALARM", StateReason="r")
    sm = client(local_aws, "sagemaker", tenant)
    sm.create_endpoint(EndpointName="t", EndpointConfigName=deploy_config(sm, "t"))
    [alarm] = tenant_alarms.receive()
    assert alarm["account"] == TENANT and f":{TENANT}:alarm:" in alarm["resources"][0]
    [endpoint] = tenant_endpoints.receive()
    assert endpoint["account"] == TENANT and f":{TENANT}:endpoint/" in endpoint["resources"][0]

    home = client(local_aws, "cloudwatch")
    put_idle_alarm(home, "sagemeter-h-idle")
    home.set_alarm_state(AlarmName="sagemeter-h-idle", StateValue="ALARM", StateReason="r")
    [mine] = home_alarms.receive(2, timeout=QUIET)  # the tenant's alarm never arrives here
    assert (mine["account"], mine["detail"]["alarmName"]) == (ACCOUNT, "sagemeter-h-idle")
    assert home_endpoints.receive(timeout=QUIET) == []
    assert tenant_alarms.receive(timeout=0) == []


# --------------------------------------------------------------------------- faults, latency


def test_fault_rules_never_touch_the_local_aws_own_delivery(
    local_aws: LocalAws, control: FaultClient
) -> None:
    queue = subscribe(local_aws, "alarms", ALARM_RULE)
    cloudwatch = client(local_aws, "cloudwatch")
    put_idle_alarm(cloudwatch, "sagemeter-f-idle")
    control.error(status=500, service="sqs")
    control.outage(seconds=30, mode="503", service="events")
    cloudwatch.set_alarm_state(AlarmName="sagemeter-f-idle", StateValue="ALARM", StateReason="r")
    with pytest.raises(ClientError):  # clients of SQS are faulted...
        queue.sqs.receive_message(QueueUrl=queue.queue_url)
    control.clear()
    [body] = queue.receive()  # ...EventBridge's delivery was not
    assert body["detail"]["alarmName"] == "sagemeter-f-idle"
    [entry] = control.events()
    assert [d["outcome"] for d in entry["deliveries"]] == ["delivered"]


def test_alarm_event_latency(local_aws: LocalAws) -> None:
    queue = subscribe(local_aws, "alarms", ALARM_RULE)
    cloudwatch = client(local_aws, "cloudwatch")
    put_idle_alarm(cloudwatch, "sagemeter-l-idle")
    latencies = []
    for i in range(20):
        state = "ALARM" if i % 2 == 0 else "OK"
        started = time.monotonic()
        cloudwatch.set_alarm_state(
            AlarmName="sagemeter-l-idle", StateValue=state, StateReason=f"change {i}"
        )
        [body] = queue.receive(timeout=5)
        latencies.append(time.monotonic() - started)
        assert body["detail"]["state"]["value"] == state
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(
        f"\nalarm event latency over {len(latencies)} changes (SetAlarmState -> received): "
        f"median {statistics.median(latencies) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms"
    )
    assert p95 < 2.0
