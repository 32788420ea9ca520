"""The sandbox's Kubernetes control plane: etcd, kube-apiserver and
kube-controller-manager as local processes on 127.0.0.1.

This module owns the binaries' discovery (or build), the PKI under
``<state>/pki``, the kubeconfigs, and the life cycle of the three processes
(pid files under ``<state>/run``, logs under ``<state>/logs``).
:class:`ManagedProcess` is also used by the sandbox for the local AWS server.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sagemeter
from sagemeter_sandbox.pki import ensure_pki, write_kubeconfig

Log = Callable[[str], None]

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
# "1": kube-apiserver serves /debug/pprof (for the benchmarks; off otherwise).
PROFILING = "SAGEMETER_SANDBOX_PROFILING"


def log_to_stderr(message: str) -> None:
    print(f"sandbox: {message}", file=sys.stderr, flush=True)


def repo_root() -> Path:
    """The checkout holding ``operator/``; cwd when installed elsewhere."""
    package_parent = Path(sagemeter.__file__).resolve().parents[1]
    return package_parent.parent if package_parent.name == "operator" else Path.cwd()


def free_port(preferred: int | None = None) -> int:
    """``preferred`` if nothing listens there, else a port the kernel hands out."""
    candidates = ([preferred] if preferred else []) + [0]
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free TCP port on 127.0.0.1")


def controlplane_binaries(log: Log = log_to_stderr) -> Path:
    """Directory with the pinned binaries: ``$SAGEMETER_CONTROLPLANE_DIR`` or the build script's."""
    configured = os.environ.get("SAGEMETER_CONTROLPLANE_DIR")
    if configured:
        directory = Path(configured)
    else:
        script = repo_root() / "hack" / "build-controlplane.sh"
        log(f"locating control-plane binaries with {script} (the first build takes minutes)")
        # stderr is inherited so the build's progress reaches the user as it happens.
        done = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True, check=True)
        directory = Path(done.stdout.strip().splitlines()[-1])
    missing = [name for name in BINARIES if not os.access(directory / name, os.X_OK)]
    if missing:
        raise RuntimeError(
            f"{directory} lacks {', '.join(missing)}; run hack/build-controlplane.sh"
        )
    return directory


# --------------------------------------------------------------------- processes

# Children started by this interpreter, so stopping them also reaps them (no zombies
# in a long pytest session, no ResourceWarning from an un-waited Popen).
_children: dict[int, subprocess.Popen[bytes]] = {}


def _cmdline(pid: int) -> list[str] | None:
    """argv of a live process, None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                return None
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return None
    return raw.decode(errors="replace").split("\0")[:-1]


def _die_with_parent() -> None:
    # Runs in the child before exec: a killed pytest (timeout, SIGKILL) never gets to
    # its fixture teardown, and the kernel's PR_SET_PDEATHSIG is then the only cleanup.
    import ctypes

    pr_set_pdeathsig = 1
    # SIGKILL: a SIGTERMed apiserver whose etcd is also going away lingers for many seconds.
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


@dataclass(frozen=True)
class ManagedProcess:
    """One long-running process with its pid file and log in a state directory.

    The pid file records the exact argv, and a pid only counts as ours while
    ``/proc/<pid>/cmdline`` still equals it: a recycled pid is never signalled.
    """

    name: str
    state_dir: Path

    @property
    def pidfile(self) -> Path:
        return self.state_dir / "run" / f"{self.name}.json"

    @property
    def logfile(self) -> Path:
        return self.state_dir / "logs" / f"{self.name}.log"

    def start(
        self, argv: Sequence[str], env: dict[str, str] | None = None, die_with_us: bool = False
    ) -> int:
        """Starts ``argv`` detached; ``die_with_us`` ties its life to this process (tests)."""
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        # A fresh log per start, so it shows this run only and never grows without bound.
        with self.logfile.open("wb") as log:
            # A new session keeps Ctrl-C in the user's shell away from the sandbox,
            # which must outlive `sagemeter sandbox up`.
            child = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent if die_with_us else None,
            )
        _children[child.pid] = child
        self.pidfile.write_text(json.dumps({"pid": child.pid, "argv": list(argv)}))
        return child.pid

    def pid(self) -> int | None:
        """The pid if the recorded process is still running, else None."""
        try:
            record = json.loads(self.pidfile.read_text())
        except (OSError, ValueError):
            return None
        pid = int(record["pid"])
        return pid if _cmdline(pid) == record["argv"] else None

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM, then SIGKILL after ``timeout``; True if a process was stopped."""
        pid = self.pid()
        if pid is not None:
            self._signal_and_wait(pid, timeout)
        self.pidfile.unlink(missing_ok=True)
        return pid is not None

    def kill(self, timeout: float = 10.0) -> bool:
        """SIGKILL, as a crash: no cleanup. Keeps the pid file, whose argv ``restart`` reuses."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGKILL)
        child, deadline = _children.pop(pid, None), time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (child.poll() is not None) if child is not None else _cmdline(pid) is None:
                return True
            time.sleep(0.02)
        raise TimeoutError(f"{self.name} (pid {pid}) survived SIGKILL for {timeout:.0f}s")

    def restart(self, die_with_us: bool = False) -> int:
        """Starts the argv of the last start again (same ports, certificates, data)."""
        if self.pid() is not None:
            raise RuntimeError(f"{self.name} is running; kill or stop it first")
        argv = json.loads(self.pidfile.read_text())["argv"]
        return self.start(argv, die_with_us=die_with_us)

    def _signal_and_wait(self, pid: int, timeout: float) -> None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                child = _children.get(pid)
                if child is not None and child.poll() is not None:
                    del _children[pid]
                    return
                if child is None and _cmdline(pid) is None:
                    return
                time.sleep(0.05)
        _children.pop(pid, None)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_until(
    ready: Callable[[], bool], what: str, timeout: float, process: ManagedProcess
) -> None:
    """Polls ``ready`` until true; fails early if ``process`` died, pointing at its log."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.pid() is None:
            raise RuntimeError(
                f"{process.name} exited while waiting for {what}; see {process.logfile}:\n"
                f"{process.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f}s; see {process.logfile}")
        time.sleep(0.1)


# -------------------------------------------------------------------- the plane


@dataclass
class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager for one state directory."""

    state_dir: Path
    apiserver_port: int
    etcd_client_port: int
    etcd_peer_port: int
    binaries: Path | None = None  # only needed to start
    log: Log = log_to_stderr
    die_with_us: bool = False  # see ManagedProcess.start

    @property
    def pki(self) -> Path:
        return self.state_dir / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def processes(self) -> list[ManagedProcess]:
        """In start order; stopped in reverse."""
        names = ("etcd", "kube-apiserver", "kube-controller-manager")
        return [ManagedProcess(name, self.state_dir) for name in names]

    def up(self, timeout: float = 60.0) -> None:
        self.start(timeout)
        self.wait_for_controllers(timeout)

    def start(self, timeout: float = 60.0) -> None:
        """Starts the three processes and returns once kube-apiserver is ready."""
        if self.binaries is None:
            raise ValueError("ControlPlane.binaries is required to start")
        etcd, apiserver, kcm = self.processes
        ensure_pki(self.pki)
        write_kubeconfig(self.kubeconfig, self.server, self.pki, "admin")
        write_kubeconfig(self.pki / "kcm.kubeconfig", self.server, self.pki, "kcm")
        bin_dir = self.state_dir / "bin"
        bin_dir.mkdir(exist_ok=True)
        (bin_dir / "kubectl").unlink(missing_ok=True)
        (bin_dir / "kubectl").symlink_to(self.binaries / "kubectl")
        # A fresh store each time: the sandbox is for tests and demos, never for keeping data.
        shutil.rmtree(self.state_dir / "etcd", ignore_errors=True)
        # All three at once: each retries until its dependency answers, and
        # kube-controller-manager's start-up then overlaps apiserver's.
        etcd.start(self._etcd_argv(), die_with_us=self.die_with_us)
        apiserver.start(self._apiserver_argv(), die_with_us=self.die_with_us)
        kcm.start(self._kcm_argv(), die_with_us=self.die_with_us)
        wait_until(self.ready, f"kube-apiserver {self.server}/readyz", timeout, apiserver)

    def wait_for_controllers(self, timeout: float = 60.0) -> None:
        """Returns once kube-controller-manager's serviceaccount controller has created
        ``default/default``: proof that kcm is authenticated, authorized and running."""
        wait_until(
            lambda: self.get("/api/v1/namespaces/default/serviceaccounts/default") == 200,
            "the default ServiceAccount (kube-controller-manager)",
            timeout,
            self.processes[2],
        )

    def down(self) -> list[str]:
        """Stops this state directory's processes only; returns the names stopped."""
        return [p.name for p in reversed(self.processes) if p.stop()]

    def status(self) -> dict[str, str]:
        report = {
            p.name: f"running (pid {pid})" if (pid := p.pid()) else "stopped"
            for p in self.processes
        }
        report["readyz"] = "ok" if self.ready() else "not ready"
        return report

    def ready(self) -> bool:
        return self.get("/readyz") == 200

    def get(self, path: str) -> int | None:
        """HTTP status of an admin GET, None when the apiserver does not answer."""
        if not (self.pki / "admin.crt").exists():
            return None
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(self.pki / "admin.crt", self.pki / "admin.key")
        try:
            with urllib.request.urlopen(self.server + path, context=context, timeout=2) as r:
                return int(r.status)
        except urllib.error.HTTPError as error:
            return error.code
        except (OSError, ssl.SSLError):
            return None

    def _etcd_argv(self) -> list[str]:
        assert self.binaries is not None
        client = f"http://127.0.0.1:{self.etcd_client_port}"
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        return [
            str(self.binaries / "etcd"),
            "--name=sandbox",
            f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=sandbox={peer}",
            "--unsafe-no-fsync",  # losing the store on a crash is fine; speed is not
            "--quota-backend-bytes=536870912",
            "--log-level=warn",
        ]

    def _apiserver_argv(self) -> list[str]:
        assert self.binaries is not None
        pki = self.pki
        return [
            str(self.binaries / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_client_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.apiserver_port}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--cert-dir={pki}",
            # The benchmarks read the apiserver's CPU profile (/debug/pprof, admin only).
            f"--profiling={'true' if os.environ.get(PROFILING) == '1' else 'false'}",
        ]

    def _kcm_argv(self) -> list[str]:
        assert self.binaries is not None
        pki = self.pki
        kubeconfig = pki / "kcm.kubeconfig"
        return [
            str(self.binaries / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--secure-port=0",  # nothing scrapes it; one port less to pick
            "--profiling=false",
        ]
