"""The notifier (`sagemeter.notify.notifier`) publishing to SNS in the local AWS, read back from
an SQS queue subscribed to the topic: attributes for filter policies, retries with backoff when
SNS fails, a first failure reported once per topic, nothing published while paused, a FIFO
topic's deduplication id, and the cap on how often one object notifies."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sagemeter.core.notify import Notice
from sagemeter.notify.notifier import Delivery, Notifier
from sagemeter_sandbox.control import FaultClient

from .conftest import REGION, client

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("aws_env")]

UID = "uid-falcon"
NOTICE = Notice("Parked", "Expired", "2026-11-22T16:50:00Z", "expired")


def subscribed_queue(topic_arn: str, name: str) -> str:
    """A queue subscribed to the topic, with SNS's envelope (attributes included)."""
    sqs = client("sqs", REGION)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    client("sns", REGION).subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return str(url)


def received(url: str, wait: float = 5.0, expect: int = 1) -> list[dict[str, Any]]:
    """SNS envelopes delivered to the queue within `wait` seconds (at least `expect` asked)."""
    sqs = client("sqs", REGION)
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and len(found) < expect:
        for message in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def delivery(topics: list[str], notice: Notice = NOTICE, **extra: Any) -> Delivery:
    fields: dict[str, Any] = {
        "uid": UID,
        "notice": notice,
        "topics": topics,
        "identity": None,
        "subject": "sagemeter: team-a/falcon Expired",
        "message": {"reason": notice.reason, "dedupeKey": notice.key(UID)},
        "attributes": {"namespace": "team-a", "reason": notice.reason},
        "stale_at": time.monotonic() + 60,
    }
    fields.update(extra)
    return Delivery(**fields)


@pytest.fixture
def woken() -> list[str]:
    return []


@pytest.fixture
def notifier(woken: list[str]) -> Iterator[Callable[..., Notifier]]:
    made: list[Notifier] = []

    def make(**options: Any) -> Notifier:
        options.setdefault("first_retry", 0.05)
        found = Notifier(woken.append, **options)
        made.append(found)
        return found

    yield make
    for found in made:
        found.stop()


def wait_until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_a_notice_reaches_every_topic_once_with_its_attributes(
    notifier: Callable[..., Notifier], woken: list[str]
) -> None:
    sns = client("sns", REGION)
    topics = [sns.create_topic(Name=n)["TopicArn"] for n in ("team-a-endpoints", "platform")]
    queues = [subscribed_queue(t, f"q{i}") for i, t in enumerate(topics)]
    sender = notifier()
    assert sender.submit(delivery(list(topics)))
    assert not sender.submit(delivery(list(topics)))  # on its way already
    wait_until(lambda: woken == [UID])
    assert sender.sent(UID) == [NOTICE]
    assert not sender.submit(delivery(list(topics)))  # sent, not yet recorded
    for url in queues:
        (envelope,) = received(url)
        assert envelope["Subject"] == "sagemeter: team-a/falcon Expired"
        assert json.loads(envelope["Message"])["dedupeKey"] == NOTICE.key(UID)
        assert envelope["MessageAttributes"]["reason"] == {"Type": "String", "Value": "Expired"}
    sender.recorded(UID, [NOTICE])
    assert sender.sent(UID) == []


def test_a_failing_publish_is_retried_and_reported_once_per_topic(
    notifier: Callable[..., Notifier], woken: list[str], control: FaultClient
) -> None:
    topic = client("sns", REGION).create_topic(Name="flaky")["TopicArn"]
    url = subscribed_queue(topic, "flaky-q")
    control.error(status=500, service="sns", operation="Publish")
    reports: list[tuple[str, str]] = []
    lock = threading.Lock()

    def report(topic: str, error: str) -> None:
        with lock:
            reports.append((topic, error))

    sender = notifier()
    sender.submit(delivery([topic], report=report))
    wait_until(lambda: control.stats().by_operation.get("sns:Publish", {}).get("error", 0) >= 3)
    assert received(url, wait=1.0) == [] and woken == []
    control.clear()
    wait_until(lambda: woken == [UID])
    assert len(received(url)) == 1
    assert len(reports) == 1 and reports[0][0] == topic and "InternalFailure" in reports[0][1]


def test_a_notice_that_stays_unsent_until_it_is_old_news_is_dropped(
    notifier: Callable[..., Notifier], woken: list[str], control: FaultClient
) -> None:
    topic = client("sns", REGION).create_topic(Name="down")["TopicArn"]
    control.error(status=503, service="sns", operation="Publish")
    sender = notifier()
    sender.submit(delivery([topic], stale_at=time.monotonic() + 0.5))
    wait_until(lambda: sender.in_flight() == 0)  # given up
    control.clear()
    time.sleep(0.3)
    assert woken == [] and sender.sent(UID) == []


def test_a_paused_replica_publishes_nothing(
    notifier: Callable[..., Notifier], woken: list[str]
) -> None:
    topic = client("sns", REGION).create_topic(Name="paused")["TopicArn"]
    url = subscribed_queue(topic, "paused-q")
    sender = notifier(active=lambda: False)
    sender.submit(delivery([topic]))
    wait_until(lambda: sender.in_flight() == 0)
    assert received(url, wait=1.0) == [] and woken == []


def test_a_fifo_topic_gets_the_dedupe_key_as_its_deduplication_id(
    notifier: Callable[..., Notifier], woken: list[str]
) -> None:
    sns = client("sns", REGION)
    topic = sns.create_topic(
        Name="team-a.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "false"}
    )["TopicArn"]
    sqs = client("sqs", REGION)
    url = sqs.create_queue(QueueName="team-a-q.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    first = notifier()
    first.submit(delivery([topic]))
    wait_until(lambda: woken == [UID])
    # Another replica (or a restart) sending the same transition before it was recorded.
    second = notifier()
    second.submit(delivery([topic]))
    wait_until(lambda: woken == [UID, UID])
    assert len(received(url, wait=2.0, expect=2)) == 1


def test_one_object_notifies_at_most_per_hour_times_an_hour(
    notifier: Callable[..., Notifier],
) -> None:
    topic = client("sns", REGION).create_topic(Name="capped")["TopicArn"]
    sender = notifier(per_hour=3)
    notices = [Notice("Parked", "Expired", f"2026-11-22T16:5{i}:00Z") for i in range(5)]
    accepted = [sender.submit(delivery([topic], notice=n)) for n in notices]
    assert accepted == [True, True, True, False, False]
