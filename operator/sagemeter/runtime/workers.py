"""Where passes and their blocking calls wait: deadlines first, ordinary work after.

botocore and the apiserver client are synchronous; `Workers.run` runs their calls in a pool of
threads so a slow call never holds up the operator's event loop. `PassGate` bounds how many
ordinary passes (a spec change, the periodic sync, a poll while SageMaker works, the start)
run at once.

A deadline (an expiry, a schedule edge, an idle alarm, a request that wakes an endpoint) must
not wait behind a backlog of ordinary passes: a pass entering with `PassGate.slot(urgent=True)`
is let through the gate at once, and its calls (`URGENT` is set for them) go to the head of the
pool's queue, before ordinary calls queued earlier. A thousand spec changes
landing together therefore queue behind each other, not in front of the next expiry.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import queue
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")

# Whether the current pass acts on a deadline; read by `Workers.run` for its calls.
URGENT: contextvars.ContextVar[bool] = contextvars.ContextVar("urgent", default=False)
_FIRST, _LATER, _LAST = 0, 1, 2
_Item = tuple[int, int, Callable[[], Any] | None, Future[Any] | None]


class Workers:
    """A pool of threads, started as calls need them, serving urgent calls first."""

    def __init__(self, threads: int = 32) -> None:
        self.threads = threads
        self._pool = _Pool(threads)
        # The threads hold the pool, not this object: once it is gone, they end.
        weakref.finalize(self, self._pool.close)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # The caller's context (which object this is for) goes along into the thread.
        context = contextvars.copy_context()
        future: Future[T] = Future()
        call = partial(context.run, fn, *args, **kwargs)
        self._pool.submit(_FIRST if URGENT.get() else _LATER, call, future)
        return await asyncio.wrap_future(future)

    @property
    def started(self) -> int:
        """Threads started so far."""
        return self._pool.started


class _Pool:
    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.queue: queue.PriorityQueue[_Item] = queue.PriorityQueue()
        self.order = itertools.count()
        self.lock = threading.Lock()
        self.started = 0
        self.idle = 0

    def submit(self, priority: int, call: Callable[[], Any], future: Future[Any]) -> None:
        self.queue.put((priority, next(self.order), call, future))
        # As concurrent.futures does: a new call takes an idle thread, else starts one.
        with self.lock:
            if self.idle > 0:
                self.idle -= 1
                return
            if self.started >= self.threads:
                return
            self.started += 1
            name = f"aws-{self.started}"
        threading.Thread(target=self.serve, name=name, daemon=True).start()

    def serve(self) -> None:
        while True:
            _, _, call, future = self.queue.get()
            if call is None or future is None:
                return
            if not future.set_running_or_notify_cancel():
                self._free()
                continue
            try:
                result = call()
            except BaseException as error:  # handed to the awaiting pass
                # Free before the pass resumes: its next call takes this thread.
                self._free()
                future.set_exception(error)
            else:
                self._free()
                future.set_result(result)

    def _free(self) -> None:
        with self.lock:
            self.idle += 1

    def close(self) -> None:
        with self.lock:
            started = self.started
        for _ in range(started):
            self.queue.put((_LAST, next(self.order), None, None))


class PassGate:
    """At most `limit` ordinary passes at once, first come first served; urgent ones pass."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def slot(self, urgent: bool) -> AsyncIterator[None]:
        token = URGENT.set(urgent)
        try:
            if urgent:
                yield
                return
            await self._enter()
            try:
                yield
            finally:
                self._leave()
        finally:
            URGENT.reset(token)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def _enter(self) -> None:
        if self.running < self.limit and not self._waiting:
            self.running += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn  # the slot is handed over already counted
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._leave()  # handed over just as it was cancelled: pass it on
            elif turn in self._waiting:
                self._waiting.remove(turn)
            raise

    def _leave(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.running -= 1
