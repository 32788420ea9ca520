"""Integration fixtures: the operator as a real process against the sandbox.

Each test gets its own namespace and its own `sagemeter run --namespace <ns>`
process, so tests are isolated and a test can kill and restart its operator.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

from sagemeter_sandbox import Sandbox
from sagemeter_sandbox.control import FaultClient
from tests import contract

T = TypeVar("T")

# SageMaker's lifecycle in the local AWS, shortened for tests (read by the
# sandbox's moto server, which starts after this module is imported).
os.environ.setdefault("SAGEMETER_LOCALAWS_CREATE_SECONDS", "2")
os.environ.setdefault("SAGEMETER_LOCALAWS_UPDATE_SECONDS", "2")
os.environ.setdefault("SAGEMETER_LOCALAWS_DELETE_SECONDS", "1")

ROLE = "arn:aws:iam::123456789012:role/sagemeter-test"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/model:1"
FAILING_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/model:fail"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll `check` until it returns something truthy; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


# The interpreter that runs the operator: this one, unless a benchmark names another (the
# runtime-only venv of `hack/operator-venv.sh`, possibly of another checkout: `make bench`).
OPERATOR_PYTHON = os.environ.get("SAGEMETER_OPERATOR_PYTHON") or sys.executable


class Operator:
    """`sagemeter run` as a child process, watching its test's namespace (and any others the
    test adds to `namespaces` before `start`).

    `launcher` replaces `-m sagemeter.cli.main` (a script that runs sagemeter itself, such as
    the benchmarks' tracemalloc profiler)."""

    def __init__(self, sandbox: Sandbox, namespace: str, log_path: Path) -> None:
        self.python = OPERATOR_PYTHON
        self.launcher: list[str] = ["-m", "sagemeter.cli.main"]
        self.ready_timeout = 30.0
        self.sandbox = sandbox
        self.namespace = namespace
        self.namespaces = [namespace]
        self.log_path = log_path
        self.metrics_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {
            "SAGEMETER_REGION": "us-east-1",
            "SAGEMETER_EXECUTION_ROLE_ARN": ROLE,
            "SAGEMETER_API_INVOKE_ROLE_ARN": "arn:aws:iam::123456789012:role/sagemeter-apigateway",
            "SAGEMETER_SYNC_INTERVAL": "3s",
            "SAGEMETER_POLL_INTERVAL": "1s",
        }

    def start(self, **env: str) -> Operator:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.metrics_port = free_port()
        full_env = {
            **os.environ,
            **self.sandbox.env(),
            **self.env,
            **env,
            # Every AWS request it makes is checked against AWS's contract (tests/contract.py);
            # an operator from another interpreter (a benchmark's runtime-only venv, which has
            # no sandbox to check with) is measured as it ships.
            **(contract.child_env(self.log_path.stem) if self.python == sys.executable else {}),
            "SAGEMETER_METRICS_PORT": str(self.metrics_port),
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                self.python,
                *self.launcher,
                "run",
                *(arg for ns in self.namespaces for arg in ("--namespace", ns)),
            ],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for("the operator's metrics endpoint", self._metrics_up, timeout=self.ready_timeout)
        return self

    def _metrics_up(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"operator exited early:\n{self.logs()[-4000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1)
        except OSError:
            return False
        return True

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def aws_action_times(self, obj: str, operation: str) -> list[float]:
        """When (epoch seconds) the operator made AWS call `operation` ("sagemaker:DeleteEndpoint")
        for `obj` ("namespace/name"), from its JSON log: start it with SAGEMETER_LOG_FORMAT=json.
        The line is written when AWS has answered, so it is never earlier than the decision."""
        entries = [json.loads(line) for line in self.logs().splitlines() if line.startswith("{")]
        return [
            float(e["ts"])
            for e in entries
            if e.get("object") == obj and e.get("operation") == operation
        ]

    def metrics(self) -> dict[str, float]:
        """Every `sagemeter_*` sample of /metrics, keyed by name and labels as printed."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("sagemeter_") and " " in line:
                key, value = line.rsplit(" ", 1)
                samples[key] = float(value)
        return samples

    def aws_calls(self) -> dict[str, int]:
        """`sagemeter_aws_calls_total` by "service:Operation", scraped from /metrics."""
        calls: dict[str, int] = {}
        for key, value in self.metrics().items():
            if key.startswith("sagemeter_aws_calls_total{"):
                parts = dict(item.split("=", 1) for item in key[key.index("{") + 1 : -1].split(","))
                calls[f"{parts['service'].strip(chr(34))}:{parts['operation'].strip(chr(34))}"] = (
                    int(value)
                )
        return calls

    def reconcile_passes(self) -> int:
        """Reconcile passes finished so far (`sagemeter_reconcile_duration_seconds_count`)."""
        return int(self.metrics().get("sagemeter_reconcile_duration_seconds_count", 0))

    def wait_passes(self, count: int, timeout: float = 30) -> None:
        """Until `count` more reconcile passes have finished: every object this operator
        watches had that many chances to act (one object per test: that many of its own).
        Proves "nothing happened" by a condition rather than by a sleep."""
        target = self.reconcile_passes() + count
        wait_for(
            f"{count} more reconcile passes", lambda: self.reconcile_passes() >= target, timeout
        )


@pytest.fixture
def operator(sandbox: Sandbox, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    op = Operator(sandbox, namespace, tmp_path / "operator.log")
    try:
        yield op
    finally:
        op.stop()
        # A test that fails while it injects AWS faults (throttles, outages, kills) must not
        # hand them to the next test.
        FaultClient(sandbox.aws_endpoint_url).clear()
        if os.environ.get("SAGEMETER_TEST_SHOW_LOGS"):
            print(op.logs(), file=sys.stderr)


@pytest.fixture
def sagemaker(sandbox: Sandbox) -> Any:
    return boto3.client(
        "sagemaker",
        region_name="us-east-1",
        endpoint_url=sandbox.aws_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


class Kubectl:
    """Small helpers over `kubectl` for one namespace."""

    def __init__(self, sandbox: Sandbox, namespace: str) -> None:
        self.sandbox = sandbox
        self.namespace = namespace

    def apply(self, obj: dict[str, Any]) -> None:
        self.sandbox.kubectl_run("apply", "-n", self.namespace, "-f", "-", input=json.dumps(obj))

    def get(self, name: str, kind: str = "mep") -> dict[str, Any] | None:
        result = self.sandbox.kubectl_run(
            "get", kind, name, "-n", self.namespace, "-o", "json", check=False
        )
        return json.loads(result.stdout) if result.returncode == 0 else None

    def status(self, name: str) -> dict[str, Any]:
        obj = self.get(name)
        return (obj or {}).get("status") or {}

    def patch(self, name: str, patch: dict[str, Any]) -> None:
        self.sandbox.kubectl_run(
            "patch", "mep", name, "-n", self.namespace, "--type=merge", "-p", json.dumps(patch)
        )

    def delete(self, name: str, wait: bool = False) -> None:
        self.sandbox.kubectl_run(
            "delete", "mep", name, "-n", self.namespace, f"--wait={str(wait).lower()}"
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        result = self.sandbox.kubectl_run(
            "get",
            "events",
            "-n",
            self.namespace,
            "-o",
            "json",
            "--field-selector",
            f"involvedObject.name={name}",
        )
        return list(json.loads(result.stdout)["items"])

    def wait_event(self, name: str, reason: str, timeout: float = 30) -> list[dict[str, Any]]:
        """The object's Events once one has `reason`: kopf posts Events from a queue of its own,
        so one announced in a pass may arrive after that pass's status patch."""

        def found() -> list[dict[str, Any]] | None:
            events = self.events(name)
            return events if reason in [e["reason"] for e in events] else None

        return wait_for(f"a {reason} Event of {name}", found, timeout)

    def wait_phase(
        self, name: str, phase: str | tuple[str, ...], timeout: float = 60
    ) -> dict[str, Any]:
        """Status once its phase is `phase` (or one of them: a phase that lasts 2 s here, such
        as Creating, may be over before a poll sees it)."""
        phases = (phase,) if isinstance(phase, str) else phase
        return wait_for(
            f"{name} to reach phase {' or '.join(phases)}",
            lambda: (s := self.status(name)).get("phase") in phases and s,
            timeout,
        )

    def condition(self, name: str, type_: str) -> dict[str, Any]:
        for condition in self.status(name).get("conditions", []):
            if condition["type"] == type_:
                return dict(condition)
        return {}


@pytest.fixture
def kube(sandbox: Sandbox, namespace: str) -> Kubectl:
    return Kubectl(sandbox, namespace)


def fresh_namespace(sandbox: Sandbox) -> Iterator[str]:
    """A new namespace for one test, deleted afterwards without waiting for its finalizers."""
    name = f"test-{secrets.token_hex(4)}"
    sandbox.kubectl_run("create", "namespace", name)
    yield name
    sandbox.kubectl_run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def other_namespace(sandbox: Sandbox) -> Iterator[str]:
    """A second fresh namespace (another team)."""
    yield from fresh_namespace(sandbox)


def endpoint_object(name: str, **spec: Any) -> dict[str, Any]:
    """A ManagedEndpoint with a container model on one ml.m5.large unless `spec` says otherwise."""
    body: dict[str, Any] = {
        "model": {"container": {"image": IMAGE}},
        "instanceType": "ml.m5.large",
    }
    body.update(spec)
    return {
        "apiVersion": "sagemeter.io/v1alpha1",
        "kind": "ManagedEndpoint",
        "metadata": {"name": name},
        "spec": {k: v for k, v in body.items() if v is not None},
    }


def foreign_config(
    sagemaker: Any,
    prefix: str,
    instance_type: str = "ml.m5.large",
    variants: Sequence[str] = ("AllTraffic",),
) -> str:
    """A Model and EndpointConfig made outside sagemeter (a pipeline, a notebook), with one
    production variant per name in ``variants``."""
    sagemaker.create_model(
        ModelName=f"{prefix}-model",
        PrimaryContainer={"Image": IMAGE},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/elsewhere",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{prefix}-config",
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": f"{prefix}-model",
                "InstanceType": instance_type,
                "InitialInstanceCount": 1,
            }
            for variant in variants
        ],
    )
    return f"{prefix}-config"


def foreign_endpoint(
    sagemaker: Any,
    name: str,
    tags: dict[str, str] | None = None,
    config: str | None = None,
    variants: Sequence[str] = ("AllTraffic",),
) -> str:
    """An endpoint made outside sagemeter, on its own config unless `config` is given."""
    config = config or foreign_config(sagemaker, name, variants=variants)
    sagemaker.create_endpoint(
        EndpointName=name,
        EndpointConfigName=config,
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )
    return config


@pytest.fixture
def policies(sandbox: Any) -> Iterator[Callable[..., str]]:
    """Make EndpointPolicies (cluster-scoped) for the test; all are deleted afterwards."""
    made: list[str] = []

    def make(name: str, namespaces: list[str], **spec: Any) -> str:
        body = {
            "apiVersion": "sagemeter.io/v1alpha1",
            "kind": "EndpointPolicy",
            "metadata": {"name": name},
            "spec": {"namespaceSelector": {"names": namespaces}, **spec},
        }
        sandbox.kubectl_run("apply", "-f", "-", input=json.dumps(body))
        if name not in made:
            made.append(name)
        return name

    yield make
    for name in made:
        sandbox.kubectl_run("delete", "endpointpolicy", name, "--wait=false", check=False)
