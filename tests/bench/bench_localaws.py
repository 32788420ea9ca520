"""The sandbox's local AWS under concurrency
(``make bench BENCH_ARGS=tests/bench/bench_localaws.py``).

Every benchmark of the operator measures the local AWS too: a call's latency there is part of
an expiry's lag. AWS serves each call in about the same time however many arrive at once; the
local AWS is one Python process, and this measures how its cost per call moves with the calls
in flight. 500 endpoints are InService; then, at 1, 8 and 32 client threads (each with its own
keep-alive client, as the operator's worker threads have), the same 1,200 calls: the mix a
park storm sends (DescribeEndpoint, ListTags, DescribeAlarms, DeleteEndpoint and a
CreateEndpoint that brings the endpoint back). Reported per concurrency: calls per second,
client-side latency p50/p95, and the local AWS's CPU milliseconds per call
(``/proc/<pid>/stat``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from ..aws.test_localaws import _client, _start_server, _stop_server, deploy_config
from ..chaos.report import Row, print_table, save
from .scale import percentile

pytestmark = [pytest.mark.timeout(1800)]

ENDPOINTS = 500
CALLS = 1200
CONCURRENCY = (1, 8, 32)
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _calls(sm: Any, cw: Any, arn: str, name: str, config: str) -> list[Callable[[], Any]]:
    """The calls of one round on one endpoint: what a park storm's pass sends."""
    return [
        lambda: sm.describe_endpoint(EndpointName=name),
        lambda: sm.list_tags(ResourceArn=arn),
        lambda: cw.describe_alarms(AlarmNamePrefix=f"sagemeter-{name}"),
        lambda: sm.delete_endpoint(EndpointName=name),
        lambda: sm.describe_endpoint(EndpointName=name),
        lambda: sm.create_endpoint(EndpointName=name, EndpointConfigName=config),
    ]


def _run(url: str, pid: int, threads: int, names: list[str], config: str) -> dict[str, float]:
    per_round = 6
    rounds = CALLS // per_round
    work = list(range(rounds))
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]

    def worker() -> None:
        sm, cw = _client(url, "sagemaker"), _client(url, "cloudwatch")
        mine: list[float] = []
        while True:
            with lock:
                if not work:
                    break
                index = work.pop()
            name = names[index % len(names)]
            arn = f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}"
            for call in _calls(sm, cw, arn, name, config):
                began = time.perf_counter()
                try:
                    call()
                except Exception:
                    errors[0] += 1  # e.g. a delete of an endpoint still Deleting: still served
                mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    cpu = _cpu_seconds(pid)
    began = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - began
    served = len(latencies)
    return {
        "calls/s": round(served / wall, 1),
        "p50 ms": round(1000 * percentile(latencies, 0.50), 1),
        "p95 ms": round(1000 * percentile(latencies, 0.95), 1),
        "local AWS CPU ms/call": round(1000 * (_cpu_seconds(pid) - cpu) / served, 2),
        "errors": errors[0],
    }


def test_local_aws_cost_per_call_under_concurrency() -> None:
    proc, url = _start_server()
    try:
        sm = _client(url, "sagemaker")
        config = deploy_config(sm, "bench")
        names = [f"bench-{i}" for i in range(ENDPOINTS)]
        for name in names:
            sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
        rows = []
        for threads in CONCURRENCY:
            time.sleep(3)  # every transition of the last round has landed
            figures = _run(url, proc.pid, threads, names, config)
            rows += [Row(f"{threads} threads: {key}", value) for key, value in figures.items()]
        print_table(f"local AWS: {CALLS} calls on {ENDPOINTS} endpoints", rows)
        save("localaws", rows, {"endpoints": ENDPOINTS, "calls": CALLS})
    finally:
        assert _stop_server(proc) == 0
