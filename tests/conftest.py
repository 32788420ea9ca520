"""Shared fixtures: one sandbox (real control plane + local AWS) per test session.

The ``sandbox`` fixture starts only when a test asks for it, so the unit tests
run without binaries or ports. It lives in a temporary state directory on free
ports and never touches the CLI's ``.sandbox``.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sagemeter_sandbox import Sandbox
from tests import contract

# The operator-process fixtures serve integration, e2e and bench tests alike.
from tests.integration.conftest import (  # noqa: F401
    fresh_namespace,
    kube,
    operator,
    policies,
    sagemaker,
)


@pytest.fixture(autouse=True)
def _aws_contract() -> Iterator[None]:
    """Fails the test during which any botocore request, here or in an operator process the
    tests started, broke AWS's contract (the service model botocore ships, and the limits AWS
    documents besides: ``sagemeter_sandbox.contract``)."""
    contract.new_violations()  # what happened between tests is not this test's
    yield
    found = contract.new_violations()
    if found:
        pytest.fail("requests AWS would refuse as malformed:\n" + "\n".join(found), pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    # A SIGTERM (a CI job cancelled, `timeout make test`) ends the session as Ctrl-C does:
    # fixtures torn down, the summary and the contract check's count printed.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_unconfigure(config: pytest.Config) -> None:
    """The contract check's count is the session's very last line, whatever the outcome
    (passed, failed, interrupted, a collection error)."""
    line = contract.summary()
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)
    else:
        print(line, file=sys.stderr, flush=True)


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
