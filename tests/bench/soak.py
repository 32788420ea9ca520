"""The soak (``make soak``, ``SOAK_MINUTES=30`` by default): does the operator hold its memory
and its call budget over hours?

200 objects (``SAGEMETER_SOAK_OBJECTS``; one in ten with a route, one in ten with an idle
policy) cycle through park and resume: each is suspended for half of a ``CYCLE`` and running
for the other half, the objects' phases staggered so that parks and resumes go on all the
time. Reported:

* VmRSS of the operator every ``SAMPLE`` seconds (a line per minute on stdout, all samples in
  the JSON), VmHWM at the end;
* growth per hour: the slope of a least-squares line through the RSS samples of the last two
  thirds of the run (the first third is warm-up: caches, models, pools filling);
* CPU seconds of the operator over the run, and per hour;
* AWS calls per endpoint-hour (``sagemeter_aws_calls_total``), in all and by operation.

At the end every object is deleted and AWS is audited for leftovers.

``SAGEMETER_SOAK_TRACE=1`` runs the operator under tracemalloc (``memprofile.py``) and adds
where the growth went: a snapshot where the fitted window begins and one at the end, and the
growth per hour of what Python holds, by module. tracemalloc adds its own memory and time, so
a traced soak's RSS figures are not the footprint's; run it beside an untraced one.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sagemeter_sandbox import Sandbox
from sagemeter_sandbox.controlplane import ManagedProcess

from ..chaos.audit import AwsAudit
from ..chaos.report import Row, print_table, save
from ..integration.conftest import Operator
from .bench_memory import MEMPROFILE, profile
from .fleet import Fleet, mixed, wait_fleet
from .scale import cpu_seconds, memory_mb

MINUTES = float(os.environ.get("SAGEMETER_SOAK_MINUTES", "30"))
COUNT = int(os.environ.get("SAGEMETER_SOAK_OBJECTS", "200"))
CYCLE = float(os.environ.get("SAGEMETER_SOAK_CYCLE_SECONDS", "240"))
SAMPLE = 10.0
TICK = 5.0
TRACE = os.environ.get("SAGEMETER_SOAK_TRACE") == "1"

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(int(MINUTES * 60 + 3600))]


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per hour."""
    n = len(samples)
    if n < 2:
        return float("nan")
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if spread == 0:
        return float("nan")
    return sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread * 3600


def suspended_at(index: int, elapsed: float) -> bool:
    """Whether object `index` should be parked `elapsed` seconds into the cycling: each object
    runs for the first half of its own cycle and is parked for the second, offsets staggered."""
    offset = CYCLE * index / COUNT
    return ((elapsed + offset) % CYCLE) >= CYCLE / 2


class Memory:
    """VmRSS of a process every SAMPLE seconds, on a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.began = time.monotonic()
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE):
            try:
                rss = memory_mb(self.pid)["VmRSS"]
            except OSError:
                return
            self.samples.append((time.monotonic() - self.began, rss))

    def stop(self) -> None:
        self._stop.set()


def traced_growth(first: dict[str, Any], last: dict[str, Any], hours: float) -> dict[str, float]:
    """MB per hour by module between two memory profiles (modules that moved by 0.05 MB/h or
    more), the traced total first."""
    was = {name: mb for name, mb, _ in first["by_module"]}
    now = {name: mb for name, mb, _ in last["by_module"]}
    grown = {k: (now.get(k, 0.0) - was.get(k, 0.0)) / hours for k in {*was, *now}}
    top = sorted(grown.items(), key=lambda kv: -abs(kv[1]))
    return {
        "traced total": round((last["traced_mb"] - first["traced_mb"]) / hours, 2),
        **{k: round(v, 2) for k, v in top if abs(v) >= 0.05},
    }


def test_soak(sandbox: Sandbox, operator: Operator, namespace: str, tmp_path: Path) -> None:
    traced = tmp_path / "memprofile"
    if TRACE:
        operator.launcher = [str(MEMPROFILE), str(traced)]
        operator.ready_timeout = 300
    operator.start(
        SAGEMETER_SYNC_INTERVAL="5m",
        SAGEMETER_POLL_INTERVAL="10s",
        SAGEMETER_TRACEMALLOC_TOP="400",
    )
    assert operator.process is not None
    pid = operator.process.pid
    fleet = Fleet(sandbox, namespace, mixed(namespace))
    names = [f"k{i:03d}" for i in range(COUNT)]
    fleet.create(names)
    wait_fleet("all InService", lambda: fleet.count_phase("InService") == COUNT, timeout=900)

    memory = Memory(pid)
    cpu_began, calls_began = cpu_seconds(pid), operator.aws_calls()
    began = time.monotonic()
    state = dict.fromkeys(names, False)
    toggles = 0
    minute_lines: list[str] = []
    next_line = 60.0
    snapshots: list[tuple[float, dict[str, Any]]] = []
    while (elapsed := time.monotonic() - began) < MINUTES * 60:
        if TRACE and not snapshots and elapsed >= MINUTES * 20:  # where the fit begins
            snapshots.append((elapsed, profile(operator, traced, 1)))
        due = {
            name: wanted
            for index, name in enumerate(names)
            if (wanted := suspended_at(index, elapsed)) != state[name]
        }
        if due:
            fleet.patch({name: {"spec": {"suspend": wanted}} for name, wanted in due.items()})
            state.update(due)
            toggles += len(due)
        if elapsed >= next_line and memory.samples:
            line = f"soak {elapsed / 60:5.1f} min: VmRSS {memory.samples[-1][1]:.1f} MB"
            print(line, flush=True)
            minute_lines.append(line)
            next_line += 60
        time.sleep(TICK)
    if TRACE:
        snapshots.append((time.monotonic() - began, profile(operator, traced, 2)))
    hours = (time.monotonic() - began) / 3600
    cpu = cpu_seconds(pid) - cpu_began
    calls_ended = operator.aws_calls()
    memory.stop()
    calls = {
        k: calls_ended[k] - calls_began.get(k, 0)
        for k in calls_ended
        if calls_ended[k] - calls_began.get(k, 0)
    }
    samples = memory.samples
    tail = [s for s in samples if s[0] >= samples[-1][0] / 3] if samples else []
    growth = slope_per_hour(tail)
    peak = memory_mb(pid)["VmHWM"]
    endpoint_hours = COUNT * hours
    rows = [
        Row("soak: minutes, objects, cycle (s)", [round(hours * 60, 1), COUNT, CYCLE]),
        Row("soak: parks and resumes asked", toggles),
        Row("soak: VmRSS first / last sample (MB)", [samples[0][1], samples[-1][1]]),
        Row("soak: RSS growth, last two thirds (MB per hour)", round(growth, 2), "<= 2"),
        Row("soak: operator VmHWM (MB)", round(peak, 1)),
        Row("soak: operator CPU s", round(cpu, 1)),
        Row("soak: operator CPU s per hour", round(cpu / hours, 1)),
        Row(
            "soak: AWS calls per endpoint-hour",
            round(sum(calls.values()) / endpoint_hours, 2),
        ),
        Row(
            "soak: AWS calls per endpoint-hour by operation",
            {
                k: round(v / endpoint_hours, 3)
                for k, v in sorted(calls.items(), key=lambda kv: -kv[1])
            },
        ),
    ]
    if len(snapshots) == 2:
        (at, first), (end, last) = snapshots
        rows.append(
            Row(
                "soak (traced): growth of what Python holds, MB per hour by module",
                traced_growth(first, last, (end - at) / 3600),
            )
        )
    # Leave with nothing behind: every object deleted, AWS audited.
    fleet.delete(names)
    wait_fleet("every finalizer released", lambda: not fleet.items(), timeout=900)
    leaks = AwsAudit(sandbox.aws_endpoint_url, namespace).inventory().leaks()
    rows.append(Row("soak: left in AWS after delete", leaks, "all 0"))
    localaws = ManagedProcess("localaws", sandbox.state_dir).pid()
    details: dict[str, Any] = {
        "rss_samples": samples,
        "minutes": minute_lines,
        "calls": calls,
        "operator_python": operator.python,
        "localaws_cpu_s": cpu_seconds(localaws) if localaws else None,
        "load_at_end": os.getloadavg(),
    }
    print_table(f"soak: {COUNT} ManagedEndpoints parked and resumed for {MINUTES:g} min", rows)
    save("soak", rows, details)
    assert not any(leaks.values()), leaks
