"""The memory profile (``make bench``): where the operator's memory goes, with no object loaded
and at 1,000 (one in ten with a route, one in ten with an idle policy).

The operator runs under tracemalloc (``memprofile.py``, run by the operator's own interpreter,
so ``SAGEMETER_OPERATOR_PYTHON`` may be another checkout's). Two tables each time, the top 20
modules and the top packages by memory still held, plus the growth per object by package.
tracemalloc slows the operator down and adds its own memory: VmRSS and VmHWM here are not the
footprint figures; ``bench_scale.py`` takes those from an untraced operator.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from sagemeter_sandbox import Sandbox

from ..chaos.report import ROOT
from ..integration.conftest import Operator, wait_for
from .fleet import Fleet, mixed, queued_events, wait_fleet

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(7200)]

COUNT = int(os.environ.get("SAGEMETER_BENCH_OBJECTS", "1000"))
MEMPROFILE = Path(__file__).with_name("memprofile.py")
SETTLE = 20.0


def profile(operator: Operator, out: Path, number: int) -> dict[str, Any]:
    assert operator.process is not None
    operator.process.send_signal(signal.SIGUSR1)
    found = out / f"memprofile-{number}.json"
    wait_for(f"memory profile {number}", found.exists, timeout=900)
    table: dict[str, Any] = json.loads(found.read_text())
    return table


def print_profile(title: str, table: dict[str, Any]) -> None:
    print(
        f"\n{title}: traced {table['traced_mb']} MB (VmRSS {table['VmRSS']:.1f} MB under"
        f" tracemalloc, {table['tracemalloc_overhead_mb']} MB of it tracemalloc's own)"
    )
    print(f"  {'module':<52} {'MB':>8} {'blocks':>9}")
    for module, mb, blocks in table["by_module"]:
        print(f"  {module:<52} {mb:>8.2f} {blocks:>9}")
    print(f"  {'package':<52} {'MB':>8}")
    for package, mb in table["by_package"]:
        print(f"  {package:<52} {mb:>8.2f}")


def per_object(before: dict[str, Any], after: dict[str, Any], count: int) -> dict[str, float]:
    """KB per object by package: what the fleet added."""
    was = dict(before["by_package"])
    now = dict(after["by_package"])
    grown = {k: (now.get(k, 0.0) - was.get(k, 0.0)) * 1024 / count for k in {*was, *now}}
    top = sorted(grown.items(), key=lambda kv: -kv[1])
    return {k: round(v, 1) for k, v in top if abs(v) >= 0.5}


def test_memory_profile(
    sandbox: Sandbox, operator: Operator, namespace: str, tmp_path: Path
) -> None:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = tmp_path / "memprofile"
    operator.launcher = [str(MEMPROFILE), str(out)]
    operator.ready_timeout = 300
    operator.start(SAGEMETER_SYNC_INTERVAL="60s", SAGEMETER_POLL_INTERVAL="10s")
    time.sleep(SETTLE)
    empty = profile(operator, out, 1)
    print_profile("memory with no objects", empty)

    fleet = Fleet(sandbox, namespace, mixed(namespace))
    names = [f"m{i:04d}" for i in range(COUNT)]
    began = time.time()
    fleet.create(names)
    wait_fleet("all InService", lambda: fleet.count_phase("InService") == COUNT, timeout=3600)
    in_service = time.time() - began
    wait_fleet("the event queue drained", lambda: queued_events(sandbox) == 0, 600)
    # Past kopf's idle worker timeout, and a sync pass for every object.
    time.sleep(70)
    loaded = profile(operator, out, 2)
    print_profile(f"memory at {COUNT} objects", loaded)
    growth = per_object(empty, loaded, COUNT)
    print(f"\nKB per object by package: {growth}", flush=True)
    (ROOT / ".bench").mkdir(exist_ok=True)
    (ROOT / ".bench" / f"memory-{stamp}.json").write_text(
        json.dumps(
            {
                "objects": COUNT,
                "operator_python": operator.python,
                "in_service_seconds": round(in_service, 1),
                "empty": empty,
                "loaded": loaded,
                "kb_per_object_by_package": growth,
                "load": os.getloadavg(),
            },
            indent=1,
        )
    )
    fleet.delete(names)
    wait_fleet("every finalizer released", lambda: not fleet.items(), timeout=1800)
