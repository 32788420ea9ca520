"""The event queue of an account and region is made once; a pass that finds it made (and its
sender allowed) learns so without a worker thread (`EventQueues.ready`). What `ready` answers
is only what AWS accepted: a queue whose policy AWS refused is not taken as made, and a sender
the policy does not name yet is not taken as allowed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from sagemeter.aws.backoff import BACKOFFS
from sagemeter.aws.errors import AwsError
from sagemeter_sandbox.control import FaultClient

from .conftest import REGION, LocalAws

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("aws_env")]

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemeter-invoke"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemeter-invoke-b"


@pytest.fixture
def queues() -> Iterator[Any]:
    from sagemeter.wake.event_queues import EventQueues

    yield EventQueues("sagemeter-events-test")
    BACKOFFS.reset()


def statement(local_aws: LocalAws, url: str, sid: str) -> dict[str, Any] | None:
    """The queue policy's statement `sid`, as SQS holds it."""
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=local_aws.url)
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    return next((s for s in policy["Statement"] if s.get("Sid") == sid), None)


def senders(local_aws: LocalAws, url: str) -> list[str]:
    found = statement(local_aws, url, "RoutesWake")
    return sorted(found["Principal"]["AWS"]) if found else []


@contextmanager
def policy_refused(local_aws: LocalAws) -> Iterator[None]:
    """SQS throttles every SetQueueAttributes while the block runs; the block must fail."""
    control = FaultClient(local_aws.url)
    control.throttle("sqs", "SetQueueAttributes")
    try:
        with pytest.raises(AwsError):
            yield
    finally:
        control.clear()
        BACKOFFS.reset()  # the throttle opened the account's backoff


def test_a_made_queue_is_known_without_a_call_and_a_new_sender_is_not(
    queues: Any, local_aws: LocalAws
) -> None:
    assert queues.ready(ACCOUNT, REGION, None) is None  # nothing made yet
    queue = queues.ensure(ACCOUNT, REGION, ACCOUNT, None, None)
    assert queues.ready(ACCOUNT, REGION, None) is queue
    assert queues.ready(ACCOUNT, "eu-west-1", None) is None  # another region has its own
    assert queues.ready(ACCOUNT, REGION, ROLE) is None  # the policy does not name it yet
    assert queues.ensure(ACCOUNT, REGION, ACCOUNT, None, ROLE) is queue
    assert queues.ready(ACCOUNT, REGION, ROLE) is queue
    assert senders(local_aws, queue.url) == [ROLE]


def test_a_sender_whose_policy_aws_refused_is_not_taken_as_allowed(
    queues: Any, local_aws: LocalAws
) -> None:
    queue = queues.ensure(ACCOUNT, REGION, ACCOUNT, None, ROLE)
    with policy_refused(local_aws):
        queues.ensure(ACCOUNT, REGION, ACCOUNT, None, OTHER_ROLE)
    assert queues.ready(ACCOUNT, REGION, OTHER_ROLE) is None
    assert queues.ready(ACCOUNT, REGION, ROLE) is queue  # what was accepted still stands
    assert senders(local_aws, queue.url) == [ROLE]
    assert queues.ensure(ACCOUNT, REGION, ACCOUNT, None, OTHER_ROLE) is queue
    assert senders(local_aws, queue.url) == sorted([ROLE, OTHER_ROLE])


def test_a_queue_whose_first_policy_aws_refused_is_made_again(
    queues: Any, local_aws: LocalAws
) -> None:
    """Without its policy the queue receives nothing from the rules: the next pass sets it."""
    with policy_refused(local_aws):
        queues.ensure(ACCOUNT, REGION, ACCOUNT, None, None)
    assert queues.ready(ACCOUNT, REGION, None) is None
    queue = queues.ensure(ACCOUNT, REGION, ACCOUNT, None, None)
    assert queues.ready(ACCOUNT, REGION, None) is queue
    rules = statement(local_aws, queue.url, "EventBridgeRules")
    assert rules and rules["Condition"]["ArnEquals"]["aws:SourceArn"]
