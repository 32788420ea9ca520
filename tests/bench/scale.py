"""Measuring instruments for the scale benchmark (``bench_scale.py``): process CPU and memory
from ``/proc``, Prometheus text scraped from the operator and the apiserver, percentiles, and
py-spy profiles folded into the costs that matter (where the operator's CPU goes)."""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sagemeter_sandbox import Sandbox

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def percentile(values: Iterable[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_mb(pid: int) -> dict[str, float]:
    """``VmRSS`` (now) and ``VmHWM`` (peak so far) in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def metric_samples(text: str) -> Iterable[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample in Prometheus text."""
    for line in text.splitlines():
        found = SAMPLE.match(line.strip())
        if not found:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', found[2] or ""))
        yield found[1], labels, float(found[3])


def operator_metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(value for metric, _, value in metric_samples(text) if metric == name)


def by_label(port: int, name: str, label: str, **labels: str) -> dict[str, float]:
    """A counter of the operator's /metrics, by the value of one of its labels (among the
    samples whose other `labels` match)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    found: dict[str, float] = {}
    for metric, got, value in metric_samples(text):
        if metric == name and all(got.get(k) == v for k, v in labels.items()):
            found[got[label]] = found.get(got[label], 0.0) + value
    return found


def histogram(port: int, name: str, **labels: str) -> dict[str, float]:
    """One histogram of the operator's /metrics: cumulative counts by bucket bound ("le"), and
    "count" and "sum"."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    found: dict[str, float] = {}
    for metric, got, value in metric_samples(text):
        if any(got.get(k) != v for k, v in labels.items()):
            continue
        if metric == f"{name}_bucket":
            found[got["le"]] = value
        elif metric in (f"{name}_count", f"{name}_sum"):
            found[metric.rsplit("_", 1)[1]] = value
    return found


def histogram_summary(after: dict[str, float], before: dict[str, float]) -> dict[str, object]:
    """What a histogram gained between two reads: how many, the mean, and the bucket bounds
    under which half and 95 % of them fell."""
    count = after.get("count", 0.0) - before.get("count", 0.0)
    if count <= 0:
        return {"count": 0}
    bounds = sorted((float(le), le) for le in after if le not in ("count", "sum"))

    def under(fraction: float) -> str:
        for _, le in bounds:
            if after[le] - before.get(le, 0.0) >= fraction * count:
                return le
        return "+Inf"

    total = after.get("sum", 0.0) - before.get("sum", 0.0)
    return {
        "count": int(count),
        "mean_s": round(total / count, 3),
        "p50_under_s": under(0.5),
        "p95_under_s": under(0.95),
    }


def apiserver_requests(sandbox: Sandbox) -> Counter[str]:
    """``apiserver_request_total`` by "VERB resource[/subresource]", with the admin identity."""
    plane = sandbox.controlplane
    context = ssl.create_default_context(cafile=str(plane.pki / "ca.crt"))
    context.load_cert_chain(plane.pki / "admin.crt", plane.pki / "admin.key")
    with urllib.request.urlopen(plane.server + "/metrics", context=context, timeout=10) as r:
        text = r.read().decode()
    counts: Counter[str] = Counter()
    for name, labels, value in metric_samples(text):
        if name == "apiserver_request_total":
            sub = f"/{labels['subresource']}" if labels.get("subresource") else ""
            counts[f"{labels.get('verb')} {labels.get('resource')}{sub}"] += int(value)
    return counts


@dataclass
class Sampler:
    """Samples CPU seconds and memory of named processes every ``interval`` on a thread."""

    pids: dict[str, int]
    interval: float = 0.5
    samples: list[tuple[float, dict[str, float], dict[str, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Sampler:
        threading.Thread(target=self._loop, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(self.snapshot())

    def snapshot(self) -> tuple[float, dict[str, float], dict[str, float]]:
        cpu, rss = {}, {}
        for name, pid in self.pids.items():
            try:
                cpu[name] = cpu_seconds(pid)
                rss[name] = memory_mb(pid).get("VmRSS", 0.0)
            except OSError:
                continue
        return time.time(), cpu, rss

    def cpu_between(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds each process used between two wall-clock times (nearest samples)."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return {}
        first, last = inside[0][1], inside[-1][1]
        return {k: round(last[k] - first[k], 2) for k in last if k in first}


# ---------------------------------------------------------------------- profiling

# What a sampled stack is spending its time on, first match wins (frames are "func (file:line)").
CATEGORIES: list[tuple[str, Callable[[str], bool]]] = [
    (
        "status patches / kube client (kubernetes, or sagemeter's own on urllib3)",
        lambda s: (
            "kubernetes/client" in s
            or "sagemeter/runtime/kube.py" in s
            or "sagemeter/runtime/apiserver.py" in s
        ),
    ),
    ("AWS calls (botocore, in the thread pool)", lambda s: "botocore" in s or "boto3" in s),
    (
        "thread pool plumbing (concurrent.futures)",
        lambda s: "concurrent/futures" in s and "botocore" not in s,
    ),
    ("kopf watch/event handling", lambda s: "kopf/_cogs" in s or "kopf/_core" in s),
    (
        "sagemeter pass logic (controller/core)",
        lambda s: "sagemeter/controller" in s or "sagemeter/core" in s,
    ),
    ("pydantic validation", lambda s: "pydantic" in s),
    ("logging", lambda s: "logging/__init__" in s or "sagemeter/runtime/logs" in s),
    ("asyncio event loop", lambda s: "asyncio" in s),
]


class Profiler:
    """``py-spy record`` of a process in raw (collapsed stack) form, then folded."""

    def __init__(self, pid: int, output: Path, rate: int = 50, gil: bool = False) -> None:
        """``gil``: only stacks of the thread holding the GIL, i.e. where the interpreter's one
        core goes (a thread waiting on a socket or a lock is not sampled)."""
        self.output = output
        binary = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
        self.process = subprocess.Popen(
            [
                binary,
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--rate",
                str(rate),
                "--nonblocking",
                *(["--gil"] if gil else []),
                "--output",
                str(output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self) -> dict[str, object]:
        self.process.send_signal(2)  # SIGINT: py-spy writes what it has and exits
        _, err = self.process.communicate(timeout=60)
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote nothing: {err.decode(errors='replace')[-2000:]}")
        return fold(self.output.read_text())


def fold(raw: str, top: int = 12) -> dict[str, object]:
    """Shares of samples per category and the functions most often on top of the stack."""
    categories: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        leaves[frames[-1]] += count
        for frame in set(frames):
            if "sagemeter/" in frame or "kopf/" in frame:
                inclusive[frame] += count
        # The innermost frame that matches a category names the cost.
        for frame in reversed(frames):
            label = next((name for name, match in CATEGORIES if match(frame)), None)
            if label:
                categories[label] += count
                break
        else:
            categories["other (interpreter, ssl, json...)"] += count
    share = {k: f"{100 * v / total:.1f}%" for k, v in categories.most_common()} if total else {}
    return {
        "samples": total,
        "by_category": share,
        "top_self": [(k, v) for k, v in leaves.most_common(top)],
        "top_inclusive_sagemeter_kopf": [(k, v) for k, v in inclusive.most_common(top)],
    }


class ApiserverProfile:
    """kube-apiserver's own CPU profile (``/debug/pprof/profile``, Go's sampling profiler) over
    a window that begins at ``at`` (epoch seconds) and lasts ``seconds``, read through the
    sandbox's kubectl as its admin; folded by ``go tool pprof`` into the functions and packages
    that took the CPU. The sandbox serves it only with ``SAGEMETER_SANDBOX_PROFILING=1``."""

    def __init__(self, sandbox: Sandbox, output: Path, at: float, seconds: int) -> None:
        self.sandbox, self.output = sandbox, output
        self.error: str | None = None
        self.thread = threading.Thread(target=self._record, args=(at, seconds), daemon=True)
        self.thread.start()

    def _record(self, at: float, seconds: int) -> None:
        time.sleep(max(0.0, at - time.time()))
        with self.output.open("wb") as out:
            done = subprocess.run(
                [
                    str(self.sandbox.kubectl),
                    "get",
                    "--raw",
                    f"/debug/pprof/profile?seconds={seconds}",
                    "--request-timeout",
                    f"{seconds + 60}s",
                ],
                stdout=out,
                stderr=subprocess.PIPE,
                env={**os.environ, **self.sandbox.env()},
            )
        if done.returncode:
            self.error = done.stderr.decode(errors="replace")[-1000:]

    def stop(self, top: int = 15) -> dict[str, object]:
        self.thread.join()
        if self.error is not None:
            return {"error": self.error}
        go = shutil.which("go") or "/usr/local/go/bin/go"
        text = subprocess.run(
            [go, "tool", "pprof", "-top", "-nodecount=400", str(self.output)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return fold_pprof(text, top)


# Where kube-apiserver's CPU goes, by the package of the function on top of the stack: the Go
# runtime's own (allocation, garbage collection, maps, scheduling) by prefix, the rest by a mark
# in the function's package path.
GO_RUNTIME = ("runtime.", "internal/runtime", "sync.", "internal/sync", "aeshash", "memeqbody")
GO_AREAS = [
    ("CEL (CRD rules, admission policies)", ("cel-go", "/cel.", "/cel/", "celconfig")),
    ("admission", ("admission",)),
    ("JSON and structured merge", ("json", "structured-merge-diff", "jsoniter", "managedfields")),
    ("schema validation and defaulting", ("kube-openapi", "apiextensions", "validation", "schema")),
    ("etcd client and storage", ("go.etcd.io", "storage/etcd3", "storage/cacher", "grpc")),
    ("TLS and crypto", ("crypto/", "tls", "p256", "sha256")),
    ("HTTP and HTTP/2", ("net/http", "x/net/http2", "bufio")),
    ("deep copies and conversion", ("DeepCopy", "conversion", "unstructured")),
]


def fold_pprof(text: str, top: int = 15) -> dict[str, object]:
    """`go tool pprof -top` text: the share of the flat (self) CPU per area, and the top
    functions."""
    rows: list[tuple[float, str]] = []
    total = 0.0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[1].endswith("%") and parts[0][-1] == "s":
            flat = _seconds(parts[0])
            rows.append((flat, " ".join(parts[5:])))
        elif "samples" in line and "Duration" in line:
            found = re.search(r"Total samples = ([0-9.]+m?s)", line)
            total = _seconds(found.group(1)) if found else 0.0
    areas: Counter[str] = Counter()
    for flat, function in rows:
        area = (
            "Go runtime (allocation, GC, maps, scheduling)"
            if function.startswith(GO_RUNTIME)
            else next(
                (name for name, marks in GO_AREAS if any(m in function for m in marks)), "other"
            )
        )
        areas[area] += flat
    seen = sum(flat for flat, _ in rows) or 1.0
    return {
        "cpu_seconds_sampled": round(total, 1),
        "by_area": {k: f"{100 * v / seen:.1f}%" for k, v in areas.most_common()},
        "top_self": [(f, round(s, 2)) for s, f in sorted(rows, reverse=True)[:top]],
    }


def _seconds(value: str) -> float:
    if value.endswith("ms"):
        return float(value[:-2]) / 1000
    if value.endswith("us") or value.endswith("µs"):
        return float(value[:-2]) / 1_000_000
    return float(value.rstrip("s"))
