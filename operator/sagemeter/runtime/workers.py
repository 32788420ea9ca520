"""A thread pool for blocking calls.

boto3 and the kubernetes client are synchronous; `Workers.run` runs their calls
in a thread pool so a slow call never holds up the operator's event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")


class Workers:
    def __init__(self, threads: int = 32) -> None:
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="aws")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        # The caller's context (which object this is for) goes along into the thread.
        context = contextvars.copy_context()
        call = partial(context.run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._executor, call)
