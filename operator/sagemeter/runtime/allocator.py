"""The C allocator under the operator: few malloc arenas.

Python's small objects live in its own arenas; everything larger (an HTTP body, a parsed
response's big dicts and lists, a JSON document) comes from the C library's malloc. glibc gives
every thread that allocates while another holds an arena a new arena, up to eight per core on a
64-bit machine (glibc manual, "Memory Allocation Tunables", ``glibc.malloc.arena_max``). The
operator's calls run in a pool of threads, so a burst spreads its short-lived buffers over many
arenas, and each arena keeps its freed pages: the process's peak grows with the number of
threads, not with the work. Two arenas serve a pool whose threads mostly wait on the network and
hold the GIL to allocate.

``MALLOC_ARENA_MAX`` in the environment wins: an operator that sets it keeps its own value.
Elsewhere than glibc (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import cache

__all__ = ["limit_arenas"]

# <malloc.h>: mallopt's parameter for the most arenas.
M_ARENA_MAX = -8
ARENAS = 2


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018  (glibc only)
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Caps malloc's arenas (before the threads start); whether the cap was set here."""
    libc = _libc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))
