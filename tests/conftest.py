"""Shared fixtures: one sandbox (real control plane + local AWS) per test session.

The ``sandbox`` fixture starts only when a test asks for it, so the unit tests
run without binaries or ports. It lives in a temporary state directory on free
ports and never touches the CLI's ``.sandbox``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sagemeter_sandbox import Sandbox

# The operator-process fixtures serve integration, e2e and bench tests alike.
from tests.integration.conftest import (  # noqa: F401
    fresh_namespace,
    kube,
    operator,
    policies,
    sagemaker,
)


def _log(message: str) -> None:
    # pytest captures stdout; stderr still reaches `pytest -s` and failure reports.
    print(f"sandbox: {message}", file=sys.stderr, flush=True)


def running_sandbox(state_dir: Path, log: Callable[[str], None] = _log) -> Iterator[Sandbox]:
    """A sandbox on free ports in `state_dir`, up until the generator is closed."""
    box = Sandbox(
        state_dir=state_dir, apiserver_port=None, aws_port=None, die_with_us=True, log=log
    )
    try:
        box.up()
        yield box
    finally:
        box.down()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A running sandbox; use ``sandbox.env()`` and ``sandbox.kubectl_run(...)``."""
    yield from running_sandbox(tmp_path_factory.mktemp("sandbox"))


@pytest.fixture
def namespace(sandbox: Sandbox) -> Iterator[str]:
    """A fresh namespace, deleted afterwards."""
    yield from fresh_namespace(sandbox)
