"""Where passes and their blocking calls wait: deadlines first, then fairly between namespaces.

botocore and the apiserver client are synchronous; `Workers.run` runs their calls in a pool of
threads so a slow call never holds up the operator's event loop. `PassGate` bounds how many
ordinary passes (a spec change, the periodic sync, a poll while SageMaker works, the start)
run at once.

A deadline (an expiry, a schedule edge, an idle alarm, a request that wakes an endpoint) must
not wait behind a backlog of ordinary passes: a pass entering with `PassGate.slot(urgent=True)`
is let through the gate at once, and its calls (`URGENT` is set for them) are served before
ordinary calls queued earlier. A thousand spec changes landing together therefore queue behind
each other, not in front of the next expiry.

The pool and the gate are shared by every tenant, so both queue fairly. Each pass and each call
belongs to a lane: the namespace of the object whose pass it is (`LANE`; the operator's own work
has the lane ""). Within each class (urgent, then ordinary) a free thread takes the next call of
the next lane in turn, and a lane never holds more than `lane_share` of the threads, whatever
its class; the gate hands a free slot to the next namespace in turn. One namespace with a
thousand objects, with calls that hang in retries while AWS throttles its account, or that makes
its own passes urgent (a new wake annotation is a tenant's to write), therefore delays another
namespace's next call by at most one call, not by a thousand, and the other namespaces always
find a thread free.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from sagemeter.runtime.metrics import WORKER_BUSY_SECONDS, WORKER_CALLS, WORKER_WAIT_SECONDS

__all__ = ["LANE", "URGENT", "KeyedLock", "PassGate", "Workers"]

T = TypeVar("T")

# Whether the current pass acts on a deadline; read by `Workers.run` for its calls.
URGENT: contextvars.ContextVar[bool] = contextvars.ContextVar("urgent", default=False)
# The namespace a reconcile pass works for; set for every pass (`PassGate.slot`).
LANE: contextvars.ContextVar[str] = contextvars.ContextVar("sagemeter_lane", default="")
# How long calls waited for a thread, by class (`sagemeter_worker_wait_seconds`).
WAITED = {flag: WORKER_WAIT_SECONDS.labels(urgent=str(flag).lower()) for flag in (True, False)}
# A call, its future, when (monotonic) it was submitted, and what it calls (for the metrics).
_Job = tuple[Callable[[], Any], Future[Any], float, str]


def call_name(fn: Callable[..., Any]) -> str:
    """What a call runs, for `sagemeter_worker_calls`: a method's or function's qualified name
    (`SageMakerGateway.delete_endpoint`); a bounded set, one per call site's target."""
    while isinstance(fn, partial):
        fn = fn.func
    return str(getattr(fn, "__qualname__", None) or type(fn).__qualname__)


class Workers:
    """A pool of threads, started as calls need them, serving urgent calls first and lanes in
    turn."""

    def __init__(self, threads: int = 32, lane_share: float = 0.5) -> None:
        self.threads = threads
        self._pool = _Pool(threads, max(1, int(threads * lane_share)))
        # The threads hold the pool, not this object: once it is gone, they end.
        weakref.finalize(self, self._pool.close)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # The caller's context (which object this is for) goes along into the thread.
        context = contextvars.copy_context()
        future: Future[T] = Future()
        call = partial(context.run, fn, *args, **kwargs)
        job = (call, future, time.monotonic(), call_name(fn))
        self._pool.submit(URGENT.get(), LANE.get(), job)
        running = asyncio.wrap_future(future)
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            # A thread cannot be stopped: a cancelled pass still ends only once its call has,
            # so nothing the call writes lands after the object's next pass (its deletion).
            if not future.cancel():
                await asyncio.wait([running])
            raise

    @property
    def started(self) -> int:
        """Threads started so far."""
        return self._pool.started


@dataclass
class _Lanes:
    """Calls of one class waiting, per lane, and the lanes in turn order."""

    queues: dict[str, deque[_Job]] = field(default_factory=dict)
    turns: deque[str] = field(default_factory=deque)

    def put(self, lane: str, job: _Job) -> None:
        queue = self.queues.setdefault(lane, deque())
        if not queue:
            self.turns.append(lane)
        queue.append(job)

    def take(self, running: Counter[str], cap: int) -> tuple[str, _Job] | None:
        """The next lane's next call, skipping lanes at their share."""
        for _ in range(len(self.turns)):
            lane = self.turns.popleft()
            if running[lane] >= cap:
                self.turns.append(lane)
                continue
            queue = self.queues[lane]
            job = queue.popleft()
            if queue:
                self.turns.append(lane)  # its next call waits for its next turn
            else:
                del self.queues[lane]
            return lane, job
        return None


class _Pool:
    def __init__(self, threads: int, cap: int) -> None:
        self.threads = threads
        self.cap = cap
        self.cond = threading.Condition()
        self.urgent, self.ordinary = _Lanes(), _Lanes()
        self.running: Counter[str] = Counter()
        self.queued = 0
        self.started = 0
        self.idle = 0  # threads not running a call
        self.closed = False

    def submit(self, urgent: bool, lane: str, job: _Job) -> None:
        with self.cond:
            (self.urgent if urgent else self.ordinary).put(lane, job)
            self.queued += 1
            # As concurrent.futures does: a new call takes an idle thread, else starts one.
            start = self.idle < self.queued and self.started < self.threads
            if start:
                self.started += 1
                self.idle += 1
                name = f"aws-{self.started}"
            self.cond.notify()
        if start:
            threading.Thread(target=self.serve, name=name, daemon=True).start()

    def _next(self) -> tuple[str, _Job, bool] | None:
        """Lock held. The next call, its lane, and whether it is urgent."""
        urgent = True
        found = self.urgent.take(self.running, self.cap)
        if found is None:
            urgent, found = False, self.ordinary.take(self.running, self.cap)
        if found is None:
            return None
        self.queued -= 1
        self.idle -= 1
        self.running[found[0]] += 1
        return found[0], found[1], urgent

    def serve(self) -> None:
        while True:
            with self.cond:
                found = self._next()
                while found is None:
                    if self.closed:
                        self.idle -= 1
                        return
                    self.cond.wait()
                    found = self._next()
            lane, (call, future, submitted, name), urgent = found
            began = time.monotonic()
            WAITED[urgent].observe(began - submitted)
            if not future.set_running_or_notify_cancel():
                self._free(lane)
                continue
            try:
                result = call()
            except BaseException as error:  # handed to the awaiting pass
                # Free before the pass resumes: its next call takes this thread.
                self._free(lane)
                _count(urgent, name, began)
                future.set_exception(error)
            else:
                self._free(lane)
                _count(urgent, name, began)
                future.set_result(result)

    def _free(self, lane: str) -> None:
        with self.cond:
            self.running[lane] -= 1
            if not self.running[lane]:
                del self.running[lane]
            self.idle += 1
            # One slot is free: this thread takes the next call itself once its pass has the
            # result; one waiting thread is woken in case that call can start before then
            # (waking every idle thread after every call had each of them take the lock, and
            # the GIL, to find nothing more to do).
            self.cond.notify()

    def close(self) -> None:
        """The threads end once no call is left."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()


def _count(urgent: bool, name: str, began: float) -> None:
    labels = {"urgent": str(urgent).lower(), "call": name}
    WORKER_CALLS.labels(**labels).inc()
    WORKER_BUSY_SECONDS.labels(**labels).inc(time.monotonic() - began)


class PassGate:
    """At most `limit` ordinary passes at once; a free slot goes to the next namespace in turn
    (first come first served within a namespace). Urgent passes do not wait."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self._waiting = _GateLanes()

    @asynccontextmanager
    async def slot(self, urgent: bool, lane: str = "") -> AsyncIterator[None]:
        tokens = URGENT.set(urgent), LANE.set(lane)
        try:
            if urgent:
                yield
                return
            await self._enter(lane)
            try:
                yield
            finally:
                self._leave()
        finally:
            LANE.reset(tokens[1])
            URGENT.reset(tokens[0])

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def _enter(self, lane: str) -> None:
        if self.running < self.limit and not self._waiting:
            self.running += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.put(lane, turn)
        try:
            await turn  # the slot is handed over already counted
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._leave()  # handed over just as it was cancelled: pass it on
            else:
                self._waiting.discard(lane, turn)
            raise

    def _leave(self) -> None:
        while (turn := self._waiting.take()) is not None:
            if not turn.done():
                turn.set_result(None)
                return
        self.running -= 1


class _GateLanes:
    """Passes waiting at the gate, per namespace, the namespaces in turn order."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[asyncio.Future[None]]] = {}
        self._turns: deque[str] = deque()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def put(self, lane: str, turn: asyncio.Future[None]) -> None:
        queue = self._queues.setdefault(lane, deque())
        if not queue:
            self._turns.append(lane)
        queue.append(turn)
        self._count += 1

    def take(self) -> asyncio.Future[None] | None:
        if not self._turns:
            return None
        lane = self._turns.popleft()
        queue = self._queues[lane]
        turn = queue.popleft()
        if queue:
            self._turns.append(lane)
        else:
            del self._queues[lane]
        self._count -= 1
        return turn

    def discard(self, lane: str, turn: asyncio.Future[None]) -> None:
        queue = self._queues.get(lane)
        if queue is None or turn not in queue:
            return
        queue.remove(turn)
        self._count -= 1
        if not queue:
            del self._queues[lane]
            self._turns.remove(lane)


class KeyedLock:
    """One holder per key at a time (an object's passes: its loop's and its deletion's), with
    nothing kept for a key no one holds or waits for."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # the lock, its holder and waiters

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
