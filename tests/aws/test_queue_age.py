"""SQS messages aged on request (``sagemeter_sandbox.queues``, ``FaultClient.age_messages``):
their ``SentTimestamp`` moves into the past and nothing else changes, so tests of what a
consumer does with an old message need no wait."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from sagemeter_sandbox.control import FaultClient, FaultControlError

from .conftest import REGION

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("aws_env")]


def test_aging_moves_sent_timestamp_into_the_past(control: FaultClient) -> None:
    sqs: Any = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="aged")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="one")
    sqs.send_message(QueueUrl=url, MessageBody="two")
    sent = time.time()
    assert control.age_messages("aged", 90, region=REGION) == 2
    got = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["SentTimestamp"]
    )["Messages"]
    assert sorted(m["Body"] for m in got) == ["one", "two"]
    for message in got:
        age = sent - int(message["Attributes"]["SentTimestamp"]) / 1000
        assert 89 < age < 120

    with pytest.raises(FaultControlError) as missing:
        control.age_messages("no-such-queue", 90, region=REGION)
    assert missing.value.status == 404
    with pytest.raises(FaultControlError) as negative:
        control.age_messages("aged", -1, region=REGION)
    assert negative.value.status == 400
