"""The operator's malloc arenas: capped before its threads start, and the environment wins.

Each case runs in a fresh interpreter (the cap is process-wide and must come before threads),
whose threads each allocate buffers that malloc serves from an arena; glibc's own
``malloc_stats`` then lists the arenas the process made."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from sagemeter.runtime import allocator

glibc = pytest.mark.skipif(
    allocator._libc() is None,
    reason="mallopt is glibc's: elsewhere (musl, macOS) the operator leaves malloc as it is",
)

THREADS = 6
SCRIPT = textwrap.dedent(
    f"""
    import sys, threading
    from sagemeter.runtime import allocator
    print(allocator.limit_arenas() if sys.argv[1] == "cap" else None, flush=True)
    ready = threading.Barrier({THREADS})
    held = []
    def work():
        # Larger than Python's small-object limit, smaller than malloc's mmap threshold.
        held.append([bytes(4000) for _ in range(200)])
        ready.wait()
    threads = [threading.Thread(target=work) for _ in range({THREADS})]
    for t in threads: t.start()
    for t in threads: t.join()
    allocator._libc().malloc_stats()
    """
)


def arenas(mode: str, **env: str) -> tuple[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        env={k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    made = sum(line.startswith("Arena ") for line in done.stderr.splitlines())
    return done.stdout.strip(), made


@glibc
def test_the_cap_keeps_every_thread_in_two_arenas() -> None:
    assert arenas("cap") == ("True", allocator.ARENAS)


@glibc
def test_without_the_cap_threads_spread_over_more_arenas() -> None:
    said, made = arenas("free")
    assert said == "None"
    assert made > allocator.ARENAS


@glibc
def test_an_operators_own_setting_wins() -> None:
    # glibc reads MALLOC_ARENA_MAX at start; sagemeter then leaves it alone.
    assert arenas("cap", MALLOC_ARENA_MAX="4") == ("False", 4)
