"""The SNS gateway of notifications: one `Publish` per message and topic.

Owns the shape of the call (string message attributes; a FIFO topic's group and deduplication
ids) and nothing else: messages are built by ``sagemeter.core.notify``, retries and records
kept by ``sagemeter.notify``. Raises ``AwsError``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sagemeter.aws.clients import Identity
from sagemeter.aws.gateway import Gateway

__all__ = ["TopicGateway", "topic_region"]


def topic_region(topic_arn: str) -> str:
    """``arn:aws:sns:<region>:<account>:<name>`` -> ``<region>``."""
    return topic_arn.split(":")[3]


class TopicGateway(Gateway):
    SERVICE = "sns"

    def __init__(self, region: str, client: Any | None = None, identity: Identity | None = None):
        super().__init__(region, client, identity)

    def publish(
        self,
        topic_arn: str,
        subject: str,
        message: str,
        attributes: Mapping[str, str],
        dedupe_key: str,
        group: str,
    ) -> str:
        """The message id. A FIFO topic drops a repeat of `dedupe_key` within its five-minute
        deduplication interval (SNS's MessageDeduplicationId: at most 128 characters, so a
        digest of the key) and orders one object's messages (`group`)."""
        params: dict[str, Any] = {
            "TopicArn": topic_arn,
            "Subject": subject,
            "Message": message,
            "MessageAttributes": {
                key: {"DataType": "String", "StringValue": value}
                for key, value in attributes.items()
            },
        }
        if topic_arn.endswith(".fifo"):
            params["MessageGroupId"] = group[:128]
            params["MessageDeduplicationId"] = hashlib.sha256(dedupe_key.encode()).hexdigest()
        return str(self._call("Publish", **params).get("MessageId", ""))
