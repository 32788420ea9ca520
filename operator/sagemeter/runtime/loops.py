"""The loop of each object: when its next pass is due, what wakes it early, and whether that
pass acts on a deadline (and so goes ahead of ordinary work, see `runtime.workers`).

Each object's kopf daemon runs a pass, then sleeps until the pass's next wake or until
something wakes it: a spec or wake-annotation change, an event from the queue, a policy or
budget change. A pass is urgent when it acts on a deadline: it begins at or after a transition
the meter decided (an expiry, a schedule edge), whatever woke it, or an urgent wake came (an
idle alarm, a request to wake). Wakes may come from any thread; they are handed to the event
loop, which alone reads and writes an object loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

# asyncio may end a wait up to its clock's resolution early; a pass beginning this close to its
# deadline is the deadline's pass.
DEADLINE_SLACK = 0.01


@dataclass(frozen=True)
class NextPass:
    """When an object's next pass is due, and whether it is due at a deadline the meter set
    (an expiry, a schedule edge): that pass goes ahead of ordinary work."""

    seconds: float
    deadline: bool = False


def next_pass(seconds: float, transition_at: datetime | None, now: datetime) -> NextPass:
    """The sooner of the pass's own next pass (in `seconds`: the periodic sync, a poll while
    SageMaker works) and the meter's next transition; due at the transition, it is a deadline."""
    if transition_at is not None:
        until = max((transition_at - now).total_seconds(), 0.0)
        if until <= seconds:
            return NextPass(until, deadline=True)
    return NextPass(max(seconds, 0.0))


class Nudge(Protocol):
    """Starts an object's next pass now (from any thread); `urgent` when that pass acts on a
    deadline."""

    def __call__(self, uid: str, urgent: bool = False) -> None: ...


@dataclass(eq=False)
class ObjectLoop:
    """One object's loop, read and written on the event loop only."""

    namespace: str
    clock: Callable[[], float] = time.monotonic
    event: asyncio.Event = field(default_factory=asyncio.Event)
    # An urgent wake came since the last pass began.
    urgent: bool = False
    # When (`clock`) the deadline the last pass set falls due, if it set one.
    deadline_at: float | None = None

    def begin(self) -> bool:
        """A pass begins: whether it acts on a deadline (its deadline has come, or an urgent
        wake asked for it). Wakes from now on count for the next pass."""
        due = self.deadline_at is not None and self.clock() >= self.deadline_at - DEADLINE_SLACK
        urgent = self.urgent or due
        self.urgent, self.deadline_at = False, None
        self.event.clear()
        return urgent

    def wake(self, urgent: bool = False) -> None:
        self.urgent = self.urgent or urgent
        self.event.set()

    async def wait(self, next_pass: NextPass, stopped: Awaitable[Any]) -> None:
        """Until the next pass is due, a wake, or `stopped` (kopf's `stopped.wait()`)."""
        if next_pass.deadline:
            self.deadline_at = self.clock() + next_pass.seconds
        waiters = [asyncio.ensure_future(self.event.wait()), asyncio.ensure_future(stopped)]
        try:
            await asyncio.wait(
                waiters, timeout=next_pass.seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()


class Loops:
    """Every object loop of this process, by uid."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._loops: dict[str, ObjectLoop] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def enter(self, uid: str, namespace: str) -> ObjectLoop:
        self._loop = asyncio.get_running_loop()
        found = self._loops.get(uid)
        if found is None:
            found = self._loops[uid] = ObjectLoop(namespace, self._clock)
        return found

    def leave(self, uid: str) -> None:
        self._loops.pop(uid, None)

    def __bool__(self) -> bool:
        return bool(self._loops)

    def __len__(self) -> int:
        return len(self._loops)

    def wake(self, uid: str, urgent: bool = False) -> None:
        """Wake the object's loop now (from any thread); `urgent`: its pass acts on a
        deadline."""
        found = self._loops.get(uid)
        if found is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(found.wake, urgent)

    def wake_namespaces(self, namespaces: set[str]) -> None:
        for uid, found in list(self._loops.items()):
            if found.namespace in namespaces:
                self.wake(uid)
