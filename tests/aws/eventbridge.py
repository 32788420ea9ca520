"""EventBridge rules with SQS targets in the local AWS, made as a platform team would make them:
a queue whose policy lets ``events.amazonaws.com`` send for the rule's ARN, a rule with an event
pattern, the queue as its target. And reading what arrives."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from .conftest import REGION, LocalAws

ROLE = "arn:aws:iam::123456789012:role/sagemeter-sm"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference"
ALARM_RULE = {
    "source": ["aws.cloudwatch"],
    "detail-type": ["CloudWatch Alarm State Change"],
    "detail": {"alarmName": [{"prefix": "sagemeter-"}]},
}
ENDPOINT_RULE = {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Endpoint State Change"]}


@dataclass(frozen=True)
class Credentials:
    key: str = "testing"
    secret: str = "testing"
    token: str | None = None


def client(local_aws: LocalAws, service: str, credentials: Credentials = Credentials()) -> Any:
    return boto3.client(
        service,
        endpoint_url=local_aws.url,
        region_name=REGION,
        aws_access_key_id=credentials.key,
        aws_secret_access_key=credentials.secret,
        aws_session_token=credentials.token,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def assumed(local_aws: LocalAws, account: str) -> Credentials:
    """Credentials of a role in ``account``, from ``sts:AssumeRole``."""
    found = client(local_aws, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/platform", RoleSessionName="test"
    )["Credentials"]
    return Credentials(found["AccessKeyId"], found["SecretAccessKey"], found["SessionToken"])


def queue_policy(queue_arn: str, rule_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "events",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                }
            ],
        }
    )


@dataclass
class Subscription:
    """A queue receiving what one rule selects."""

    sqs: Any
    events: Any
    queue_url: str
    queue_arn: str
    rule_name: str
    rule_arn: str

    def receive(self, count: int = 1, timeout: float = 3.0) -> list[dict[str, Any]]:
        """Up to ``count`` event bodies, waiting at most ``timeout`` seconds for them."""
        bodies: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(bodies) < count:
            wait = int(min(20, max(0, deadline - time.monotonic())))
            found = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, count - len(bodies)),
                WaitTimeSeconds=wait,
            ).get("Messages", [])
            for message in found:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            if not found and time.monotonic() >= deadline:
                break
        return bodies

    def raw(self, timeout: int = 2) -> list[str]:
        found = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=timeout
        ).get("Messages", [])
        return [m["Body"] for m in found]


def subscribe(
    local_aws: LocalAws,
    name: str,
    pattern: Mapping[str, Any],
    *,
    credentials: Credentials = Credentials(),
    policy: bool = True,
    target: Mapping[str, Any] | None = None,
    queue_attributes: Mapping[str, str] | None = None,
) -> Subscription:
    """Queue ``name`` (with the policy EventBridge needs unless ``policy`` is False) as the
    target of rule ``name`` with ``pattern``; ``target`` adds fields (``Input``, ...)."""
    sqs, events = client(local_aws, "sqs", credentials), client(local_aws, "events", credentials)
    url = sqs.create_queue(QueueName=name, Attributes=dict(queue_attributes or {}))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    rule_arn = events.put_rule(Name=name, EventPattern=json.dumps(pattern))["RuleArn"]
    if policy:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": queue_policy(arn, rule_arn)})
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn, **(target or {})}])
    return Subscription(sqs, events, url, arn, name, rule_arn)


def put_idle_alarm(cloudwatch: Any, name: str, description: str | None = None) -> None:
    """An alarm shaped like sagemeter's idle alarm (``core.idle``)."""
    extra = {"AlarmDescription": description} if description else {}
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SageMaker",
        MetricName="Invocations",
        Dimensions=[
            {"Name": "EndpointName", "Value": name},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=15,
        DatapointsToAlarm=15,
        Threshold=1.0,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="breaching",
        ActionsEnabled=False,
        **extra,
    )


def deploy_config(sm: Any, name: str, tag: str = "2.1") -> str:
    sm.create_model(
        ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": f"{IMAGE}:{tag}"}
    )
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


def statuses(bodies: list[dict[str, Any]]) -> list[str]:
    return [body["detail"]["EndpointStatus"] for body in bodies]
