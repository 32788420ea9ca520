"""Counting AWS calls: how many API calls, HTTP attempts and errors the operator makes.

Owns ``CallCounter`` and the process-wide ``CALLS`` that ``aws.clients`` attaches to every
client. Tests and benchmarks read it to hold the operator to its call budget (SPEC: "well under
one AWS call per endpoint per hour" in steady state). It hooks botocore's event system:

* ``provide-client-params`` fires once per API call, before validation, retries or stubs;
* ``before-send`` fires once per HTTP attempt, so retries show up as attempts > calls;
* ``after-call`` (HTTP status >= 300) and ``after-call-error`` (no HTTP response at all)
  report the call's final failure, once per call.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

__all__ = ["CALLS", "CallCounter"]

_CONTEXT_KEY = "sagemeter.call"  # (service, operation), stashed in botocore's request context


class CallCounter:
    """Thread-safe counts keyed ``"<service>:<Operation>"`` (errors: ``...:<ErrorCode>``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._attempts: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()

    def attach(self, target: Any) -> None:
        """Counts calls of a boto3 client, or of every client a boto3 Session creates later.

        Attaching the same counter twice is harmless: botocore keeps one handler per id.
        """
        events = target.meta.events if hasattr(target, "meta") else target.events
        uid = f"sagemeter-calls-{id(self)}"
        events.register("provide-client-params", self._on_call, unique_id=f"{uid}-call")
        events.register("before-send", self._on_attempt, unique_id=f"{uid}-send")
        events.register("after-call", self._on_response, unique_id=f"{uid}-response")
        events.register("after-call-error", self._on_exception, unique_id=f"{uid}-exception")

    # ------------------------------------------------------------------ botocore handlers

    def _on_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        # The botocore service name ("sagemaker", "cloudwatch", "apigateway") is what boto3
        # users type; the event name carries the hyphenated service id instead.
        key = f"{model.service_model.service_name}:{model.name}"
        context[_CONTEXT_KEY] = key
        with self._lock:
            self._calls[key] += 1

    def _on_attempt(self, request: Any, **_: Any) -> None:
        key = getattr(request, "context", {}).get(_CONTEXT_KEY)
        if key:
            with self._lock:
                self._attempts[key] += 1

    def _on_response(
        self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        key = context.get(_CONTEXT_KEY)
        if key and http_response.status_code >= 300:
            code = parsed.get("Error", {}).get("Code") or str(http_response.status_code)
            with self._lock:
                self._errors[f"{key}:{code}"] += 1

    def _on_exception(self, exception: BaseException, context: dict[str, Any], **_: Any) -> None:
        key = context.get(_CONTEXT_KEY)
        if key:
            with self._lock:
                self._errors[f"{key}:{type(exception).__name__}"] += 1

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> dict[str, int]:
        """API calls so far, e.g. ``{"sagemaker:CreateEndpoint": 2}``."""
        with self._lock:
            return dict(self._calls)

    def attempts_snapshot(self) -> dict[str, int]:
        """HTTP attempts so far (calls plus botocore's retries; stubbed calls send nothing)."""
        with self._lock:
            return dict(self._attempts)

    def errors_snapshot(self) -> dict[str, int]:
        """Failed calls so far, e.g. ``{"sagemaker:DescribeEndpoint:ValidationException": 1}``."""
        with self._lock:
            return dict(self._errors)

    def total(self) -> int:
        with self._lock:
            return sum(self._calls.values())

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._attempts.clear()
            self._errors.clear()


CALLS = CallCounter()
