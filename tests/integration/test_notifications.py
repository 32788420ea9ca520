"""Notifications over SNS with the operator as a process (SPEC §7): one message per transition a
person should act on, read back from an SQS queue subscribed to the topic in the local AWS;
none repeated by a restart; a crash right after SNS took a message repeats it with the same
`dedupeKey` and only then; under an EndpointPolicy role the topic, the publish and the message
all stay in the tenant's account."""

from __future__ import annotations

import json
import secrets
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from sagemeter_sandbox.control import FaultClient

from .conftest import Kubectl, Operator, endpoint_object, wait_for
from .test_tenancy import TENANT, TENANT_ROLE, aws_as, m5

pytestmark = pytest.mark.cluster


class Inbox:
    """An SQS queue subscribed to an SNS topic: what the topic's subscribers see."""

    def __init__(self, sandbox: Any, role: str | None = None, name: str | None = None) -> None:
        name = name or f"notify-{secrets.token_hex(4)}"
        self.sns, self.sqs = aws_as(sandbox, "sns", role), aws_as(sandbox, "sqs", role)
        self.topic = self.sns.create_topic(Name=name)["TopicArn"]
        self.url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=arn)
        self.seen: list[dict[str, Any]] = []

    def read(self, wait: int = 1) -> list[dict[str, Any]]:
        """Every message so far (SNS's envelope, with `Message` parsed)."""
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
            ).get("Messages", [])
            if not batch:
                return self.seen
            for message in batch:
                envelope = json.loads(message["Body"])
                envelope["Message"] = json.loads(envelope["Message"])
                self.seen.append(envelope)
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
            wait = 0

    def reasons(self) -> list[str]:
        return [m["Message"]["reason"] for m in self.read()]

    def wait_reason(self, reason: str, count: int = 1) -> list[dict[str, Any]]:
        return wait_for(
            f"{count} {reason} notification(s)",
            lambda: (
                found
                if len(found := [m for m in self.read() if m["Message"]["reason"] == reason])
                >= count
                else None
            ),
            timeout=60,
        )


def keys(messages: list[dict[str, Any]]) -> list[str]:
    return [m["MessageAttributes"]["dedupeKey"]["Value"] for m in messages]


def test_each_transition_notifies_once_across_a_restart(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    inbox = Inbox(sandbox)
    operator.start(SAGEMETER_NOTIFY_SNS_TOPIC_ARN=inbox.topic)
    kube.apply(endpoint_object("falcon", expiry={"ttl": "30m", "warnBefore": "1h"}))
    (soon,) = inbox.wait_reason("ExpiringSoon")
    uid = kube.get("falcon")["metadata"]["uid"]  # type: ignore[index]
    assert soon["Subject"] == f"sagemeter: {namespace}/falcon ExpiringSoon"
    body = soon["Message"]
    assert body["namespace"] == namespace and body["name"] == "falcon" and body["uid"] == uid
    assert body["extend"] == {"kubectl": f"kubectl sagemeter extend falcon 1h -n {namespace}"}
    assert body["timeLeft"] and body["expiresAt"] == kube.status("falcon")["expiresAt"]
    attributes = {k: v["Value"] for k, v in soon["MessageAttributes"].items()}
    assert attributes == {
        "namespace": namespace,
        "name": "falcon",
        "reason": "ExpiringSoon",
        "event": "ExpiringSoon",
        "dedupeKey": body["dedupeKey"],
    }
    assert body["dedupeKey"].startswith(f"{uid}/ExpiringSoon/")
    kube.wait_phase("falcon", "InService")
    kube.patch("falcon", {"spec": {"suspend": True}})
    (parked,) = inbox.wait_reason("Suspended")
    assert parked["Message"]["event"] == "Parked" and parked["Message"]["phase"] == "Parked"
    # Recorded in status; ExpiringSoon's record went with its condition (not running now).
    wait_for(
        "the park recorded in status",
        lambda: (
            [(r["event"], r["reason"]) for r in kube.status("falcon").get("notified", [])]
            == [("Parked", "Suspended")]
        ),
    )

    operator.stop()
    operator.start(SAGEMETER_NOTIFY_SNS_TOPIC_ARN=inbox.topic)
    operator.wait_passes(3)
    assert inbox.reasons() == ["ExpiringSoon", "Suspended"]

    kube.patch(
        "falcon", {"spec": {"suspend": False, "expiry": {"expiresAt": "2020-01-01T00:00:00Z"}}}
    )
    (expired,) = inbox.wait_reason("Expired")
    assert "expired at 2020-01-01T00:00:00Z" in expired["Message"]["detail"] or expired
    operator.wait_passes(2)
    assert len(set(keys(inbox.read()))) == len(inbox.read()) == 3


def test_a_crash_after_sns_took_a_message_repeats_it_with_the_same_key(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    inbox = Inbox(sandbox)
    operator.start(SAGEMETER_NOTIFY_SNS_TOPIC_ARN=inbox.topic)
    kube.apply(endpoint_object("crash", suspend=True))
    kube.wait_phase("crash", "Parked")
    (first,) = inbox.wait_reason("Suspended")
    operator.wait_passes(2)
    faults = FaultClient(sandbox.aws_endpoint_url)
    assert operator.process is not None
    # The next notification kills the operator once SNS has taken it, before it is recorded.
    faults.kill_after("sns", "Publish", operator.process.pid, contains=namespace)
    kube.patch(
        "crash", {"spec": {"suspend": False, "expiry": {"expiresAt": "2020-01-01T00:00:00Z"}}}
    )
    assert operator.wait_exit(timeout=60) == -signal.SIGKILL
    faults.clear()
    (taken,) = inbox.wait_reason("Expired")
    operator.start(SAGEMETER_NOTIFY_SNS_TOPIC_ARN=inbox.topic)
    repeated = inbox.wait_reason("Expired", count=2)
    assert keys(repeated) == [keys([taken])[0]] * 2  # the same transition, the same key
    wait_for(
        "the record",
        lambda: (
            {r["reason"] for r in kube.status("crash").get("notified", [])}
            == {"Suspended", "Expired"}
        ),  # one park: Suspended, then Expired
    )
    operator.wait_passes(3)
    assert inbox.reasons() == ["Suspended", "Expired", "Expired"]
    assert keys([first]) != keys([taken])


def test_a_tenants_notifications_are_published_in_the_tenants_account(
    operator: Operator,
    kube: Kubectl,
    sandbox: Any,
    namespace: str,
    policies: Callable[..., str],
) -> None:
    tenant_inbox = Inbox(sandbox, role=TENANT_ROLE)
    # A topic of the same name in the operator's own account: it must stay empty.
    own_inbox = Inbox(sandbox, name=tenant_inbox.topic.rsplit(":", 1)[1])
    assert f":{TENANT}:" in tenant_inbox.topic
    started = time.time()
    policies(
        f"{namespace}-a",
        [namespace],
        aws={"roleArn": TENANT_ROLE},
        notifications={"snsTopicArn": tenant_inbox.topic},
    )
    operator.start(SAGEMETER_NOTIFY_SNS_TOPIC_ARN=own_inbox.topic)
    kube.apply(m5("falcon", suspend=True))
    (parked,) = tenant_inbox.wait_reason("Suspended")
    assert parked["TopicArn"] == tenant_inbox.topic
    operator.wait_passes(2)
    assert own_inbox.read() == []  # the operator's topic is for namespaces no policy names
    published = FaultClient(sandbox.aws_endpoint_url).requests("sns:Publish", since=started)
    assert published and {r["account"] for r in published} == {TENANT}, published


def test_a_policy_topic_outside_the_roles_account_is_refused_at_apply(
    sandbox: Any, namespace: str
) -> None:
    body = {
        "apiVersion": "sagemeter.io/v1alpha1",
        "kind": "EndpointPolicy",
        "metadata": {"name": f"{namespace}-elsewhere"},
        "spec": {
            "namespaceSelector": {"names": [namespace]},
            "aws": {"roleArn": TENANT_ROLE},
            "notifications": {"snsTopicArn": "arn:aws:sns:us-east-1:222222222222:elsewhere"},
        },
    }
    result = sandbox.kubectl_run("apply", "-f", "-", input=json.dumps(body), check=False)
    assert result.returncode != 0
    assert "spec.notifications.snsTopicArn must be in the account of spec.aws.roleArn" in (
        result.stderr
    )


def test_a_publish_sns_refuses_is_reported_on_the_object(
    operator: Operator, kube: Kubectl, namespace: str
) -> None:
    missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    operator.start(SAGEMETER_NOTIFY_SNS_TOPIC_ARN=missing)
    kube.apply(endpoint_object("unheard", suspend=True))
    kube.wait_phase("unheard", "Parked")
    event = wait_for(
        "a NotificationFailed Event",
        lambda: next(
            (e for e in kube.events("unheard") if e["reason"] == "NotificationFailed"), None
        ),
    )
    assert event["type"] == "Warning" and missing in event["message"]
    assert "NotFound" in event["message"]
    operator.wait_passes(2)
    assert not kube.status("unheard").get("notified")  # nothing went out, nothing recorded
