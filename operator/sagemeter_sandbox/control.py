"""The client of the local AWS's control API: ``FaultClient``, for tests, benchmarks and people.

Owns the typed Python side of ``/sagemeter-api/``: adding, reading and clearing fault rules
(served by ``faults``, whose docstring describes every rule), forcing SageMaker endpoint
statuses (served by ``endpoint_states``), evaluating CloudWatch alarms (served by ``alarms``),
setting SageMaker's instance quotas (served by ``quotas``) and reading the EventBridge events
the local AWS emitted (served by ``aws_events``). Needs only the standard library, so it can
drive a local AWS running in another process::

    faults = FaultClient("http://127.0.0.1:5000")
    faults.throttle(service="sagemaker", operation="CreateEndpoint", rate=0.2)
    faults.kill_after("sagemaker", "CreateModel", pid=operator_pid)
    faults.set_endpoint_status("my-endpoint", "SystemUpdating", seconds=5, then="InService")
    faults.evaluate_alarm("sagemeter-my-endpoint-idle")  # {"state": "OK", ...} (``alarms``)
    faults.set_quotas({"ml.g5.2xlarge": 1})  # ResourceLimitExceeded beyond it (``quotas``)
    faults.stats().injected  # {"throttle": 3, "kill": 1}
    faults.events(source="aws.sagemaker")  # [{"event": {...}, "deliveries": [...]}, ...]
    faults.clear()
    faults.requests(call="sagemaker:DeleteEndpoint")  # what reached AWS, when (``requestlog``)
"""

from __future__ import annotations

import json
import signal as signals
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CONTROL_PREFIX", "FaultClient", "FaultControlError", "FaultStats"]

CONTROL_PREFIX = "/sagemeter-api/"


class FaultControlError(RuntimeError):
    """The local AWS refused a control request (HTTP status and its error text)."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"HTTP {status}: {error}")
        self.status = status


@dataclass(frozen=True)
class FaultStats:
    """``GET /sagemeter-api/faults``: the seed, counters and every rule with its own counters."""

    seed: int
    requests: int  # AWS requests seen while any rule was set
    injected: dict[str, int]  # per kind
    by_operation: dict[str, dict[str, int]]  # "sagemaker:CreateModel" -> kind -> n
    rules: list[dict[str, Any]]

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> FaultStats:
        return cls(doc["seed"], doc["requests"], doc["injected"], doc["byOperation"], doc["rules"])


class FaultClient:
    """Drives a local AWS's faults and endpoint statuses over HTTP; rule methods return ids."""

    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        self.url = endpoint_url.rstrip("/") + CONTROL_PREFIX
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise FaultControlError(exc.code, exc.read().decode(errors="replace")) from exc

    def add(self, *rules: Mapping[str, Any]) -> list[int]:
        """Adds raw rules (see the module docstring)."""
        found = self._call(
            "POST", "faults", [{k: v for k, v in r.items() if v is not None} for r in rules]
        )
        return [rule["id"] for rule in found["rules"]]

    def throttle(
        self,
        service: str | None = None,
        operation: str | None = None,
        rate: float = 1.0,
        *,
        contains: str | None = None,
        account: str | None = None,
    ) -> int:
        """Throttles matching calls; ``account``: only calls signed by that account's keys."""
        return self.add(
            {
                "fault": "throttle",
                "service": service,
                "operation": operation,
                "rate": rate,
                "contains": contains,
                "account": account,
            }
        )[0]

    def error(
        self,
        status: int = 503,
        rate: float = 1.0,
        service: str | None = None,
        operation: str | None = None,
        *,
        code: str | None = None,
        contains: str | None = None,
    ) -> int:
        return self.add(
            {
                "fault": "error",
                "status": status,
                "rate": rate,
                "code": code,
                "service": service,
                "operation": operation,
                "contains": contains,
            }
        )[0]

    def latency(
        self,
        seconds: float,
        rate: float = 1.0,
        service: str | None = None,
        operation: str | None = None,
        *,
        contains: str | None = None,
    ) -> int:
        return self.add(
            {
                "fault": "latency",
                "seconds": seconds,
                "rate": rate,
                "service": service,
                "operation": operation,
                "contains": contains,
            }
        )[0]

    def outage(self, seconds: float, mode: str = "reset", service: str | None = None) -> int:
        return self.add({"fault": "outage", "seconds": seconds, "mode": mode, "service": service})[
            0
        ]

    def kill_after(
        self,
        service: str,
        operation: str,
        pid: int,
        signal: int = signals.SIGKILL,
        count: int = 1,
        *,
        contains: str | None = None,
    ) -> int:
        return self.add(
            {
                "fault": "kill",
                "service": service,
                "operation": operation,
                "pid": pid,
                "signal": int(signal),
                "count": count,
                "contains": contains,
            }
        )[0]

    def seed(self, value: int) -> None:
        self._call("POST", "faults", {"seed": value, "rules": []})

    def clear(self) -> FaultStats:
        """Forgets every rule and counter; answers the stats from just before."""
        return FaultStats.from_json(self._call("DELETE", "faults"))

    def stats(self) -> FaultStats:
        return FaultStats.from_json(self._call("GET", "faults"))

    def requests(
        self,
        call: str | None = None,
        *,
        since: float | None = None,
        contains: str | None = None,
        account: str | None = None,
        session: str | None = None,
    ) -> list[dict[str, Any]]:
        """Calls that reached the local AWS (``requestlog``): ``ts``, ``ms``, ``call``,
        ``status``, ``name`` and who signed them (``account``, ``role``, ``session``,
        ``sessionTags``); ``call`` is "service:Operation", several joined by commas."""
        query = {
            "call": call,
            "since": since,
            "contains": contains,
            "account": account,
            "session": session,
        }
        text = "&".join(f"{k}={urllib.parse.quote(str(v))}" for k, v in query.items() if v)
        found: list[dict[str, Any]] = self._call("GET", f"requests?{text}")["requests"]
        return found

    def clear_requests(self) -> int:
        """Forgets the request log; answers how many entries it had."""
        return int(self._call("DELETE", "requests")["total"])

    def endpoint_status(
        self, name: str, *, region: str = "us-east-1", account_id: str | None = None
    ) -> dict[str, Any]:
        """A SageMaker endpoint's status and failure reason, as the next call would see them."""
        query = f"?accountId={account_id}" if account_id else ""
        found: dict[str, Any] = self._call("GET", f"endpoints/{region}/{name}/status{query}")
        return found

    def expire_credentials(self, role_arn: str) -> int:
        """Expires now every credential `sts:AssumeRole` issued for `role_arn`; how many."""
        answer = self._call("POST", "credentials/expire", {"roleArn": role_arn})
        return int(answer["expired"])

    def set_endpoint_status(
        self,
        name: str,
        status: str,
        *,
        seconds: float | None = None,
        then: str | None = None,
        failure_reason: str | None = None,
        region: str = "us-east-1",
        account_id: str | None = None,
    ) -> dict[str, Any]:
        """Puts a SageMaker endpoint into ``status`` (``endpoint_states.force_status``)."""
        body = {
            "status": status,
            "seconds": seconds,
            "then": then,
            "failureReason": failure_reason,
            "accountId": account_id,
        }
        found: dict[str, Any] = self._call(
            "POST",
            f"endpoints/{region}/{name}/status",
            {k: v for k, v in body.items() if v is not None},
        )
        return found

    def set_quotas(
        self,
        quotas: Mapping[str, int] | str,
        *,
        region: str = "us-east-1",
        account_id: str | None = None,
    ) -> dict[str, Any]:
        """Adds SageMaker endpoint instance quotas for one account and region (``quotas``):
        ``{"ml.p4d.24xlarge": 1}``, or ``"aws-defaults"`` for a new account's. Answers the
        entries in force and the usage."""
        body: dict[str, Any] = {"quotas": quotas if isinstance(quotas, str) else dict(quotas)}
        if account_id:
            body["accountId"] = account_id
        found: dict[str, Any] = self._call("POST", f"quotas/{region}", body)
        return found

    def quotas(self, *, region: str = "us-east-1", account_id: str | None = None) -> dict[str, Any]:
        """``{"entries": [[type or glob, limit], ...], "usage": {type: instances}}``."""
        query = f"?accountId={account_id}" if account_id else ""
        found: dict[str, Any] = self._call("GET", f"quotas/{region}{query}")
        return found

    def clear_quotas(self, *, region: str = "us-east-1", account_id: str | None = None) -> None:
        """Drops the quotas ``set_quotas`` added for the account and region."""
        query = f"?accountId={account_id}" if account_id else ""
        self._call("DELETE", f"quotas/{region}{query}")

    def evaluate_alarm(
        self, name: str, *, region: str = "us-east-1", account_id: str | None = None
    ) -> dict[str, Any]:
        """Evaluates a CloudWatch alarm now, as CloudWatch's rules would, and sets the state it
        arrives at (``alarms``): ``{"state", "reason", "values"}``."""
        body = {"accountId": account_id} if account_id else {}
        found: dict[str, Any] = self._call("POST", f"alarms/{region}/{name}/evaluate", body)
        return found

    def age_messages(
        self,
        queue_name: str,
        seconds: float,
        *,
        region: str = "us-east-1",
        account_id: str | None = None,
    ) -> int:
        """Moves the `SentTimestamp` of every message in the queue `seconds` into the past
        (``queues``): how many."""
        body: dict[str, Any] = {"seconds": seconds}
        if account_id:
            body["accountId"] = account_id
        answer = self._call("POST", f"queues/{region}/{queue_name}/age", body)
        return int(answer["aged"])

    def events(
        self,
        *,
        limit: int = 100,
        source: str | None = None,
        detail_type: str | None = None,
        account_id: str | None = None,
        region: str | None = None,
        origin: str | None = None,
    ) -> list[dict[str, Any]]:
        """The EventBridge events the local AWS routed, oldest first, each ``{"origin",
        "emittedAt", "event", "deliveries"}`` (``aws_events``)."""
        query = {
            "limit": limit,
            "source": source,
            "detailType": detail_type,
            "account": account_id,
            "region": region,
            "origin": origin,
        }
        text = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        found: list[dict[str, Any]] = self._call("GET", f"events?{text}")["events"]
        return found

    def clear_events(self) -> int:
        """Forgets the events routed so far; answers how many there were."""
        cleared: int = self._call("DELETE", "events")["cleared"]
        return cleared
