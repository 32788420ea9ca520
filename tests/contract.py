"""The contract check in the test session: every botocore request of the test process and of
the operator processes the tests start, checked against AWS's service models
(``sagemeter_sandbox.contract``). ``tests/conftest.py`` installs it and fails the test during
which a violation happened; fixtures that start a Python process put ``child_env(...)`` in its
environment.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from sagemeter_sandbox import contract

__all__ = ["CHECKER", "child_env", "expect_violation", "new_violations", "summary"]

CHECKER = contract.install(lambda violation: None)  # the checker keeps them; tests read them
_REPORTS = Path(tempfile.mkdtemp(prefix="sagemeter-contract-"))
_numbers = itertools.count()
_lock = threading.Lock()
_seen: dict[Path, int] = {}  # report -> violations already reported
_in_process_seen = [0]


def child_env(name: str = "operator") -> dict[str, str]:
    """Environment variables that make a child Python process check its requests; the
    violations it finds fail the test during which they are read (every test's teardown)."""
    with _lock:
        report = _REPORTS / f"{name}-{next(_numbers)}.jsonl"
        _seen[report] = 0
    return contract.subprocess_env(report)


def new_violations() -> list[str]:
    """Violations found since the last call, in this process and in every child."""
    found: list[str] = []
    with _lock:
        fresh = CHECKER.violations[_in_process_seen[0] :]
        _in_process_seen[0] += len(fresh)
        found += [f"test process: {v}" for v in fresh]
        for report, seen in _seen.items():
            # Read on every test's setup and teardown, for every operator the session started:
            # only the violations (a file written only when there is one), not the counts.
            lines = contract.read_violations(report)
            found += [
                f"{report.stem} (pid {line['pid']}): {line['operation']} {line['member']}="
                f"{line['value']}: {line['rule']}"
                for line in lines[seen:]
            ]
            _seen[report] = len(lines)
    return found


@contextlib.contextmanager
def expect_violation(operation: str, member: str) -> Iterator[None]:
    """For a test that sends what AWS refuses on purpose (to see the local AWS refuse it too):
    violations of ``member`` (a prefix) in ``operation`` ("sagemaker:CreateEndpointConfig")
    are not failures inside the block."""
    CHECKER.expected.append((operation, member))
    try:
        yield
    finally:
        CHECKER.expected.remove((operation, member))


def summary() -> str:
    """Requests checked so far and violations found, for the session's closing line. Never
    raises: a child's report it cannot read (a process killed mid-write) is counted as
    unreadable, so the line is printed whatever happened."""
    children = 0
    child_checked = 0
    child_violations = 0
    unreadable = 0
    with _lock:
        for report in _seen:
            children += 1
            try:
                lines, checked = contract.read_report(report)
            except (OSError, ValueError):
                unreadable += 1
                continue
            child_checked += checked
            child_violations += len(lines)
    total = CHECKER.checked + child_checked
    violations = len(CHECKER.violations) + child_violations
    lost = f", {unreadable} reports unreadable" if unreadable else ""
    return (
        f"botocore contract check: {total} requests checked ({CHECKER.checked} in the test"
        f" process, {child_checked} in {children} operator processes), {violations} violations"
        f"{lost}"
    )
