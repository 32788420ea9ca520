"""One log line per AWS action (every call that changes something), naming the
ManagedEndpoint and the SageMaker endpoint it was made for.

The reconcile pass sets `AWS_CONTEXT` for its object; `Workers.run` carries the
context into the thread that makes the call, and a botocore `after-call` hook
writes the line (with `object`, `endpoint` and `operation` fields in JSON logs).
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from typing import Any

log = logging.getLogger("sagemeter.aws")
AWS_CONTEXT: ContextVar[dict[str, str] | None] = ContextVar("aws_context", default=None)
_READS = re.compile(r"^(Describe|List|Get|BatchGet)")


def attach(client: Any) -> None:
    client.meta.events.register("after-call", _after_call)


def _after_call(http_response: Any, model: Any, **_: Any) -> None:
    operation = model.name
    if _READS.match(operation):
        return
    service = model.service_model.service_name
    context = AWS_CONTEXT.get() or {}
    outcome = "ok" if http_response.status_code < 300 else f"HTTP {http_response.status_code}"
    log.info(
        "aws %s:%s %s (%s, endpoint %s)",
        service,
        operation,
        outcome,
        context.get("object", "-"),
        context.get("endpoint", "-"),
        extra={**context, "operation": f"{service}:{operation}"},
    )
