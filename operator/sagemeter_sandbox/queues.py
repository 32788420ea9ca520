"""SQS messages made old on request, so tests of "older than N seconds" need no wait.

A message's age is what SQS reports in its ``SentTimestamp`` attribute (epoch milliseconds,
set when it was sent). ``POST /sagemeter-api/queues/<region>/<name>/age`` with
``{"seconds": 90, "accountId"?: ...}`` moves the ``SentTimestamp`` of every message in the
queue (visible, in flight or delayed) that many seconds into the past, as if it had waited
that long, and answers ``{"aged": n}``. Nothing else about the messages changes (visibility,
receive counts, retention): a test stops the consumer, sends, ages, and starts it again.
"""

from __future__ import annotations

from typing import Any

from moto.sqs.models import sqs_backends

from sagemeter_sandbox.endpoint_states import DEFAULT_ACCOUNT

__all__ = ["control"]

USAGE = 'POST /sagemeter-api/queues/<region>/<name>/age {"seconds": n}'


def control(method: str, path: list[str], body: Any) -> tuple[int, Any]:
    """``/sagemeter-api/queues/<region>/<name>/age``: ``path`` is what follows ``queues``."""
    if method != "POST" or len(path) != 3 or path[2] != "age" or not isinstance(body, dict):
        return 404, {"error": f"use {USAGE}"}
    region, name = path[0], path[1]
    seconds = body.get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        return 400, {"error": f"seconds must be a number of seconds >= 0: {seconds!r}"}
    account = str(body.get("accountId") or DEFAULT_ACCOUNT)
    queue = sqs_backends[account][region].queues.get(name)
    if queue is None:
        return 404, {"error": f"no queue {name} in {account}/{region}"}
    aged = 0
    for message in list(queue._messages):
        if message.sent_timestamp is not None:
            message.sent_timestamp = int(message.sent_timestamp - seconds * 1000)
            aged += 1
    return 200, {"aged": aged}
