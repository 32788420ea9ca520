"""The local sandbox: a real control plane (see :mod:`.controlplane`) plus a local
AWS (a moto server with SageMaker extensions, :mod:`.localaws`) in one state
directory.

This module owns the composition: port choice, ``state.json`` (so ``status``,
``down`` and a repeated ``up`` find a running sandbox), CRD and admission-policy
installation, and the environment that points kubectl, kopf and boto3 at the
sandbox.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sagemeter_sandbox import quotas
from sagemeter_sandbox.controlplane import (
    ControlPlane,
    Log,
    ManagedProcess,
    controlplane_binaries,
    free_port,
    log_to_stderr,
    repo_root,
    wait_until,
)

__all__ = ["Sandbox"]

AWS_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


PLUGIN = "kubectl-sagemeter"
# Helm adopts an object only with these (the release docs/install.md installs).
HELM_LABELS = {"app.kubernetes.io/managed-by": "Helm"}
HELM_FIELD_MANAGER = "helm"
HELM_ANNOTATIONS = {
    "meta.helm.sh/release-name": "sagemeter",
    "meta.helm.sh/release-namespace": "sagemeter-system",
}


def _default_state_dir() -> Path:
    return repo_root() / ".sandbox"


def plugin_dir() -> Path | None:
    """Where `kubectl-sagemeter` (the operator distribution's console script) is installed:
    beside this interpreter (the virtualenv the sandbox runs from), else on PATH; None when
    it is not installed."""
    beside = Path(sys.executable).parent
    if (beside / PLUGIN).exists():
        return beside
    found = shutil.which(PLUGIN)
    return Path(found).parent if found else None


@dataclass
class Sandbox:
    """One sandbox, identified by its state directory.

    ``apiserver_port``/``aws_port`` are preferences for ``up`` (taken when free,
    None means any free port); a running sandbox's actual ports come from
    ``state.json``.
    """

    state_dir: Path = field(default_factory=_default_state_dir)
    apiserver_port: int | None = 6443
    aws_port: int | None = 5000
    timeout: float = 60.0
    log: Log = log_to_stderr
    # True for test sessions: the processes die with the interpreter that started them
    # even when it is killed. False for the CLI, whose sandbox outlives the command.
    die_with_us: bool = False

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).resolve()

    # ------------------------------------------------------------------ state

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    def _state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return {}

    def _require_state(self) -> dict[str, Any]:
        state = self._state()
        if not state:
            raise RuntimeError(f"no sandbox in {self.state_dir}; run `sagemeter sandbox up`")
        return state

    def _controlplane(self, state: dict[str, Any]) -> ControlPlane:
        binaries = state.get("binaries")
        return ControlPlane(
            state_dir=self.state_dir,
            apiserver_port=state["apiserver_port"],
            etcd_client_port=state["etcd_client_port"],
            etcd_peer_port=state["etcd_peer_port"],
            binaries=Path(binaries) if binaries else None,
            log=self.log,
            die_with_us=self.die_with_us,
        )

    @property
    def _aws_process(self) -> ManagedProcess:
        return ManagedProcess("localaws", self.state_dir)

    # ------------------------------------------------------------- interface

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def bin_dir(self) -> Path:
        return self.state_dir / "bin"

    @property
    def kubectl(self) -> Path:
        return self.bin_dir / "kubectl"

    @property
    def controlplane(self) -> ControlPlane:
        """The running control plane (its processes, ``ready``, admin ``get``)."""
        return self._controlplane(self._require_state())

    @property
    def apiserver_url(self) -> str:
        return self._controlplane(self._require_state()).server

    @property
    def aws_endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._require_state()['aws_port']}"

    @property
    def path_dirs(self) -> list[Path]:
        """What goes in front of PATH: the sandbox's kubectl, and the kubectl plugin
        (`kubectl sagemeter`) from the environment the sandbox runs in."""
        plugin = plugin_dir()
        return [self.bin_dir, *([plugin] if plugin is not None else [])]

    def env(self) -> dict[str, str]:
        """Variables that point kubectl, kopf and boto3 at this sandbox."""
        path = os.pathsep.join([*map(str, self.path_dirs), os.environ.get("PATH", "")])
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            **AWS_CREDENTIALS,
            "PATH": path,
        }

    def kubectl_run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Runs the sandbox's kubectl against it; output captured as text."""
        return subprocess.run(
            [str(self.kubectl), *args],
            input=input,
            check=check,
            capture_output=True,
            text=True,
            env={**os.environ, **self.env()},
        )

    def is_ready(self) -> bool:
        state = self._state()
        if not state:
            return False
        plane = self._controlplane(state)
        running = all(p.pid() for p in [*plane.processes, self._aws_process])
        return running and plane.ready() and self._aws_ready(state["aws_port"])

    def up(self) -> bool:
        """Starts everything; returns False when this sandbox was already up and ready."""
        if self.is_ready():
            self.log(f"already running in {self.state_dir}")
            return False
        self.down()  # leftovers of a half-started or crashed sandbox
        self.state_dir.mkdir(parents=True, exist_ok=True)
        binaries = controlplane_binaries(self.log)
        ports: list[int] = []
        for preferred in (self.apiserver_port, None, None, self.aws_port):
            port = free_port(preferred)
            while port in ports:  # the kernel may hand out a just-released port again
                port = free_port()
            ports.append(port)
        names = ("apiserver_port", "etcd_client_port", "etcd_peer_port", "aws_port")
        state: dict[str, Any] = {**dict(zip(names, ports, strict=True)), "binaries": str(binaries)}
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")
        try:
            self._start(state)
        except BaseException:
            self.log(f"start failed; stopping what was started (logs stay in {self.state_dir})")
            self.down()
            raise
        return True

    def _start(self, state: dict[str, Any]) -> None:
        aws = self._aws_process
        # The local AWS boots while the control plane does; both are waited for below.
        aws.start(
            [
                sys.executable,
                "-m",
                "sagemeter_sandbox.localaws",
                "--host",
                "127.0.0.1",
                "--port",
                str(state["aws_port"]),
            ],
            env={
                # An account whose endpoint quotas were raised for the sandbox, unless the
                # caller wants others (e.g. "aws-defaults", a new account's; see quotas).
                quotas.ENVIRONMENT: quotas.SANDBOX_QUOTAS,
                **os.environ,
                **AWS_CREDENTIALS,
            },
            die_with_us=self.die_with_us,
        )
        plane = self._controlplane(state)
        self.log(f"starting etcd, kube-apiserver ({plane.server}), kube-controller-manager")
        plane.start(self.timeout)
        self._install_crds()  # needs only the apiserver, so it overlaps kcm's start-up
        plane.wait_for_controllers(self.timeout)
        wait_until(
            lambda: self._aws_ready(state["aws_port"]),
            f"local AWS {self.aws_endpoint_url}",
            self.timeout,
            aws,
        )

    def _install_crds(self) -> None:
        crds = repo_root() / "crds"
        if not any(crds.glob("*.yaml")):
            self.log(f"no CRDs in {crds} yet; skipping")
            return
        self.log(f"installing CRDs from {crds}")
        for args in (
            ("apply", "--server-side", "-f", str(crds)),
            (
                "wait",
                "--for=condition=Established",
                "crd",
                "--all",
                f"--timeout={self.timeout:.0f}s",
            ),
        ):
            done = self.kubectl_run(*args, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"kubectl {' '.join(args)} failed:\n{done.stderr.strip()}")
        self._install_admission_policy()

    def _install_admission_policy(self) -> None:
        """The shipped ValidatingAdmissionPolicy (EndpointPolicy guardrails); inert until a
        binding refers to it, as the operator's are. It carries Helm's ownership label and
        annotations for the release docs/install.md installs (`sagemeter` in
        `sagemeter-system`), so that `helm install` over the sandbox adopts it instead of
        refusing an object it does not own."""
        policy = repo_root() / "deploy" / "base" / "admission-policy.yaml"
        if not policy.exists():
            return
        self.log(f"installing {policy.name}")
        # Applied as Helm's field manager: Helm applies server-side, and would refuse fields
        # another manager ("kubectl") holds.
        apply = ("apply", "--server-side", f"--field-manager={HELM_FIELD_MANAGER}")
        done = self.kubectl_run(*apply, "-f", str(policy), check=False)
        if done.returncode != 0:
            raise RuntimeError(f"kubectl apply -f {policy} failed:\n{done.stderr.strip()}")
        named = re.search(r"^metadata:\n  name: (\S+)$", policy.read_text(), re.M)
        if named is None:
            raise RuntimeError(f"{policy} names no ValidatingAdmissionPolicy")
        owned = {"metadata": {"labels": HELM_LABELS, "annotations": HELM_ANNOTATIONS}}
        args = ("patch", "validatingadmissionpolicy", named.group(1), "--type=merge")
        done = self.kubectl_run(*args, "-p", json.dumps(owned), check=False)
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed:\n{done.stderr.strip()}")

    def down(self) -> list[str]:
        """Stops this sandbox's processes (and only those); returns their names."""
        state = self._state()
        stopped = self._controlplane(state).down() if state else []
        if self._aws_process.stop():
            stopped.append(self._aws_process.name)
        return stopped

    def status(self) -> dict[str, str]:
        state = self._state()
        if not state:
            return {"sandbox": f"not set up in {self.state_dir}"}
        report = self._controlplane(state).status()
        pid = self._aws_process.pid()
        report["localaws"] = f"running (pid {pid})" if pid else "stopped"
        report["localaws ready"] = "ok" if self._aws_ready(state["aws_port"]) else "not ready"
        return report

    @staticmethod
    def _aws_ready(port: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2) as r:
                return int(r.status) == 200
        except (OSError, urllib.error.URLError):
            return False
