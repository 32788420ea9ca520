"""The SQS and EventBridge gateways of sagemeter's event queue: every call, one method each.

Owns the shape of those calls (queue attributes as strings, tags, targets) and nothing else:
policies and patterns are built by ``sagemeter.core.wake``, decisions made by
``sagemeter.wake``. Methods are synchronous and raise ``AwsError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sagemeter.aws.clients import Identity
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.aws.gateway import Gateway

__all__ = ["EventsGateway", "QueueGateway"]

LONG_POLL_SECONDS = 20  # SQS's longest wait


class QueueGateway(Gateway):
    SERVICE = "sqs"

    def __init__(self, region: str, client: Any | None = None, identity: Identity | None = None):
        super().__init__(region, client, identity)

    def ensure_queue(self, name: str, policy: Mapping[str, Any], tags: Mapping[str, str]) -> str:
        """The queue's URL; created (server-side encrypted, tagged, with `policy`) when
        missing. An existing queue is left as it is: `set_policy` changes its policy."""
        # A message nobody could act on yet (its object not seen since a restart) comes back
        # after a few seconds, not after SQS's default 30.
        attributes = {
            "SqsManagedSseEnabled": "true",
            "Policy": json.dumps(policy),
            "MessageRetentionPeriod": "3600",
            "VisibilityTimeout": "5",
        }
        try:
            return str(self._call("GetQueueUrl", QueueName=name)["QueueUrl"])
        except AwsError as exc:
            if exc.kind is not ErrorKind.NOT_FOUND and "NonExistentQueue" not in exc.code:
                raise
        return str(
            self._call("CreateQueue", QueueName=name, Attributes=attributes, tags=dict(tags))[
                "QueueUrl"
            ]
        )

    def set_policy(self, url: str, policy: Mapping[str, Any]) -> None:
        """`SetQueueAttributes` is idempotent: the same policy twice changes nothing."""
        self._call("SetQueueAttributes", QueueUrl=url, Attributes={"Policy": json.dumps(policy)})

    def queue_arn(self, url: str) -> str:
        found = self._call("GetQueueAttributes", QueueUrl=url, AttributeNames=["QueueArn"])
        return str(found["Attributes"]["QueueArn"])

    def receive(self, url: str, wait: int = LONG_POLL_SECONDS) -> list[dict[str, Any]]:
        found = self._call(
            "ReceiveMessage",
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["SentTimestamp"],
        )
        return list(found.get("Messages", []))

    def delete(self, url: str, receipts: list[str]) -> int:
        """Deletes up to 10 received messages in one call (IAM: `sqs:DeleteMessage`); answers
        how many SQS could not delete (they come back after the visibility timeout)."""
        if not receipts:
            return 0
        found = self._call(
            "DeleteMessageBatch",
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts)],
        )
        return len(found.get("Failed") or [])


class EventsGateway(Gateway):
    SERVICE = "events"

    def __init__(self, region: str, client: Any | None = None, identity: Identity | None = None):
        super().__init__(region, client, identity)

    def ensure_rule(
        self, name: str, pattern: Mapping[str, Any], target_arn: str, tags: Mapping[str, str]
    ) -> str:
        """The rule's ARN; `PutRule` and `PutTargets` are idempotent by name and target id."""
        arn = str(
            self._call(
                "PutRule",
                Name=name,
                EventPattern=json.dumps(pattern),
                State="ENABLED",
                Description="sagemeter: events of sagemeter's endpoints and idle alarms",
                Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            )["RuleArn"]
        )
        self._call("PutTargets", Rule=name, Targets=[{"Id": "sagemeter-queue", "Arn": target_arn}])
        return arn
