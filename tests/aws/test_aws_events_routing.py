"""How the local AWS routes events through EventBridge (``sagemeter_sandbox.aws_events``): which
rules see them (pattern features, rule state), what a target receives (``Input``, ``InputPath``,
``InputTransformer``), when SQS accepts them (queue policy, KMS key, FIFO), PutEvents on the same
path, the resource-policy check, and the ``/sagemeter-api/events`` control."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from sagemeter_sandbox.aws_events.policy import Request, decide
from sagemeter_sandbox.control import FaultClient

from .conftest import DELAY, REGION, LocalAws
from .eventbridge import (
    ALARM_RULE,
    ENDPOINT_RULE,
    assumed,
    client,
    deploy_config,
    put_idle_alarm,
    queue_policy,
    subscribe,
)

QUIET = 1.0
ALARM = "sagemeter-r-idle"
TENANT = "111111111111"

pytestmark = [pytest.mark.localaws, pytest.mark.timeout(120), pytest.mark.usefixtures("aws_env")]


@pytest.fixture
def cloudwatch(local_aws: LocalAws) -> Any:
    found = client(local_aws, "cloudwatch")
    put_idle_alarm(found, ALARM)
    return found


def alarm(cloudwatch: Any, state: str = "ALARM", reason: str = "test") -> None:
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue=state, StateReason=reason)


def outcomes(control: FaultClient) -> list[tuple[str, str | None]]:
    return [(d["outcome"], d.get("reason")) for e in control.events() for d in e["deliveries"]]


# --------------------------------------------------------------------------- patterns


def test_pattern_features_select_as_eventbridge_does(local_aws: LocalAws, cloudwatch: Any) -> None:
    not_ok = subscribe(
        local_aws,
        "not-ok",
        {"source": ["aws.cloudwatch"], "detail": {"state": {"value": [{"anything-but": ["OK"]}]}}},
    )
    by_metric = subscribe(
        local_aws,
        "by-metric",
        {
            "detail": {
                "configuration": {"metrics": {"metricStat": {"metric": {"name": ["Invocations"]}}}}
            }
        },
    )
    other_metric = subscribe(
        local_aws,
        "other-metric",
        {
            "detail": {
                "configuration": {
                    "metrics": {"metricStat": {"metric": {"name": ["CPUUtilization"]}}}
                }
            }
        },
    )
    no_data = subscribe(
        local_aws, "no-reason-data", {"detail": {"state": {"reasonData": [{"exists": False}]}}}
    )
    other_prefix = subscribe(
        local_aws, "other-prefix", {"detail": {"alarmName": [{"prefix": "other-"}]}}
    )

    alarm(cloudwatch, "ALARM")
    alarm(cloudwatch, "OK")
    assert [b["detail"]["state"]["value"] for b in not_ok.receive(2, timeout=QUIET)] == ["ALARM"]
    assert len(by_metric.receive(2)) == 2  # a field inside an array of objects
    assert len(no_data.receive(2)) == 2
    assert other_metric.receive(timeout=0) == other_prefix.receive(timeout=0) == []


def test_one_rule_with_or_carries_both_kinds(local_aws: LocalAws, cloudwatch: Any) -> None:
    """The SPEC's one rule per account and region, for alarms and endpoints alike."""
    queue = subscribe(local_aws, "sagemeter", {"$or": [ALARM_RULE, ENDPOINT_RULE]})
    alarm(cloudwatch)
    sm = client(local_aws, "sagemaker")
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=deploy_config(sm, "ep"))
    kinds = [body["detail-type"] for body in queue.receive(3, timeout=DELAY + 2)]
    assert kinds == ["CloudWatch Alarm State Change"] + ["SageMaker Endpoint State Change"] * 2


def test_disabled_and_schedule_rules_see_nothing(local_aws: LocalAws, cloudwatch: Any) -> None:
    disabled = subscribe(local_aws, "disabled", ALARM_RULE)
    disabled.events.disable_rule(Name="disabled")
    scheduled = subscribe(local_aws, "scheduled", ALARM_RULE)
    scheduled.events.put_rule(Name="scheduled", ScheduleExpression="rate(5 minutes)")
    enabled = subscribe(local_aws, "enabled", ALARM_RULE)
    alarm(cloudwatch)
    assert len(enabled.receive()) == 1
    assert disabled.receive(timeout=QUIET) == scheduled.receive(timeout=0) == []


# --------------------------------------------------------------------------- target input


def test_a_target_receives_its_input(local_aws: LocalAws, cloudwatch: Any) -> None:
    constant = subscribe(local_aws, "constant", ALARM_RULE, target={"Input": '{"wake": true}'})
    path = subscribe(local_aws, "path", ALARM_RULE, target={"InputPath": "$.detail.state"})
    as_json = subscribe(
        local_aws,
        "json",
        ALARM_RULE,
        target={
            "InputTransformer": {
                "InputPathsMap": {
                    "name": "$.detail.alarmName",
                    "state": "$.detail.state.value",
                    "arn": "$.resources[0]",
                    "nothing": "$.detail.missing",
                },
                "InputTemplate": '{"alarm": <name>, "text": "<name> is <state>", "arn": "<arn>", '
                '"rule": "<aws.events.rule-name>", "nothing": <nothing>}',
            }
        },
    )
    as_text = subscribe(
        local_aws,
        "text",
        ALARM_RULE,
        target={
            "InputTransformer": {
                "InputPathsMap": {"name": "$.detail.alarmName", "state": "$.detail.state.value"},
                "InputTemplate": "<name> is <state>",
            }
        },
    )
    alarm(cloudwatch, reason="quiet")

    assert constant.raw() == ['{"wake": true}']
    [state] = path.receive()
    assert (state["value"], state["reason"]) == ("ALARM", "quiet")
    [document] = as_json.receive()
    assert document == {
        "alarm": ALARM,
        "text": f"{ALARM} is ALARM",
        "rule": "json",
        "arn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{ALARM}",
        "nothing": None,
    }
    assert as_text.raw() == [json.dumps(f"{ALARM} is ALARM")]  # a JSON string, quotes included


# --------------------------------------------------------------------------- SQS acceptance


def test_a_queue_without_the_policy_receives_nothing(
    local_aws: LocalAws, cloudwatch: Any, control: FaultClient
) -> None:
    bare = subscribe(local_aws, "bare", ALARM_RULE, policy=False)
    other = subscribe(local_aws, "other", ALARM_RULE)
    wrong = subscribe(local_aws, "wrong", ALARM_RULE, policy=False)
    wrong.sqs.set_queue_attributes(
        QueueUrl=wrong.queue_url,
        Attributes={"Policy": queue_policy(wrong.queue_arn, other.rule_arn)},
    )  # another rule's ARN
    alarm(cloudwatch)
    assert len(other.receive()) == 1
    assert bare.receive(timeout=QUIET) == wrong.receive(timeout=0) == []
    failed = sorted(reason or "" for outcome, reason in outcomes(control) if outcome == "failed")
    assert len(failed) == 2
    assert "no resource policy" in failed[0]
    assert "no statement allows events.amazonaws.com to sqs:SendMessage" in failed[1]
    assert f"aws:SourceArn={wrong.rule_arn}" in failed[1]


def test_an_encrypted_queue_needs_a_key_eventbridge_may_use(
    local_aws: LocalAws, cloudwatch: Any, control: FaultClient
) -> None:
    kms = client(local_aws, "kms")
    granted = kms.create_key(
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                        "Resource": "*",
                    }
                ],
            }
        )
    )
    ungranted = kms.create_key()  # the default key policy names only the account
    sse_sqs = subscribe(
        local_aws, "sse-sqs", ALARM_RULE, queue_attributes={"SqsManagedSseEnabled": "true"}
    )
    with_key = subscribe(
        local_aws,
        "cmk",
        ALARM_RULE,
        queue_attributes={"KmsMasterKeyId": granted["KeyMetadata"]["KeyId"]},
    )
    without = subscribe(
        local_aws,
        "cmk-no-grant",
        ALARM_RULE,
        queue_attributes={"KmsMasterKeyId": ungranted["KeyMetadata"]["Arn"]},
    )
    managed = subscribe(
        local_aws, "aws-managed", ALARM_RULE, queue_attributes={"KmsMasterKeyId": "alias/aws/sqs"}
    )
    alarm(cloudwatch)
    assert len(sse_sqs.receive()) == len(with_key.receive()) == 1
    assert without.receive(timeout=QUIET) == managed.receive(timeout=0) == []
    reasons = " ".join(reason or "" for outcome, reason in outcomes(control) if outcome == "failed")
    assert "AWS managed key alias/aws/sqs" in reasons
    assert f"KMS key {ungranted['KeyMetadata']['Arn']}: no statement allows" in reasons


def test_a_fifo_queue_needs_a_group_and_content_deduplication(
    local_aws: LocalAws, cloudwatch: Any
) -> None:
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    grouped = subscribe(
        local_aws,
        "grouped.fifo",
        ALARM_RULE,
        queue_attributes=fifo,
        target={"SqsParameters": {"MessageGroupId": "alarms"}},
    )
    ungrouped = subscribe(
        local_aws,
        "ungrouped.fifo",
        ALARM_RULE,
        queue_attributes=fifo,
        target={"SqsParameters": {"MessageGroupId": ""}},
    )
    alarm(cloudwatch)
    assert len(grouped.receive()) == 1
    assert ungrouped.receive(timeout=QUIET) == []


def test_put_events_takes_the_same_path(local_aws: LocalAws, control: FaultClient) -> None:
    queue = subscribe(local_aws, "custom", {"source": ["com.example"]})
    disabled = subscribe(local_aws, "custom-disabled", {"source": ["com.example"]})
    disabled.events.disable_rule(Name="custom-disabled")
    answer = queue.events.put_events(
        Entries=[
            {
                "Source": "com.example",
                "DetailType": "Thing",
                "Detail": '{"n": 1}',
                "Resources": ["arn:x"],
            }
        ]
    )
    [body] = queue.receive()
    assert body["account"] == "123456789012"  # moto's delivery dropped it
    assert (body["id"], body["resources"], body["detail"]) == (
        answer["Entries"][0]["EventId"],
        ["arn:x"],
        {"n": 1},
    )
    assert disabled.receive(timeout=QUIET) == []
    [entry] = control.events(origin="PutEvents")
    assert [d["outcome"] for d in entry["deliveries"]] == ["delivered"]


def test_bus_and_log_targets(local_aws: LocalAws, cloudwatch: Any, control: FaultClient) -> None:
    tenant = assumed(local_aws, TENANT)
    forwarded = subscribe(local_aws, "from-home", ALARM_RULE, credentials=tenant)
    events, logs = client(local_aws, "events"), client(local_aws, "logs")
    logs.create_log_group(logGroupName="/events/alarms")
    events.put_rule(Name="elsewhere", EventPattern=json.dumps(ALARM_RULE))
    events.put_targets(
        Rule="elsewhere",
        Targets=[
            {"Id": "bus", "Arn": f"arn:aws:events:us-east-1:{TENANT}:event-bus/default"},
            {"Id": "log", "Arn": "arn:aws:logs:us-east-1:123456789012:log-group:/events/alarms"},
        ],
    )
    alarm(cloudwatch)
    [body] = forwarded.receive()  # the tenant's rule saw the home account's event, unchanged
    assert (body["account"], body["detail"]["alarmName"]) == ("123456789012", ALARM)
    [logged] = logs.filter_log_events(logGroupName="/events/alarms")["events"]
    assert json.loads(logged["message"])["id"] == body["id"]
    [entry] = control.events()
    assert sorted(d["outcome"] for d in entry["deliveries"]) == ["delivered"] * 3


# --------------------------------------------------------------------------- policy, control


QUEUE = "arn:aws:sqs:us-east-1:123456789012:q"
RULE = "arn:aws:events:us-east-1:123456789012:rule/r"
SEND = Request(
    "events.amazonaws.com",
    "sqs:SendMessage",
    QUEUE,
    {"aws:SourceArn": RULE, "aws:SourceAccount": "123456789012"},
)
SERVICE = {"Service": "events.amazonaws.com"}


def _statement(**fields: Any) -> str:
    return json.dumps(
        {
            "Statement": [
                {"Effect": "Allow", "Principal": SERVICE, "Action": "sqs:SendMessage", **fields}
            ]
        }
    )


@pytest.mark.parametrize(
    ("policy", "allowed"),
    [
        (None, False),
        (_statement(), True),
        (_statement(Resource=QUEUE, Condition={"ArnEquals": {"aws:SourceArn": RULE}}), True),
        (_statement(Condition={"ArnLike": {"aws:sourcearn": "arn:aws:events:*:rule/*"}}), True),
        (_statement(Condition={"StringEquals": {"aws:SourceAccount": "999999999999"}}), False),
        (_statement(Condition={"ArnEqualsIfExists": {"aws:SourceVpc": "vpc-1"}}), True),
        (_statement(Condition={"NumericLessThan": {"aws:SourceArn": "1"}}), False),
        (_statement(Resource="arn:aws:sqs:*:*:other"), False),
        (_statement(Action="SQS:*"), True),
        (_statement(Action="sqs:ReceiveMessage"), False),
        (_statement(Principal="*"), True),
        (_statement(Principal={"AWS": "arn:aws:iam::123456789012:root"}), False),
        (_statement(NotAction="sqs:DeleteQueue"), False),
        (
            json.dumps(
                {
                    "Statement": [
                        json.loads(_statement())["Statement"][0],
                        {"Effect": "Deny", "Principal": "*", "Action": "sqs:*"},
                    ]
                }
            ),
            False,
        ),
    ],
)
def test_resource_policy_decisions(policy: str | None, allowed: bool) -> None:
    assert decide(policy, SEND)[0] is allowed


def test_the_events_control(local_aws: LocalAws, cloudwatch: Any, control: FaultClient) -> None:
    subscribe(local_aws, "alarms", ALARM_RULE)
    for state in ("ALARM", "OK", "ALARM"):
        alarm(cloudwatch, state)
    assert [e["event"]["detail"]["state"]["value"] for e in control.events()] == [
        "ALARM",
        "OK",
        "ALARM",
    ]
    assert [e["event"]["detail"]["state"]["value"] for e in control.events(limit=1)] == ["ALARM"]
    assert control.events(source="aws.sagemaker") == []
    assert len(control.events(account_id="123456789012", origin="localaws")) == 3
    assert len(control.events(detail_type="CloudWatch Alarm State Change", region=REGION)) == 3
    assert control.clear_events() == 3
    assert control.events() == []
    for method, path, status in (
        ("GET", "events?colour=red", 400),
        ("GET", "events?limit=x", 400),
        ("POST", "events", 404),
        ("GET", "events/x", 404),
    ):
        request = urllib.request.Request(f"{local_aws.url}/sagemeter-api/{path}", method=method)
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        assert caught.value.code == status
