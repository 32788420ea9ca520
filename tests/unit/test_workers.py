"""The worker pool queues fairly between namespaces (`runtime.workers`)."""

from __future__ import annotations

import asyncio
import threading
import time

from sagemeter.runtime.workers import LANE, Workers


def test_a_busy_namespace_cannot_starve_another() -> None:
    workers = Workers(threads=4)
    release = threading.Event()
    started: list[str] = []

    def slow(name: str) -> str:
        started.append(name)
        release.wait(5)
        return name

    def quick(name: str) -> str:
        started.append(name)
        return name

    async def run() -> tuple[float, list[str]]:
        async def as_lane(lane: str, fn: object, name: str) -> str:
            LANE.set(lane)
            return await workers.run(fn, name)  # type: ignore[arg-type]

        hog = [asyncio.create_task(as_lane("team-a", slow, f"a{i}")) for i in range(40)]
        await asyncio.sleep(0.2)
        began = time.monotonic()
        done = await asyncio.wait_for(as_lane("team-b", quick, "b"), 2)
        waited = time.monotonic() - began
        release.set()
        return waited, [done, *await asyncio.gather(*hog)]

    waited, results = asyncio.run(run())
    # team-a holds at most half the threads: team-b's call runs at once, not after 40 calls.
    assert waited < 0.5
    assert sorted(results) == sorted(["b", *(f"a{i}" for i in range(40))])
    assert started.index("b") <= 2


def test_lanes_take_turns_and_errors_reach_the_caller() -> None:
    workers = Workers(threads=1)
    order: list[str] = []
    gate = threading.Event()

    def record(name: str) -> None:
        if name == "gate":
            gate.wait(5)
        order.append(name)

    def fail() -> None:
        raise ValueError("boom")

    async def run() -> None:
        async def as_lane(lane: str, name: str) -> None:
            LANE.set(lane)
            await workers.run(record, name)

        first = asyncio.create_task(as_lane("x", "gate"))
        await asyncio.sleep(0.1)
        tasks = [asyncio.create_task(as_lane("a", f"a{i}")) for i in range(3)]
        await asyncio.sleep(0.05)
        tasks += [asyncio.create_task(as_lane("b", f"b{i}")) for i in range(3)]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(first, *tasks)
        try:
            await workers.run(fail)
        except ValueError as error:
            assert str(error) == "boom"
        else:
            raise AssertionError("the error must reach the caller")

    asyncio.run(run())
    assert order == ["gate", "a0", "b0", "a1", "b1", "a2", "b2"]
