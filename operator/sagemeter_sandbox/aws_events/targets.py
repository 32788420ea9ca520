"""What one EventBridge target receives, and handing it to an SQS queue the way EventBridge does.

Owns a target's input (EventBridge User Guide, "Amazon EventBridge input transformation",
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html, and the
API reference's ``Target``): the whole event as JSON (moto left out ``account``); ``Input``, sent
as written; ``InputPath``, the selected part as JSON; ``InputTransformer``, whose
``InputPathsMap`` values fill ``<name>`` placeholders of ``InputTemplate`` together with the
predefined ``aws.events.rule-arn``, ``aws.events.rule-name``, ``aws.events.event.ingestion-time``,
``aws.events.event`` (the event without ``detail``) and ``aws.events.event.json``. In a JSON
template a placeholder inside a string gets the value's text, elsewhere its JSON (``null`` for a
path that selects nothing); a template that is not JSON is filled with plain text and sent as a
JSON string, quotes included. Paths are the documented subset: dot names (dashes allowed) and
``[n]`` indexes, no wildcards.

And the delivery to an SQS queue (``send_to_queue``), which moto made without any check: the
queue named by the target's ARN (its account and region) must exist; its policy must let
``events.amazonaws.com`` ``sqs:SendMessage`` with ``aws:SourceArn`` the rule's ARN and
``aws:SourceAccount`` its account ("For Lambda, Amazon SNS, Amazon SQS, and Amazon CloudWatch
Logs resources, EventBridge uses resource-based policies", User Guide, "Using resource-based
policies for Amazon EventBridge"); a queue encrypted with a KMS key needs a customer managed key
whose key policy lets ``events.amazonaws.com`` ``kms:GenerateDataKey`` and ``kms:Decrypt`` (SQS
Developer Guide, "Key management": services that send to encrypted queues need a customer managed
key; the AWS managed ``alias/aws/sqs`` cannot be granted), SSE-SQS needs nothing; a FIFO queue needs
``SqsParameters.MessageGroupId`` and content-based deduplication. Each message carries one event;
its body is the target's input. A refused delivery raises ``DeliveryError``; EventBridge would
retry it for up to 24 hours, the local AWS records it once (``journal``). It does not choose
targets (``bus``) nor evaluate policies (``policy``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from moto.kms.models import kms_backends
from moto.sqs.models import sqs_backends

from .policy import Request, decide

__all__ = ["DeliveryError", "payload", "send_to_queue"]

EVENTS_PRINCIPAL = "events.amazonaws.com"
AWS_MANAGED_SQS_KEY = "alias/aws/sqs"
_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_RAW_JSON = ("aws.events.event", "aws.events.event.json")  # inserted unescaped, per the guide
_MISSING = object()


class DeliveryError(RuntimeError):
    """The target refused the event (why, in EventBridge's terms)."""


# --------------------------------------------------------------------------- input


def select(document: Any, path: str) -> Any:
    """The value at JSON path ``path`` (``$.detail.state.value``, ``$.resources[0]``), or
    ``_MISSING``."""
    rest = path.strip()
    if not rest.startswith("$"):
        return _MISSING
    value, rest = document, rest[1:]
    while rest:
        step = _STEP.match(rest)
        if step is None:
            return _MISSING
        rest = rest[step.end() :]
        name, index = step.group(1), step.group(2)
        if name is not None and isinstance(value, dict) and name in value:
            value = value[name]
        elif index is not None and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return _MISSING
    return value


def _predefined(rule: Any, event: Mapping[str, Any], ingestion_time: str) -> dict[str, Any]:
    return {
        "aws.events.rule-arn": rule.arn,
        "aws.events.rule-name": rule.name,
        "aws.events.event.ingestion-time": ingestion_time,
        "aws.events.event": {k: v for k, v in event.items() if k != "detail"},
        "aws.events.event.json": dict(event),
    }


def _transform(
    transformer: Mapping[str, Any], rule: Any, event: Mapping[str, Any], ingestion_time: str
) -> str:
    values = {
        name: select(event, path) for name, path in (transformer.get("InputPathsMap") or {}).items()
    }
    values.update(_predefined(rule, event, ingestion_time))
    template = str(transformer.get("InputTemplate") or "")
    is_json = template.lstrip()[:1] in ("{", "[")
    out: list[str] = []
    in_string, escaped, i = False, False, 0
    while i < len(template):
        found = _PLACEHOLDER.match(template, i)
        if found is not None and found.group(1) in values:
            out.append(_fill(found.group(1), values[found.group(1)], is_json, in_string))
            i = found.end()
            continue
        char = template[i]
        if is_json and not escaped and char == '"':
            in_string = not in_string
        escaped = char == "\\" and not escaped
        out.append(char)
        i += 1
    text = "".join(out)
    return text if is_json else json.dumps(text)


def _fill(name: str, value: Any, is_json: bool, in_string: bool) -> str:
    if name in _RAW_JSON:
        return json.dumps(value)
    if value is _MISSING:
        return "null" if is_json and not in_string else ""
    text = value if isinstance(value, str) else json.dumps(value)
    if not is_json:
        return text
    return json.dumps(text)[1:-1] if in_string else json.dumps(value)


def payload(
    rule: Any, target: Mapping[str, Any], event: Mapping[str, Any], ingestion_time: str
) -> str:
    """The text ``target`` of ``rule`` receives for ``event``."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        selected = select(event, str(target["InputPath"]))
        return "null" if selected is _MISSING else json.dumps(selected)
    if target.get("InputTransformer"):
        return _transform(target["InputTransformer"], rule, event, ingestion_time)
    return json.dumps(event)


# --------------------------------------------------------------------------- SQS


def _key_allows(key_id: str, account: str, region: str, context: Mapping[str, str]) -> None:
    if key_id == AWS_MANAGED_SQS_KEY or key_id.endswith(":" + AWS_MANAGED_SQS_KEY):
        raise DeliveryError(
            f"the queue is encrypted with the AWS managed key {key_id}, whose "
            "key policy cannot let events.amazonaws.com use it"
        )
    backend = kms_backends[account][region]
    try:
        key = backend.describe_key(key_id)
    except Exception as error:  # moto raises KeyError or NotFoundException
        raise DeliveryError(f"the queue's KMS key {key_id} does not exist") from error
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        allowed, why = decide(key.policy, Request(EVENTS_PRINCIPAL, action, key.arn, context))
        if not allowed:
            raise DeliveryError(f"KMS key {key.arn}: {why}")


def send_to_queue(rule: Any, target: Mapping[str, Any], body: str) -> str:
    """Sends ``body`` to the queue ``target`` names, as EventBridge would for ``rule``; answers
    the message id or raises ``DeliveryError``."""
    _, _, _, region, account, name = str(target["Arn"]).split(":", 5)
    queue = sqs_backends[account][region].queues.get(name)
    if queue is None:
        raise DeliveryError(f"queue {target['Arn']} does not exist")
    context = {"aws:SourceArn": rule.arn, "aws:SourceAccount": rule.account_id}
    allowed, why = decide(
        queue.policy, Request(EVENTS_PRINCIPAL, "sqs:SendMessage", queue.queue_arn, context)
    )
    if not allowed:
        raise DeliveryError(f"queue policy of {queue.queue_arn}: {why}")
    key_id = getattr(queue, "kms_master_key_id", None)  # set from the queue's attributes
    if key_id:
        _key_allows(str(key_id), account, region, context)
    group = (target.get("SqsParameters") or {}).get("MessageGroupId")
    if queue.fifo_queue:
        if not group:
            raise DeliveryError("a FIFO queue target needs SqsParameters.MessageGroupId")
        if str(getattr(queue, "content_based_deduplication", "false")).lower() != "true":
            raise DeliveryError("a FIFO queue target needs content-based deduplication")
    message = sqs_backends[account][region].send_message(
        queue_name=name, message_body=body, group_id=group if queue.fifo_queue else None
    )
    return str(message.id)
