"""A thread pool for blocking calls, fair between namespaces.

boto3 and the kubernetes client are synchronous; `Workers.run` runs their calls in a pool of
threads so a slow call never holds up the operator's event loop.

The pool is shared by every tenant, so it queues fairly: each call joins the queue of its lane
(the namespace of the object whose pass made it, `LANE`; the operator's own work has the lane
""), and a free thread takes the next call of the next lane in turn. One namespace with a
thousand objects, or with calls that hang in retries while AWS throttles its account, therefore
delays another namespace's next call by at most one call, not by a thousand; and a lane never
holds more than `lane_share` of the threads, so the others always find one free.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

__all__ = ["LANE", "Workers"]

T = TypeVar("T")
# The namespace a reconcile pass works for; set at the start of every pass.
LANE: contextvars.ContextVar[str] = contextvars.ContextVar("sagemeter_lane", default="")


@dataclass
class _Job:
    call: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class Workers:
    def __init__(self, threads: int = 32, lane_share: float = 0.5) -> None:
        self._threads = threads
        self._cap = max(1, int(threads * lane_share))
        self._cond = threading.Condition()
        self._queues: dict[str, deque[_Job]] = {}
        self._turns: deque[str] = deque()  # lanes with queued calls, in turn order
        self._running: Counter[str] = Counter()
        self._started = 0
        self._idle = 0

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        # The caller's context (which object this is for) goes along into the thread.
        context = contextvars.copy_context()
        future: asyncio.Future[T] = loop.create_future()
        self._submit(LANE.get(), _Job(partial(context.run, fn, *args, **kwargs), loop, future))
        return await future

    def _submit(self, lane: str, job: _Job) -> None:
        with self._cond:
            queue = self._queues.setdefault(lane, deque())
            if not queue:
                self._turns.append(lane)
            queue.append(job)
            if self._idle == 0 and self._started < self._threads:
                self._started += 1
                threading.Thread(
                    target=self._work, name=f"aws-{self._started}", daemon=True
                ).start()
            self._cond.notify()

    def _next(self) -> tuple[str, _Job] | None:
        """The next lane's next call, skipping lanes at their share. Lock held."""
        for _ in range(len(self._turns)):
            lane = self._turns.popleft()
            if self._running[lane] >= self._cap:
                self._turns.append(lane)
                continue
            queue = self._queues[lane]
            job = queue.popleft()
            if queue:
                self._turns.append(lane)  # its next call waits for its next turn
            else:
                del self._queues[lane]
            self._running[lane] += 1
            return lane, job
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                found = self._next()
                while found is None:
                    self._idle += 1
                    self._cond.wait()
                    self._idle -= 1
                    found = self._next()
            lane, job = found
            value: Any = None
            error: BaseException | None = None
            try:
                value = job.call()
            except BaseException as exc:  # handed to the caller, as an executor does
                error = exc
            # A closed loop (RuntimeError): nobody waits for the answer any more.
            with contextlib.suppress(RuntimeError):
                job.loop.call_soon_threadsafe(_settle, job.future, value, error)
            with self._cond:
                self._running[lane] -= 1
                if not self._running[lane]:
                    del self._running[lane]
                self._cond.notify_all()
