"""Limits AWS documents that the service models botocore ships do not carry.

botocore's JSON models (``botocore/data/<service>/<version>/service-2.json``) hold most of what
AWS refuses as malformed: required members, lengths, ranges, enums and patterns. A few limits
live only in AWS's prose. They are written down here, once, each with its source, and used by
everything that must respect them: the CRD (what users type), the operator's naming (what it
derives, within the limit by construction) and the contract check of the test harness
(``sagemeter_sandbox.contract``), which applies them to every request as if the model had them.

Patterns are Java-style, as in botocore's models (``\\p{L}`` and friends), and are full matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["DOCUMENTED_LIMITS", "TAG_KEY", "TAG_VALUE", "DocumentedLimit", "documented_limit"]


@dataclass(frozen=True)
class DocumentedLimit:
    """What AWS accepts for one request member; ``member`` is a dotted path from the input."""

    service: str  # botocore's service name
    operation: str
    member: str
    source: str
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None


DOCUMENTED_LIMITS: Final[tuple[DocumentedLimit, ...]] = (
    DocumentedLimit(
        "sns",
        "Publish",
        "Subject",
        "SNS API reference, Publish, Subject: 'Subjects must be text with no line breaks or"
        " control characters, and less than 100 characters long.'"
        " (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html)",
        min_length=1,
        max_length=99,
        pattern=r"[^\p{Cc}]+",
    ),
    DocumentedLimit(
        "ssm",
        "PutParameter",
        "Name",
        "Systems Manager user guide, 'Parameter name requirements': a-zA-Z0-9_.-/ only, at most"
        " 15 levels of hierarchy, no 'aws' or 'ssm' prefix, and at most 1011 characters with"
        " the parameter's ARN (arn:aws:ssm:<region>:<account>:parameter, 51 characters at most"
        " in the commercial regions, leaves 960)"
        " (https://docs.aws.amazon.com/systems-manager/latest/userguide/"
        "sysman-paramstore-su-create.html)",
        min_length=1,
        max_length=960,
        pattern=r"(?!/?(?i:aws|ssm))/?[a-zA-Z0-9_.\-]+(/[a-zA-Z0-9_.\-]+){0,14}",
    ),
    DocumentedLimit(
        "apigateway",
        "CreateResource",
        "pathPart",
        "API Gateway answers BadRequestException \"Resource's path part only allow"
        " a-zA-Z0-9._- and curly braces at the beginning and the end and an optional plus sign"
        ' before the closing brace" (quoted in claudiajs/claudia#11 and getmoto/moto#6148,'
        " where AWS was found to accept ':' too; API Gateway developer guide, 'Amazon API"
        " Gateway important notes for REST APIs')",
        min_length=1,
        pattern=r"[a-zA-Z0-9._:\-]+|\{[a-zA-Z0-9._\-]+\+?\}",
    ),
    DocumentedLimit(
        "cloudwatch",
        "PutMetricAlarm",
        "AlarmName",
        "CloudWatch API reference, PutMetricAlarm, AlarmName: 'The name must contain only UTF-8"
        " characters, and can't contain ASCII control characters'"
        " (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/"
        "API_PutMetricAlarm.html)",
        pattern=r"[^\x00-\x1F\x7F]+",
    ),
    DocumentedLimit(
        "sqs",
        "CreateQueue",
        "QueueName",
        "SQS API reference, CreateQueue, QueueName: 'A queue name can have up to 80 characters."
        " Valid values: alphanumeric characters, hyphens (-), and underscores (_).' (a FIFO"
        " queue's name ends in .fifo)"
        " (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/"
        "API_CreateQueue.html)",
        min_length=1,
        max_length=80,
        pattern=r"[a-zA-Z0-9_\-]+(\.fifo)?",
    ),
)


def documented_limit(service: str, operation: str, member: str) -> DocumentedLimit | None:
    for limit in DOCUMENTED_LIMITS:
        if (limit.service, limit.operation, limit.member) == (service, operation, member):
            return limit
    return None


# SageMaker's tags (botocore: shapes TagKey, TagValue, TagList; the SageMaker API reference,
# Tag): what spec.tags and sagemeter's own tags must satisfy on every resource sagemeter tags.
TAG_KEY: Final = {"min_length": 1, "max_length": 128, "pattern": r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"}
TAG_VALUE: Final = {"min_length": 0, "max_length": 256, "pattern": r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"}
