"""Crash-only start-up (SPEC §3): a setting the operator cannot honour ends `sagemeter run`
with one clear line and a non-zero exit, never a live process that reconciles nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

import pytest

from sagemeter_sandbox import Sandbox

from .conftest import ROLE, free_port

pytestmark = pytest.mark.cluster


def run_operator(
    sandbox: Sandbox, *args: str, **env: str | None
) -> subprocess.CompletedProcess[str]:
    full: dict[str, Any] = {
        **os.environ,
        **sandbox.env(),
        "SAGEMETER_REGION": "us-east-1",
        "SAGEMETER_EXECUTION_ROLE_ARN": ROLE,
        "SAGEMETER_METRICS_PORT": str(free_port()),
        # boto3 would otherwise ask an instance metadata service for credentials.
        "AWS_EC2_METADATA_DISABLED": "true",
        **env,
    }
    full = {k: v for k, v in full.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-m", "sagemeter.cli.main", "run", "--namespace", "default", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("sagemeter: cannot start: ")
    return lines[0]


def test_a_metrics_port_in_use_ends_the_process(sandbox: Sandbox) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(run_operator(sandbox, SAGEMETER_METRICS_PORT=str(port)))
    assert f"cannot serve metrics on port {port}" in line
    assert "Address already in use" in line


def test_a_probe_port_in_use_ends_the_process(sandbox: Sandbox) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(run_operator(sandbox, f"--liveness=http://127.0.0.1:{port}/healthz"))
    assert f"cannot serve probes on http://127.0.0.1:{port}/healthz" in line
    assert "Address already in use" in line


def test_a_bad_setting_ends_the_process_naming_it(sandbox: Sandbox) -> None:
    line = one_line(run_operator(sandbox, SAGEMETER_SYNC_INTERVAL="banana"))
    assert "SAGEMETER_SYNC_INTERVAL" in line


def test_no_aws_credentials_ends_the_process(sandbox: Sandbox) -> None:
    line = one_line(
        run_operator(
            sandbox,
            AWS_ACCESS_KEY_ID=None,
            AWS_SECRET_ACCESS_KEY=None,
            AWS_SESSION_TOKEN=None,
            AWS_PROFILE=None,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=None,
            AWS_CONTAINER_CREDENTIALS_FULL_URI=None,
            AWS_WEB_IDENTITY_TOKEN_FILE=None,
        )
    )
    assert "no AWS credentials" in line
