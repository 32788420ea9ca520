"""Deadlines go first: an object loop knows when its pass acts on a deadline, the pass gate lets
such passes through, and the worker pool serves their calls before ordinary ones queued
earlier. Both queue fairly between namespaces. Time is a clock the tests move; no test sleeps
to prove an order."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from prometheus_client import REGISTRY

from sagemeter.runtime.loops import Loops, NextPass, ObjectLoop, next_pass
from sagemeter.runtime.workers import LANE, URGENT, KeyedLock, PassGate, Workers

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- when a pass is a deadline


def test_a_transition_sooner_than_the_sync_is_a_deadline() -> None:
    assert next_pass(300.0, NOW + timedelta(seconds=42), NOW) == NextPass(42.0, deadline=True)
    assert next_pass(300.0, NOW + timedelta(seconds=300), NOW) == NextPass(300.0, deadline=True)
    # Already past (a pass that ran late): due at once, still a deadline.
    assert next_pass(300.0, NOW - timedelta(seconds=5), NOW) == NextPass(0.0, deadline=True)


def test_a_sync_or_poll_sooner_than_the_transition_is_ordinary() -> None:
    assert next_pass(10.0, NOW + timedelta(seconds=11), NOW) == NextPass(10.0)
    assert next_pass(300.0, None, NOW) == NextPass(300.0)
    assert next_pass(-1.0, None, NOW) == NextPass(0.0)


def test_a_pass_beginning_at_its_deadline_is_urgent_whatever_woke_it() -> None:
    asyncio.run(_a_pass_beginning_at_its_deadline_is_urgent_whatever_woke_it())


async def _a_pass_beginning_at_its_deadline_is_urgent_whatever_woke_it() -> None:
    clock = Clock()
    loop = ObjectLoop("team-a", clock)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    assert not loop.begin()  # the first pass: nothing asked for it

    # The timer runs out at the deadline: that pass is urgent, and only that one.
    await loop.wait(NextPass(0.0, deadline=True), never)
    assert loop.begin()
    await loop.wait(NextPass(0.0), never)
    assert not loop.begin()

    # An ordinary wake (a spec change, an event) before the deadline: an ordinary pass, and the
    # deadline is set again by that pass.
    loop.wake()
    await loop.wait(NextPass(30.0, deadline=True), never)
    clock.now += 29.0
    assert not loop.begin()

    # An ordinary wake landing as the deadline falls due: the pass acts on the deadline.
    loop.wake()
    await loop.wait(NextPass(30.0, deadline=True), never)
    clock.now += 30.0
    assert loop.begin()

    # Woken early with the sync next, not a deadline: ordinary however late it begins.
    loop.wake()
    await loop.wait(NextPass(30.0), never)
    clock.now += 3600.0
    assert not loop.begin()


def test_an_urgent_wake_makes_the_next_pass_urgent_from_any_thread() -> None:
    asyncio.run(_an_urgent_wake_makes_the_next_pass_urgent_from_any_thread())


async def _an_urgent_wake_makes_the_next_pass_urgent_from_any_thread() -> None:
    loops = Loops(Clock())
    loop = loops.enter("uid-1", "team-a")
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    assert not loop.begin()
    await asyncio.to_thread(loops.wake_namespaces, {"team-b"})
    await asyncio.to_thread(loops.wake_namespaces, {"team-a"})
    await asyncio.wait_for(loop.wait(NextPass(3600.0), never), timeout=5)
    assert not loop.begin()  # an ordinary wake (a policy changed in its namespace)
    await asyncio.to_thread(loops.wake, "uid-1", True)  # an idle alarm, from the queue thread
    await asyncio.wait_for(loop.wait(NextPass(3600.0), never), timeout=5)
    assert loop.begin()
    assert not loop.begin()  # only the next pass
    loops.leave("uid-1")
    loops.wake("uid-1", urgent=True)  # a gone object: nothing to wake
    assert not loops


# ---------------------------------------------------------------- the gate


def test_an_urgent_pass_does_not_wait_for_the_gate() -> None:
    asyncio.run(_an_urgent_pass_does_not_wait_for_the_gate())


async def _an_urgent_pass_does_not_wait_for_the_gate() -> None:
    gate = PassGate(limit=1)
    order: list[str] = []
    release = asyncio.Event()

    async def ordinary(name: str) -> None:
        async with gate.slot(urgent=False):
            order.append(name)
            await release.wait()

    async def urgent() -> None:
        async with gate.slot(urgent=True):
            order.append("urgent")
            assert URGENT.get()

    first = asyncio.create_task(ordinary("first"))
    second = asyncio.create_task(ordinary("second"))
    await asyncio.sleep(0)
    assert order == ["first"] and gate.waiting == 1
    await asyncio.wait_for(urgent(), timeout=1)  # passes while both ordinary ones hold or wait
    assert order == ["first", "urgent"]
    release.set()
    await asyncio.gather(first, second)
    assert order == ["first", "urgent", "second"]
    assert gate.running == 0 and gate.waiting == 0
    assert not URGENT.get()


def test_ordinary_passes_take_turns_in_order() -> None:
    asyncio.run(_ordinary_passes_take_turns_in_order())


async def _ordinary_passes_take_turns_in_order() -> None:
    gate = PassGate(limit=2)
    release = [asyncio.Event() for _ in range(10)]
    entered: list[int] = []

    async def ordinary(index: int) -> None:
        async with gate.slot(urgent=False):
            entered.append(index)
            await release[index].wait()

    tasks = [asyncio.create_task(ordinary(i)) for i in range(10)]
    await asyncio.sleep(0)
    assert entered == [0, 1] and gate.running == 2 and gate.waiting == 8
    release[1].set()  # the second one leaves first: the next in line takes its slot
    await tasks[1]
    await asyncio.sleep(0)
    assert entered == [0, 1, 2] and gate.running == 2
    for event in release:
        event.set()
    await asyncio.gather(*tasks)
    assert entered == list(range(10))
    assert gate.running == 0 and gate.waiting == 0


def test_a_cancelled_waiter_gives_its_turn_on() -> None:
    asyncio.run(_a_cancelled_waiter_gives_its_turn_on())


async def _a_cancelled_waiter_gives_its_turn_on() -> None:
    gate = PassGate(limit=1)
    release = asyncio.Event()
    entered: list[str] = []

    async def ordinary(name: str) -> None:
        async with gate.slot(urgent=False):
            entered.append(name)
            await release.wait()

    holder = asyncio.create_task(ordinary("holder"))
    cancelled = asyncio.create_task(ordinary("cancelled"))
    last = asyncio.create_task(ordinary("last"))
    await asyncio.sleep(0)
    cancelled.cancel()
    release.set()
    await asyncio.gather(holder, last)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert entered == ["holder", "last"]
    assert gate.running == 0 and gate.waiting == 0


# ---------------------------------------------------------------- the worker pool


def test_urgent_calls_are_served_before_ordinary_ones_queued_earlier() -> None:
    asyncio.run(_urgent_calls_are_served_before_ordinary_ones_queued_earlier())


async def _urgent_calls_are_served_before_ordinary_ones_queued_earlier() -> None:
    workers = Workers(threads=1)
    busy, release = threading.Event(), threading.Event()
    served: list[str] = []

    def block() -> None:
        busy.set()
        release.wait(5)

    blocker = asyncio.ensure_future(workers.run(block))
    await asyncio.to_thread(busy.wait, 5)  # the only thread is taken
    ordinary = asyncio.ensure_future(workers.run(served.append, "ordinary"))
    await asyncio.sleep(0)

    async def urgent() -> None:
        token = URGENT.set(True)
        try:
            await workers.run(served.append, "urgent")
        finally:
            URGENT.reset(token)

    deadline = asyncio.ensure_future(urgent())
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(blocker, ordinary, deadline)
    assert served == ["urgent", "ordinary"]
    with pytest.raises(ZeroDivisionError):  # a call's error reaches its pass
        await workers.run(lambda: 1 / 0)


def waited(urgent: bool) -> tuple[float, float]:
    """(count, sum) of `sagemeter_worker_wait_seconds` for one class."""
    labels = {"urgent": str(urgent).lower()}
    count = REGISTRY.get_sample_value("sagemeter_worker_wait_seconds_count", labels) or 0.0
    total = REGISTRY.get_sample_value("sagemeter_worker_wait_seconds_sum", labels) or 0.0
    return count, total


def test_how_long_a_call_waited_for_a_thread_is_measured_by_class() -> None:
    asyncio.run(_how_long_a_call_waited_for_a_thread_is_measured_by_class())


async def _how_long_a_call_waited_for_a_thread_is_measured_by_class() -> None:
    workers = Workers(threads=1)
    busy, release = threading.Event(), threading.Event()

    def block() -> None:
        busy.set()
        release.wait(5)

    urgent_before, ordinary_before = waited(True), waited(False)
    blocker = asyncio.ensure_future(workers.run(block))
    await asyncio.to_thread(busy.wait, 5)  # the only thread is taken

    async def urgent() -> None:
        token = URGENT.set(True)
        try:
            await workers.run(lambda: None)
        finally:
            URGENT.reset(token)

    deadline = asyncio.ensure_future(urgent())
    await asyncio.sleep(0.3)  # the urgent call waits behind the blocker meanwhile
    release.set()
    await asyncio.gather(blocker, deadline)
    count, total = waited(True)
    assert count == urgent_before[0] + 1
    assert 0.25 <= total - urgent_before[1] < 5
    assert waited(False)[0] == ordinary_before[0] + 1  # the blocker, which found the thread


class Gateway:
    def describe(self, seconds: float) -> str:
        time.sleep(seconds)
        if seconds < 0.1:
            raise ZeroDivisionError("refused")
        return "described"


def ran(call: str, urgent: bool) -> tuple[float, float]:
    """(calls, busy seconds) of one call name and class."""
    labels = {"urgent": str(urgent).lower(), "call": call}
    count = REGISTRY.get_sample_value("sagemeter_worker_calls_total", labels) or 0.0
    busy = REGISTRY.get_sample_value("sagemeter_worker_busy_seconds_total", labels) or 0.0
    return count, busy


def test_what_the_threads_ran_is_counted_by_call_and_class() -> None:
    asyncio.run(_what_the_threads_ran_is_counted_by_call_and_class())


async def _what_the_threads_ran_is_counted_by_call_and_class() -> None:
    workers = Workers(threads=2)
    call = "Gateway.describe"
    urgent_before, ordinary_before = ran(call, True), ran(call, False)
    token = URGENT.set(True)
    try:
        assert await workers.run(Gateway().describe, 0.2) == "described"
    finally:
        URGENT.reset(token)
    with pytest.raises(ZeroDivisionError):  # a call that fails is counted as well, by name
        await workers.run(partial(Gateway().describe, 0.0))
    count, busy = ran(call, True)
    assert count == urgent_before[0] + 1
    assert 0.2 <= busy - urgent_before[1] < 5
    assert ran(call, False)[0] == ordinary_before[0] + 1


def test_a_deadline_does_not_wait_behind_a_thousand_ordinary_passes() -> None:
    asyncio.run(_a_deadline_does_not_wait_behind_a_thousand_ordinary_passes())


async def _a_deadline_does_not_wait_behind_a_thousand_ordinary_passes() -> None:
    """A burst of spec changes fills the gate and the pool; an expiry's pass, with three calls
    of its own, is served after the call already running and, between two of its calls, at
    most what the gate lets in meanwhile: not after the burst."""
    workers, gate = Workers(threads=1), PassGate(limit=4)
    release = threading.Event()
    running = threading.Event()
    served: list[str] = []

    def ordinary_call(index: int) -> None:
        running.set()
        release.wait(10)
        served.append(f"ordinary-{index}")

    async def ordinary(index: int) -> None:
        async with gate.slot(urgent=False):
            await workers.run(ordinary_call, index)

    async def expiry() -> None:
        async with gate.slot(urgent=True):
            for call in range(3):
                await workers.run(served.append, f"expiry-{call}")

    burst = [asyncio.create_task(ordinary(i)) for i in range(1000)]
    assert await asyncio.to_thread(running.wait, 5)  # the thread holds one; three wait
    assert gate.running == 4 and gate.waiting == 996
    deadline = asyncio.create_task(expiry())
    await asyncio.sleep(0)  # its first call is queued behind the three
    release.set()
    await asyncio.wait_for(deadline, timeout=10)
    waiting_when_done = gate.waiting
    await asyncio.gather(*burst)
    assert served.index("expiry-0") == 1  # only the call already running went first
    # Between two of its calls the loop admits at most the gate's worth of passes, whose calls
    # were queued, and their followers: twice the gate, per call.
    assert served.index("expiry-2") <= 1 + 3 * 2 * gate.limit
    assert waiting_when_done >= 1000 - 4 - 3 * 2 * gate.limit
    assert len(served) == 1003


def test_workers_start_threads_only_as_calls_need_them_and_end_them_with_the_pool() -> None:
    asyncio.run(_workers_start_threads_only_as_calls_need_them_and_end_them_with_the_pool())


async def _workers_start_threads_only_as_calls_need_them_and_end_them_with_the_pool() -> None:
    workers = Workers(threads=8)
    assert workers.started == 0
    threads = [await workers.run(threading.current_thread) for _ in range(5)]
    assert workers.started == 1  # one call at a time: one thread, reused
    assert len(set(threads)) == 1
    del workers
    gc.collect()
    threads[0].join(timeout=5)
    assert not threads[0].is_alive()


# ---------------------------------------------------------------- fair between namespaces


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
    # team-a holds at most half the threads: team-b's call runs at once, not after 40 calls
    # (which never end until it has: the 2 s wait would fail).
    assert waited < 1.5
    assert sorted(results) == sorted(["b", *(f"a{i}" for i in range(40))])
    assert started.index("b") <= 2


def test_many_lanes_at_their_share_all_finish_within_the_pool_and_their_shares() -> None:
    """Five namespaces, 400 calls of 0-3 ms on four threads (a lane's share two): every call
    finishes (no call is left waiting while a thread is idle), no lane ever runs more than its
    share and no more than four calls run at once."""
    workers = Workers(threads=4)
    lock = threading.Lock()
    running: dict[str, int] = {}
    most: dict[str, int] = {}

    def call(lane: str, index: int) -> int:
        with lock:
            running[lane] = running.get(lane, 0) + 1
            running["all"] = running.get("all", 0) + 1
            for key in (lane, "all"):
                most[key] = max(most.get(key, 0), running[key])
        time.sleep((index % 4) / 1000)
        with lock:
            running[lane] -= 1
            running["all"] -= 1
        return index

    async def as_lane(lane: str, index: int) -> int:
        LANE.set(lane)
        URGENT.set(index % 3 == 0)
        return await workers.run(call, lane, index)

    async def run() -> list[int]:
        lanes = [f"team-{k}" for k in range(5)]
        calls = [as_lane(lanes[i % 5 if i % 7 else 0], i) for i in range(400)]
        return await asyncio.wait_for(asyncio.gather(*calls), 20)

    assert sorted(asyncio.run(run())) == list(range(400))
    assert most["all"] <= 4
    assert max(v for k, v in most.items() if k != "all") <= 2
    assert most["team-0"] == 2  # the busiest lane did use its share


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


def test_the_gate_hands_free_slots_to_namespaces_in_turn() -> None:
    asyncio.run(_the_gate_hands_free_slots_to_namespaces_in_turn())


async def _the_gate_hands_free_slots_to_namespaces_in_turn() -> None:
    """A namespace that queues a hundred ordinary passes first does not hold another's one
    behind them all: the next free slot goes to the other namespace."""
    gate = PassGate(limit=1)
    release = asyncio.Event()
    entered: list[str] = []

    async def ordinary(lane: str, name: str) -> None:
        async with gate.slot(urgent=False, lane=lane):
            entered.append(name)
            assert LANE.get() == lane
            await release.wait()

    holder = asyncio.create_task(ordinary("team-a", "a-holder"))
    await asyncio.sleep(0)
    burst = [asyncio.create_task(ordinary("team-a", f"a{i}")) for i in range(100)]
    await asyncio.sleep(0)
    other = asyncio.create_task(ordinary("team-b", "b"))
    await asyncio.sleep(0)
    assert gate.waiting == 101
    release.set()
    await asyncio.gather(holder, *burst, other)
    assert entered[:3] == ["a-holder", "a0", "b"]
    assert gate.running == 0 and gate.waiting == 0
    assert LANE.get() == ""


def test_urgent_calls_take_lanes_in_turn_and_keep_to_their_share() -> None:
    asyncio.run(_urgent_calls_take_lanes_in_turn_and_keep_to_their_share())


async def _urgent_calls_take_lanes_in_turn_and_keep_to_their_share() -> None:
    """A tenant writes its own wake annotations, so it can make its passes urgent: urgency
    orders calls within a namespace's share, never past it."""
    workers = Workers(threads=2)  # a lane holds at most one thread
    release = threading.Event()
    started: list[str] = []

    def slow(name: str) -> None:
        started.append(name)
        release.wait(5)

    async def call(lane: str, urgent: bool, name: str) -> None:
        LANE.set(lane)
        URGENT.set(urgent)
        await workers.run(slow if lane == "team-a" else started.append, name)

    hog = [asyncio.create_task(call("team-a", True, f"a{i}")) for i in range(20)]
    await asyncio.sleep(0.1)
    await asyncio.wait_for(call("team-b", False, "b"), 2)  # an ordinary call, served at once
    release.set()
    await asyncio.gather(*hog)
    assert started.index("b") == 1


# ---------------------------------------------------------------- one pass of an object at a time


def test_a_cancelled_call_ends_only_once_its_thread_has() -> None:
    """A pass cancelled while its call runs (kopf stops a deleted object's loop) returns only
    after the call: nothing the call writes can land after the object's next pass."""
    began, release, finished = threading.Event(), threading.Event(), threading.Event()

    def call() -> None:
        began.set()
        release.wait(10)
        finished.set()

    async def scenario() -> None:
        workers = Workers(threads=2)
        task = asyncio.ensure_future(workers.run(call))
        assert await asyncio.to_thread(began.wait, 5)  # the call runs in its thread
        task.cancel()
        await asyncio.sleep(0.05)
        assert not task.done()  # still waiting for its thread
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert finished.is_set()

    asyncio.run(scenario())


def test_a_call_cancelled_before_it_starts_never_runs() -> None:
    ran: list[str] = []
    busy = threading.Event()

    async def scenario() -> None:
        workers = Workers(threads=1)
        blocker = asyncio.ensure_future(workers.run(busy.wait, 10))
        queued = asyncio.ensure_future(workers.run(ran.append, "late"))
        await asyncio.sleep(0.05)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        busy.set()
        await blocker
        await workers.run(ran.append, "next")

    asyncio.run(scenario())
    assert ran == ["next"]


def test_an_objects_passes_hold_one_lock_in_turn_and_leave_nothing_behind() -> None:
    locks, order = KeyedLock(), []

    async def one(key: str, name: str, hold: float) -> None:
        async with locks.hold(key):
            order.append(f"{name}+")
            await asyncio.sleep(hold)
            order.append(f"{name}-")

    async def scenario() -> None:
        await asyncio.gather(one("a", "loop", 0.05), one("a", "delete", 0), one("b", "other", 0))

    asyncio.run(scenario())
    # The deletion of "a" waits for its loop's pass; "b" does not wait for "a".
    assert order.index("delete+") > order.index("loop-")
    assert order.index("other-") < order.index("loop-")
    assert len(locks) == 0
