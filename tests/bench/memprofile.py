"""Runs the operator under tracemalloc and writes memory tables on request.

    python tests/bench/memprofile.py OUT_DIR run --namespace ns ...

starts `sagemeter` (the arguments after OUT_DIR) with tracemalloc tracing. On each SIGUSR1 it
collects garbage, takes a snapshot and writes ``OUT_DIR/memprofile-<n>.json``: the traced
total, VmRSS and VmHWM at that moment, and the top modules and packages by memory still held.
The benchmarks (``bench_memory.py``) send the signal with no object loaded and again at 1,000.

This file imports nothing but the standard library and is run by the interpreter of the
operator being measured, so it profiles any checkout (``hack/operator-venv.sh CHECKOUT``),
an earlier commit's too.

Each allocation is counted to the innermost frame of its traceback that is not the standard
library (json decoding for botocore's service models counts to ``botocore.loaders``, an asyncio
task's state to the kopf module that made it); one made by the standard library alone counts to
its own module. At import time a module's code objects are made by the import machinery, so
they count to the module whose ``import`` statement loaded it: the tables are right by package,
and at most one module off within one. tracemalloc sees what Python allocates, not what C
libraries allocate themselves (OpenSSL contexts, for one): the table's total is below VmRSS.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import runpy
import signal
import sys
import sysconfig
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

FRAMES = int(os.environ.get("SAGEMETER_TRACEMALLOC_FRAMES", "12"))
TOP = int(os.environ.get("SAGEMETER_TRACEMALLOC_TOP", "20"))
_STDLIB = tuple(
    os.path.realpath(sysconfig.get_paths()[key]) + os.sep for key in ("stdlib", "platstdlib")
)
_ROOTS = sorted(
    {os.path.realpath(p) + os.sep for p in sys.path if p and os.path.isdir(p)},
    key=len,
    reverse=True,
)


@functools.cache
def _is_stdlib(filename: str) -> bool:
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return True
    real = os.path.realpath(filename)
    return real.startswith(_STDLIB) and "site-packages" not in real


@functools.cache
def module_of(filename: str) -> str:
    """``.../site-packages/botocore/loaders.py`` -> ``botocore.loaders``."""
    if filename.startswith("<"):
        return filename.strip("<>").replace("frozen ", "")
    real = os.path.realpath(filename)
    for root in _ROOTS:
        if real.startswith(root):
            relative = real[len(root) :]
            break
    else:
        relative = os.path.basename(real)
    parts = relative.removesuffix(".py").split(os.sep)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def package_of(module: str) -> str:
    """The top-level package, or its first sub-package for sagemeter (``sagemeter.controller``)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "sagemeter" and len(parts) > 1 else parts[0]


def owner(traceback: tracemalloc.Traceback) -> str:
    # A Traceback runs from the oldest frame to the allocation: look from the allocation out.
    for frame in reversed(traceback):
        if not _is_stdlib(frame.filename):
            return module_of(frame.filename)
    return module_of(traceback[-1].filename)


def proc_status() -> dict[str, float]:
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def tables(snapshot: tracemalloc.Snapshot) -> dict[str, object]:
    by_module: Counter[str] = Counter()
    blocks: Counter[str] = Counter()
    owners: dict[tracemalloc.Traceback, str] = {}
    for statistic in snapshot.statistics("traceback"):
        name = owners.get(statistic.traceback)
        if name is None:
            name = owners[statistic.traceback] = owner(statistic.traceback)
        by_module[name] += statistic.size
        blocks[name] += statistic.count
    by_package: Counter[str] = Counter()
    for name, size in by_module.items():
        by_package[package_of(name)] += size
    mb = 1024 * 1024
    return {
        "traced_mb": round(sum(by_module.values()) / mb, 2),
        "by_module": [
            [name, round(size / mb, 2), blocks[name]] for name, size in by_module.most_common(TOP)
        ],
        "by_package": [[name, round(size / mb, 2)] for name, size in by_package.most_common(TOP)],
    }


class _Writer:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.count = 0
        self.lock = threading.Lock()

    def request(self, *_: object) -> None:
        # A signal handler runs on the main thread (the operator's event loop): hand over.
        threading.Thread(target=self.write, name="memprofile", daemon=True).start()

    def write(self) -> None:
        with self.lock:
            self.count += 1
            gc.collect()
            began = time.monotonic()
            memory = proc_status()
            found = tables(tracemalloc.take_snapshot())
            found.update(
                memory,
                seconds=round(time.monotonic() - began, 1),
                tracemalloc_overhead_mb=round(tracemalloc.get_tracemalloc_memory() / 2**20, 1),
            )
            target = self.out / f"memprofile-{self.count}.json"
            partial = target.with_suffix(".tmp")
            partial.write_text(json.dumps(found, indent=1))
            partial.rename(target)


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(FRAMES)
    signal.signal(signal.SIGUSR1, _Writer(out).request)
    sys.argv = ["sagemeter", *sys.argv[2:]]
    runpy.run_module("sagemeter.cli.main", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
