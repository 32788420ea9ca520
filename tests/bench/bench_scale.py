"""The scale benchmark (``make bench``): 1,000 ManagedEndpoints on one operator, with
SageMaker's Creating phase at 2 s. One table on stdout, JSON and CSV under ``.bench/``, and
py-spy profiles of the burst, the restart and the storm (collapsed stacks,
``.bench/profile-*.txt``).

Figures and how each is taken:

* **burst → all InService**: from the first create until every object's phase is InService.
* **apply → CreateEndpoint**: the apiserver's answer to each create (its time here) against
  the arrival of that endpoint's first successful CreateEndpoint in the local AWS's request log
  (``sandbox.requestlog``, stamped on arrival in the moto process, same host clock), so nothing
  relies on the operator's own logs. Idle p95: ten objects created one at a time, 3 s apart, on
  the settled operator holding the whole fleet.
* **RSS and CPU**: ``/proc/<pid>/status`` VmHWM (peak) and VmRSS (steady), ``/proc/<pid>/stat``
  utime+stime over the burst, also for the local AWS, kube-apiserver and etcd.
* **steady calls**: ``sagemeter_aws_calls_total`` over a window with a 60 s sync interval.
* **restart**: SIGTERM, then a new process; re-confirmed when the reconcile-pass counter
  (``sagemeter_reconcile_duration_seconds_count``) reaches the object count; AWS calls from the
  new process's counter, Kubernetes requests from the apiserver's ``apiserver_request_total``.
* **expiry lag**: every object gets an ``expiresAt``, 17 per second (1,000 timers armed,
  firing over a minute); then, once all are resumed, 50 per second (the storm). The lag is that
  endpoint's DeleteEndpoint arrival minus its expiry.
* **the fleet**: one object in ten has an API route, one in ten an idle policy (``fleet.py``);
  VmHWM with no objects is read after start-up, before the first create.
* **delete**: every object deleted at once; until none is left, then AWS is audited directly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sagemeter_sandbox import Sandbox
from sagemeter_sandbox.control import FaultClient
from sagemeter_sandbox.controlplane import PROFILING, ManagedProcess

from ..chaos.audit import AwsAudit
from ..chaos.report import ROOT, Row, print_table, save
from ..integration.conftest import Operator, wait_for
from .fleet import Fleet, mixed, queued_events, wait_fleet
from .scale import (
    ApiserverProfile,
    Profiler,
    Sampler,
    apiserver_requests,
    by_label,
    histogram,
    histogram_summary,
    memory_mb,
    operator_metric,
    percentile,
)

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(3600)]

WORKER_WAIT = "sagemeter_worker_wait_seconds"
WORKER_CALLS = "sagemeter_worker_calls_total"
WORKER_BUSY = "sagemeter_worker_busy_seconds_total"
# The storm's kube-apiserver CPU profile (read before the session's sandbox starts).
os.environ.setdefault(PROFILING, "1")

COUNT = int(os.environ.get("SAGEMETER_BENCH_OBJECTS", "1000"))
STEADY_WINDOW = 120.0
ARMED_BEFORE = 15.0
# After start-up, before the first object: the operator has listed, watched and settled.
IDLE_SETTLE = 15.0


def diff(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    found = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
    return dict(sorted(found.items(), key=lambda kv: -kv[1]))


def create_latencies(
    aws: FaultClient, fleet: Fleet, created: dict[str, float], since: float
) -> list[float]:
    items = fleet.items() if len(created) > 1 else {n: fleet.get(n) for n in created}
    endpoint_of = {n: (i.get("status") or {}).get("endpointName") for n, i in items.items()}
    arrivals: dict[str, float] = {}
    for entry in aws.requests("sagemaker:CreateEndpoint", since=since, contains=fleet.ns):
        if entry["status"] == 200:
            arrivals.setdefault(entry["name"], entry["ts"])
    return [
        arrivals[endpoint_of[n]] - t for n, t in created.items() if endpoint_of.get(n) in arrivals
    ]


def expiry_lags(
    aws: FaultClient,
    fleet: Fleet,
    names: list[str],
    per_second: int,
    target: str,
    watch: tuple[Operator, Sampler, Sandbox],
    apiserver_profile: Path | None = None,
) -> list[Row]:
    """Arms every object's expiry, `per_second` of them expiring each second, and measures
    expiry -> DeleteEndpoint for those armed well ahead (the patch landed, and its pass armed
    the timer, at least ARMED_BEFORE before the expiry); every object ends Parked. What each
    process spent meanwhile (CPU seconds) and what each expiry cost in AWS calls and
    Kubernetes requests say where the lag goes."""
    operator, sampler, sandbox = watch
    calls_before, kube_before = operator.aws_calls(), apiserver_requests(sandbox)
    waits_before = {
        flag: histogram(operator.metrics_port, WORKER_WAIT, urgent=flag)
        for flag in ("true", "false")
    }
    # What the deadline passes' calls ran, and how long they held a thread.
    pooled_before = {
        name: by_label(operator.metrics_port, name, "call", urgent="true")
        for name in (WORKER_CALLS, WORKER_BUSY)
    }
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=60 + len(names) // 10)
    expiries = {n: base + timedelta(seconds=i // per_second) for i, n in enumerate(names)}
    # kube-apiserver's CPU profile from just before the first expiry until the parks are done.
    profile = (
        ApiserverProfile(
            sandbox,
            apiserver_profile,
            at=base.timestamp() - 5,
            seconds=len(names) // per_second + 30,
        )
        if apiserver_profile is not None
        else None
    )
    since = time.time()
    accepted = fleet.patch(
        {
            n: {"spec": {"expiry": {"expiresAt": t.strftime("%Y-%m-%dT%H:%M:%SZ")}}}
            for n, t in expiries.items()
        }
    )
    armed = {n for n, t in accepted.items() if expiries[n].timestamp() - t >= ARMED_BEFORE}
    wait_fleet("all parked", lambda: fleet.count_phase("Parked") == len(names), timeout=900)
    endpoint_of = {(i.get("status") or {}).get("endpointName"): n for n, i in fleet.items().items()}
    deletes = [
        entry
        for entry in aws.requests("sagemaker:DeleteEndpoint", since=since, contains=fleet.ns)
        if entry["status"] == 200 and entry["name"] in endpoint_of
    ]
    # The park pass's first SageMaker call after each expiry (its DescribeEndpoint or the
    # delete itself): the lag up to there is before the pass reached AWS; the rest is inside.
    began: dict[str, float] = {}
    for entry in aws.requests(
        "sagemaker:DescribeEndpoint,sagemaker:DeleteEndpoint", since=since, contains=fleet.ns
    ):
        obj = endpoint_of.get(entry["name"])
        if obj in armed and entry["ts"] >= expiries[obj].timestamp() and obj not in began:
            began[obj] = entry["ts"] - expiries[obj].timestamp()
    served_ms = [entry["ms"] for entry in deletes]
    lags = [
        entry["ts"] - expiries[endpoint_of[entry["name"]]].timestamp()
        for entry in deletes
        if endpoint_of[entry["name"]] in armed
    ]
    # Each process's share of a core while the expiries fire: from the first expiry to the
    # last DeleteEndpoint (the window the lag is measured in, without the patches before it).
    first, last = base.timestamp(), max(entry["ts"] for entry in deletes)
    firing = sampler.cpu_between(first, last)
    cores = {k: round(v / max(last - first, 1e-3), 2) for k, v in firing.items()}
    label = f"expiry at {per_second}/s"
    count = len(names)
    calls = diff(operator.aws_calls(), calls_before)
    kube = diff(apiserver_requests(sandbox), kube_before)
    waits = {
        flag: histogram_summary(histogram(operator.metrics_port, WORKER_WAIT, urgent=flag), was)
        for flag, was in waits_before.items()
    }
    pooled = {
        name: {
            call: value - pooled_before[name].get(call, 0.0)
            for call, value in by_label(operator.metrics_port, name, "call", urgent="true").items()
            if value - pooled_before[name].get(call, 0.0) > 0
        }
        for name in (WORKER_CALLS, WORKER_BUSY)
    }
    per_expiry = {
        call: [round(n / count, 2), round(1000 * pooled[WORKER_BUSY].get(call, 0.0) / n, 1)]
        for call, n in sorted(pooled[WORKER_CALLS].items(), key=lambda kv: -kv[1])
        if n >= count / 20
    }
    profiled = (
        [Row(f"{label}: kube-apiserver CPU profile, first expiry - 5 s on", profile.stop())]
        if profile is not None
        else []
    )
    return [
        *profiled,
        Row(
            f"{label}: CPU s by process, patches to all parked",
            sampler.cpu_between(since, time.time()),
        ),
        Row(
            f"{label}: cores by process, first expiry to last DeleteEndpoint "
            f"({last - first:.0f} s)",
            cores,
        ),
        Row(
            f"{label}: AWS calls per object",
            {k: round(v / count, 2) for k, v in calls.items() if v >= count / 10},
        ),
        Row(
            f"{label}: Kubernetes requests per object (all clients)",
            {k: round(v / count, 2) for k, v in kube.items() if v >= count / 10},
        ),
        Row(f"{label}: timers armed >= 15 s ahead (objects measured)", len(armed)),
        Row(f"{label}: patches accepted within (s)", round(max(accepted.values()) - since, 1)),
        Row(f"{label}: expiry -> DeleteEndpoint p50 (s)", round(percentile(lags, 0.5), 2)),
        Row(f"{label}: expiry -> DeleteEndpoint p95 (s)", round(percentile(lags, 0.95), 2), target),
        Row(f"{label}: expiry -> DeleteEndpoint max (s)", round(max(lags), 2)),
        Row(
            f"{label}: expiry -> the park pass's first SageMaker call p50 / p95 (s)",
            [round(percentile(began.values(), q), 2) for q in (0.5, 0.95)],
        ),
        Row(
            f"{label}: DeleteEndpoint served by the local AWS in, p50 / p95 (ms)",
            [round(percentile(served_ms, q), 1) for q in (0.5, 0.95)],
        ),
        Row(f"{label}: deadline passes' calls, wait for a worker thread", waits["true"]),
        Row(f"{label}: ordinary passes' calls, wait for a worker thread", waits["false"]),
        Row(
            f"{label}: deadline passes' calls per expiry, and ms each held a thread, by call",
            per_expiry,
        ),
    ]


def test_thousand_endpoints(sandbox: Sandbox, operator: Operator, namespace: str) -> None:
    rows: list[Row] = []
    details: dict[str, Any] = {"objects": COUNT, "load_at_start": os.getloadavg()}
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (ROOT / ".bench").mkdir(exist_ok=True)
    aws = FaultClient(sandbox.aws_endpoint_url)
    fleet = Fleet(sandbox, namespace, mixed(namespace))
    # The apiserver's own pace, with no operator watching: the floor under every burst figure.
    baseline = Fleet(sandbox, f"{namespace}-baseline")
    sandbox.kubectl_run("create", "namespace", baseline.ns)
    began = time.time()
    baseline.create([f"b{i:04d}" for i in range(COUNT)])
    rows.append(Row("apiserver alone: creates accepted (s)", round(time.time() - began, 1)))
    sandbox.kubectl_run("delete", "namespace", baseline.ns, "--wait=true", "--timeout=300s")
    operator.start(SAGEMETER_SYNC_INTERVAL="60s", SAGEMETER_POLL_INTERVAL="10s")
    assert operator.process is not None
    time.sleep(IDLE_SETTLE)
    rows.append(
        Row(
            "operator VmHWM with no objects (MB)",
            round(memory_mb(operator.process.pid)["VmHWM"], 1),
            "<= 80",
        )
    )
    pids = {
        "operator": operator.process.pid,
        "localaws": ManagedProcess("localaws", sandbox.state_dir).pid() or 0,
        **{p.name: p.pid() or 0 for p in sandbox.controlplane.processes},
    }
    sampler = Sampler(pids).start()
    names = [f"s{i:04d}" for i in range(COUNT)]

    # --- burst
    profiler = Profiler(operator.process.pid, ROOT / ".bench" / f"profile-burst-{stamp}.txt")
    kube_before = apiserver_requests(sandbox)
    began = time.time()
    created = fleet.create(names)
    applied = time.time()
    wait_fleet("all InService", lambda: fleet.count_phase("InService") == COUNT, timeout=900)
    all_in_service = time.time() - began
    details["profile_burst"] = profiler.stop()
    cpu = sampler.cpu_between(began, time.time())
    peak = memory_mb(operator.process.pid)["VmHWM"]
    burst = create_latencies(aws, fleet, created, began)
    assert len(burst) == COUNT
    burst_calls = operator.aws_calls()
    kube = diff(apiserver_requests(sandbox), kube_before)
    rows += [
        Row("creates accepted by the apiserver (s)", round(applied - began, 1)),
        Row("burst: all InService (s)", round(all_in_service, 1), "<= 60"),
        Row(
            "burst: all InService after the last create (s)",
            round(all_in_service - (applied - began), 1),
        ),
        Row(
            "burst: AWS calls per object",
            {k: round(v / COUNT, 2) for k, v in sorted(burst_calls.items())},
        ),
        Row(
            "burst: Kubernetes requests per object (all clients)",
            {k: round(v / COUNT, 2) for k, v in kube.items() if v >= COUNT / 2},
        ),
        Row("apply -> CreateEndpoint p50 under burst (s)", round(percentile(burst, 0.5), 2)),
        Row("apply -> CreateEndpoint p95 under burst (s)", round(percentile(burst, 0.95), 2)),
        Row(
            "operator CPU s per 1,000 objects (burst)",
            round(cpu.get("operator", 0) * 1000 / COUNT, 1),
        ),
        Row("CPU s during burst by process", cpu),
    ]

    # --- steady state, once the burst's events (Creating, InService per endpoint) are handled
    drained_from = time.time()
    wait_fleet("the event queue drained", lambda: queued_events(sandbox) == 0, 300)
    rows.append(
        Row("burst events handled after all InService (s)", round(time.time() - drained_from, 1))
    )
    time.sleep(20)
    before, window_start = operator.aws_calls(), time.time()
    time.sleep(STEADY_WINDOW)
    after = operator.aws_calls()
    delta = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
    per_hour = sum(delta.values()) * 3600 / STEADY_WINDOW / COUNT
    steady = memory_mb(operator.process.pid)
    rows += [
        Row("operator VmHWM at the fleet's size, after the burst (MB)", round(peak, 1), "<= 150"),
        Row("operator steady RSS (MB, VmRSS)", round(steady["VmRSS"], 1)),
        Row("steady AWS calls per endpoint-hour (sync 60s)", round(per_hour, 3), "< 1"),
        Row("steady calls in window", delta),
        Row(
            "steady operator CPU s per minute",
            round(
                sampler.cpu_between(window_start, time.time()).get("operator", 0)
                * 60
                / STEADY_WINDOW,
                2,
            ),
        ),
    ]

    # --- one object at a time on the settled operator
    singles: list[float] = []
    for index in range(10):
        since = time.time()
        one = fleet.create([f"single-{index}"])
        wait_for(
            "its CreateEndpoint",
            lambda o=one, s=since: create_latencies(aws, fleet, o, s),
            timeout=60,
        )
        singles += create_latencies(aws, fleet, one, since)
        time.sleep(3)
    names += [f"single-{index}" for index in range(10)]
    rows.append(
        Row(
            "apply -> CreateEndpoint p95, single object (s)",
            round(percentile(singles, 0.95), 2),
            "<= 1",
        )
    )
    wait_fleet("singles InService", lambda: fleet.count_phase("InService") == len(names), 120)

    # --- restart with unchanged objects
    operator.stop()
    kube_before = apiserver_requests(sandbox)
    restarted = time.time()
    operator.start(SAGEMETER_SYNC_INTERVAL="60s", SAGEMETER_POLL_INTERVAL="10s")
    sampler.pids["operator"] = operator.process.pid  # the sampler follows the new process
    profiler = Profiler(operator.process.pid, ROOT / ".bench" / f"profile-restart-{stamp}.txt")
    wait_for(
        "a pass for every object",
        lambda: (
            operator_metric(operator.metrics_port, "sagemeter_reconcile_duration_seconds_count")
            >= len(names)
        ),
        timeout=600,
    )
    reconfirmed = time.time() - restarted
    calls = operator.aws_calls()
    kube_after = apiserver_requests(sandbox)
    details["profile_restart"] = profiler.stop()
    kube = diff(kube_after, kube_before)
    rows += [
        Row("restart: every object re-confirmed (s)", round(reconfirmed, 1)),
        Row(
            "restart: VmHWM of the new process with the fleet (MB)",
            round(memory_mb(operator.process.pid)["VmHWM"], 1),
            "<= 150",
        ),
        Row("restart: AWS calls", sum(calls.values()), "sweep pages + O(1)"),
        Row("restart: AWS calls by operation", calls),
        Row("restart: Kubernetes requests (all clients)", sum(kube.values())),
        Row("restart: Kubernetes requests by verb/resource", dict(list(kube.items())[:8])),
    ]

    # --- expiries with every timer armed: ~17 per second, then the 50 per second storm
    watch = (operator, sampler, sandbox)
    rows += expiry_lags(aws, fleet, names, per_second=17, target="<= 1", watch=watch)
    resumed = time.time()
    far = (datetime.now(UTC) + timedelta(hours=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fleet.patch({n: {"spec": {"expiry": {"expiresAt": far}}} for n in names})
    wait_fleet("all resumed", lambda: fleet.count_phase("InService") == len(names), timeout=900)
    rows.append(Row("resume all: every object InService again (s)", round(time.time() - resumed)))
    # The storm's profile: where the interpreter's one core goes (GIL holders only).
    profiler = Profiler(
        operator.process.pid, ROOT / ".bench" / f"profile-storm-{stamp}.txt", gil=True
    )
    rows += expiry_lags(
        aws,
        fleet,
        names,
        per_second=50,
        target="<= 2",
        watch=watch,
        apiserver_profile=ROOT / ".bench" / f"apiserver-storm-{stamp}.pprof",
    )
    details["profile_storm"] = profiler.stop()

    # --- delete everything
    began = time.time()
    fleet.delete(names)
    wait_fleet("every finalizer released", lambda: not fleet.items(), timeout=900)
    released = time.time() - began
    leaks = AwsAudit(sandbox.aws_endpoint_url, namespace).inventory().leaks()
    rows += [
        Row("delete all: every finalizer released (s)", round(released, 1)),
        Row("left in AWS after delete", leaks, "all 0"),
    ]
    sampler.stop()
    details["load_at_end"] = os.getloadavg()
    print_table(f"scale: {COUNT} ManagedEndpoints (Creating 2 s)", rows)
    for name in ("profile_burst", "profile_restart", "profile_storm"):
        print(f"\n{name}: {details[name]}", flush=True)
    save("scale", rows, details)
    assert not any(leaks.values()), leaks
