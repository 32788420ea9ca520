"""The chaos run's driver: N objects through five steps, each with its fault, then the audit.

Objects ``c000``..: a quarter each are parked by ``suspend``, parked by an ``expiresAt`` in
the past, kept running with an API_KEY route, kept running with an idle policy (an alarm).
All run for the whole run except the first two quarters between ``park`` and ``resume``.

=======  ==========================================  ====================================
step     change (applied at once, as users would)    fault, at a random moment just after
=======  ==========================================  ====================================
create   every object                                operator SIGKILL, restarted 1 s later
update   instanceCount 1 -> 2 on every object        kube-apiserver kill -9, down 2 s
park     the parked half: suspend / expiry in past   AWS outage of ``outage_seconds``
resume   the parked half back                        operator SIGKILL (with ``kills`` >= 2)
delete   every object                                none
=======  ==========================================  ====================================

Throttling at ``throttle_rate`` on SageMaker, CloudWatch and API Gateway lasts from the
first step to the end of the last. A step waits until every object is in its desired phase
(``observedGeneration`` current) and records how long that took after its fault ended. The
audit then reads AWS directly (``audit``) and the local AWS's request log (``report``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from sagemeter_sandbox import Sandbox
from sagemeter_sandbox.control import FaultClient
from sagemeter_sandbox.disruption import ControlPlaneFaults

from ..integration.conftest import Operator, endpoint_object
from .audit import AwsAudit
from .report import FaultWindow, Row, Timeline, false_parks

# How long the audit waits for what goes in the background after the last object (a namespace's
# REST API and usage plan): the next DeleteRestApi slot (30 s) and a retry's backoff (60 s).
LEAK_PATIENCE = 120.0

GROUP, VERSION, PLURAL = "sagemeter.io", "v1alpha1", "managedendpoints"


@dataclass
class ChaosPlan:
    objects: int = 20
    throttle_rate: float = 0.2
    kills: int = 1  # the first during create, the second during resume
    apiserver_restarts: int = 1  # during update
    outage_seconds: float = 10.0  # during park
    seed: int = 7
    step_timeout: float = 180.0
    stuck_after: float = 90.0  # an object still there this long after its delete is stuck
    label: str = "chaos"


@dataclass
class StepResult:
    name: str
    fault: str
    converged: bool
    seconds_after_fault: float
    seconds_total: float
    lagging: list[str] = field(default_factory=list)


def _future(days: int = 1) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


class ChaosRun:
    def __init__(
        self, plan: ChaosPlan, sandbox: Sandbox, operator: Operator, namespace: str
    ) -> None:
        self.plan, self.sandbox, self.operator, self.ns = plan, sandbox, operator, namespace
        self.rng = random.Random(plan.seed)
        self.faults = FaultClient(sandbox.aws_endpoint_url)
        self.plane = ControlPlaneFaults(sandbox)
        self.api = k8s.CustomObjectsApi(
            k8s_config.new_client_from_config(config_file=str(sandbox.kubeconfig))
        )
        self.names = [f"c{i:03d}" for i in range(plan.objects)]
        self.suspended = self.names[0::4]
        self.expired = self.names[1::4]
        self.parked = sorted(self.suspended + self.expired)
        self.timeline = Timeline()
        self.windows: list[FaultWindow] = []
        self.steps: list[StepResult] = []
        self.want: dict[str, str] = {}  # object -> desired phase ("" = gone)

    # ------------------------------------------------------------------ objects

    def _object(self, index: int, name: str) -> dict[str, Any]:
        extra: dict[str, Any] = {"expiry": {"expiresAt": _future()}}
        if index % 4 == 2:
            extra["api"] = {"path": f"{self.ns}/{name}", "authorization": "API_KEY"}
        if index % 4 == 3:
            extra["idle"] = {"after": "1h", "gracePeriod": "1s"}
        return endpoint_object(name, **extra)

    def _list(self) -> dict[str, dict[str, Any]] | None:
        try:
            found = self.api.list_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL)
        except Exception:  # the apiserver restarting
            return None
        return {item["metadata"]["name"]: item for item in found["items"]}

    def _retry(self, call: Callable[[], Any], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                call()
                return
            except k8s.ApiException as error:
                if error.status == 404 or time.monotonic() > deadline:
                    raise
            except Exception:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.5)

    def _each(self, names: list[str], intent: str, call: Callable[[str], Any]) -> None:
        """``call`` for every name; the intent counts from just before its request is sent
        (the operator cannot act on a change before the apiserver has it)."""
        for name in names:
            self.timeline.intend([name], intent)
            self._retry(lambda n=name: call(n))

    def _patch(self, names: list[str], spec: dict[str, Any], intent: str) -> None:
        self._each(
            names,
            intent,
            lambda n: self.api.patch_namespaced_custom_object(
                GROUP, VERSION, self.ns, PLURAL, n, {"spec": spec}
            ),
        )  # a merge patch

    def lagging(self) -> list[str] | None:
        """Objects not yet in their desired phase; None when the apiserver does not answer."""
        items = self._list()
        if items is None:
            return None
        lag = []
        for name, phase in self.want.items():
            item = items.get(name)
            if not phase:
                if item is not None:
                    lag.append(name)
                continue
            status = (item or {}).get("status") or {}
            current = (
                item is not None
                and status.get("observedGeneration") == item["metadata"]["generation"]
            )
            if not current or status.get("phase") != phase:
                lag.append(name)
        return lag

    # ------------------------------------------------------------------ faults

    def _kill_operator(self) -> None:
        self.operator.kill()
        time.sleep(1)
        self.operator.start()

    def _restart_apiserver(self) -> None:
        self.plane.restart_apiserver(down_seconds=2)

    def _outage(self) -> None:
        self.faults.outage(self.plan.outage_seconds)
        time.sleep(self.plan.outage_seconds)

    def _step(
        self, name: str, change: Callable[[], None], fault: str | None, timeout: float | None = None
    ) -> StepResult:
        began = time.monotonic()
        change()
        fault_end = time.monotonic()
        if fault is not None:
            time.sleep(self.rng.uniform(0.5, 3.0))
            start_wall = time.time()
            {
                "operator-kill": self._kill_operator,
                "apiserver-restart": self._restart_apiserver,
                "aws-outage": self._outage,
            }[fault]()
            self.windows.append(FaultWindow(fault, start_wall, time.time()))
            fault_end = time.monotonic()
        deadline, lag = fault_end + (timeout or self.plan.step_timeout), None
        while time.monotonic() < deadline:
            lag = self.lagging()
            if lag == []:
                break
            time.sleep(1.0)
        done = time.monotonic()
        result = StepResult(
            name,
            fault or "-",
            lag == [],
            round(done - fault_end, 1),
            round(done - began, 1),
            lag or [],
        )
        self.steps.append(result)
        return result

    # ------------------------------------------------------------------ the run

    def run(self) -> tuple[list[Row], dict[str, Any]]:
        plan, started = self.plan, time.monotonic()
        self.faults.clear()
        self.faults.seed(plan.seed)
        self.faults.clear_requests()
        throttle_start = time.time()
        for service in ("sagemaker", "cloudwatch", "apigateway"):
            self.faults.throttle(service, rate=plan.throttle_rate)
        self.operator.start()
        kills = ["operator-kill"] * plan.kills

        def create() -> None:
            self._each(
                self.names,
                "run",
                lambda n: self.api.create_namespaced_custom_object(
                    GROUP, VERSION, self.ns, PLURAL, self._object(self.names.index(n), n)
                ),
            )
            self.want = dict.fromkeys(self.names, "InService")

        self._step("create", create, kills.pop(0) if kills else None)
        self._record_endpoints()
        self._step(
            "update",
            lambda: self._patch(self.names, {"instanceCount": 2}, "run"),
            "apiserver-restart" if plan.apiserver_restarts else None,
        )

        def park() -> None:
            self._patch(self.suspended, {"suspend": True}, "park")
            past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._patch(self.expired, {"expiry": {"expiresAt": past}}, "park")
            self.want.update(dict.fromkeys(self.parked, "Parked"))

        self._step("park", park, "aws-outage" if plan.outage_seconds else None)

        def resume() -> None:
            self._patch(self.suspended, {"suspend": False}, "run")
            self._patch(self.expired, {"expiry": {"expiresAt": _future()}}, "run")
            self.want.update(dict.fromkeys(self.parked, "InService"))

        self._step("resume", resume, kills.pop(0) if kills else None)
        duplicates = self._duplicates()

        def delete() -> None:
            self._each(
                self.names,
                "delete",
                lambda n: self.api.delete_namespaced_custom_object(
                    GROUP, VERSION, self.ns, PLURAL, n
                ),
            )
            self.want = dict.fromkeys(self.names, "")

        deleted = self._step("delete", delete, None, timeout=plan.stuck_after)
        healthy = self.operator.process is not None and self.operator.process.poll() is None
        self.windows.append(FaultWindow("throttle", throttle_start, time.time()))
        stats = self.faults.clear()
        deletes = self.faults.requests("sagemaker:DeleteEndpoint", contains=self.ns)
        leaks = AwsAudit(self.sandbox.aws_endpoint_url, self.ns).settled(LEAK_PATIENCE)
        parks, per_object = false_parks(self.timeline, deletes, self.windows)
        expected = {n: 2 if n in self.parked else 1 for n in self.names}
        extra = {n: c - expected[n] for n, c in per_object.items() if c > expected[n]}
        rows = [
            Row("objects", plan.objects),
            Row("faults injected", stats.injected),
            Row("duplicate endpoints", duplicates["endpoints"], "0"),
            Row(
                "extra models/configs after settling",
                duplicates["models"] + duplicates["configs"],
                "0",
            ),
            *[Row(f"leaked {kind}", n, "0") for kind, n in leaks.leaks().items()],
            Row("stuck finalizers", len(deleted.lagging) if healthy else "operator down", "0"),
            Row("false parks", len(parks), "0"),
            Row("repeated DeleteEndpoint", sum(extra.values()), "0"),
            *[
                Row(
                    f"converge after {s.name} ({s.fault}) s",
                    s.seconds_after_fault
                    if s.converged
                    else f"NOT after {s.seconds_after_fault} ({len(s.lagging)} lagging)",
                )
                for s in self.steps
            ],
            Row("run seconds", round(time.monotonic() - started, 1)),
        ]
        details = {
            "plan": vars(plan),
            "steps": [vars(s) for s in self.steps],
            "false_parks": parks,
            "extra_deletes": extra,
            "duplicates": duplicates,
            "leaks": vars(leaks),
            "faults": [vars(w) for w in self.windows],
            "fault_stats": {"injected": stats.injected, "byOperation": stats.by_operation},
        }
        return rows, details

    def _record_endpoints(self) -> None:
        for name, item in (self._list() or {}).items():
            endpoint = (item.get("status") or {}).get("endpointName")
            if endpoint:
                self.timeline.endpoints[endpoint] = name

    def _duplicates(self) -> dict[str, Any]:
        """Endpoints, configs and models beyond what the statuses name (old ones settle first)."""
        audit, deadline = AwsAudit(self.sandbox.aws_endpoint_url, self.ns), time.monotonic() + 30
        while True:
            items = self._list() or {}
            statuses = [item.get("status") or {} for item in items.values()]
            named = {
                key: {s.get(key) for s in statuses}
                for key in ("endpointName", "endpointConfigName", "modelName")
            }
            uids = {item["metadata"]["uid"] for item in items.values()}
            endpoints = audit.endpoints()
            found = {
                "endpoints": sorted(
                    n
                    for n, e in endpoints.items()
                    if n not in named["endpointName"] or e["uid"] not in uids
                ),
                "configs": sorted(set(audit.configs()) - named["endpointConfigName"]),
                "models": sorted(set(audit.models()) - named["modelName"]),
            }
            if not any(found.values()) or time.monotonic() > deadline:
                return {**{k: len(v) for k, v in found.items()}, "names": found}
            time.sleep(2)
