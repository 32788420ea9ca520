"""Control-plane faults for a running sandbox: crash and restart kube-apiserver or etcd, and cut
one client's connections to the apiserver. The AWS side has its own (``control.FaultClient``).

``ControlPlaneFaults(sandbox)`` acts on the sandbox's own processes, found through their pid
files, so it works from the process that started the sandbox (a test session) or any other::

    plane = ControlPlaneFaults(sandbox)
    plane.restart_apiserver(down_seconds=5)   # SIGKILL, 5 s without an apiserver, same argv
    plane.restart_etcd()                      # SIGKILL etcd; its data directory is kept
    proxy = plane.proxy(tmp / "kubeconfig")   # a kubeconfig that goes through a TcpProxy
    proxy.cut()                               # every watch stream through it breaks now
    proxy.block(10)                           # ...and the apiserver is unreachable for 10 s

* **Restarts** send SIGKILL (a crash, never a graceful shutdown), optionally wait, then start
  the exact argv recorded in the pid file: same ports, certificates and etcd data directory,
  so every object survives and clients only see connections refused and then reset watches.
  ``restart_*`` returns once ``/readyz`` answers 200 again (for etcd: once the apiserver's
  etcd check passes), with the seconds the apiserver was not ready.
* **Watch cuts** use a loopback TCP proxy (``tcpproxy.TcpProxy``) instead of a restart: only
  the client given the proxy's kubeconfig is affected, the cut is instant and repeatable, and
  kubectl and kube-controller-manager keep their direct connections.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sagemeter_sandbox import Sandbox
from sagemeter_sandbox.controlplane import ManagedProcess
from sagemeter_sandbox.pki import write_kubeconfig
from sagemeter_sandbox.tcpproxy import TcpProxy

__all__ = ["ControlPlaneFaults"]


@dataclass
class ControlPlaneFaults:
    sandbox: Sandbox
    ready_timeout: float = 90.0

    def _process(self, name: str) -> ManagedProcess:
        for process in self.sandbox.controlplane.processes:
            if process.name == name:
                return process
        raise KeyError(name)

    def kill(self, name: str) -> bool:
        """SIGKILLs ``etcd``, ``kube-apiserver`` or ``kube-controller-manager``; True if it ran."""
        return self._process(name).kill()

    def start(self, name: str) -> int:
        """Starts a killed process again with its recorded argv; answers its pid."""
        return self._process(name).restart(die_with_us=self.sandbox.die_with_us)

    def wait_ready(self) -> None:
        plane, deadline = self.sandbox.controlplane, time.monotonic() + self.ready_timeout
        while plane.get("/readyz") != 200:
            if time.monotonic() > deadline:
                raise TimeoutError(f"kube-apiserver not ready {self.ready_timeout:.0f}s later")
            time.sleep(0.1)

    def restart_apiserver(self, down_seconds: float = 0.0) -> float:
        """kill -9 kube-apiserver, wait ``down_seconds``, start it again and wait until ready."""
        return self._restart("kube-apiserver", down_seconds)

    def restart_etcd(self, down_seconds: float = 0.0) -> float:
        """kill -9 etcd (its data stays), wait ``down_seconds``, start it; ready = apiserver's."""
        return self._restart("etcd", down_seconds)

    def _restart(self, name: str, down_seconds: float) -> float:
        began = time.monotonic()
        self.kill(name)
        time.sleep(down_seconds)
        self.start(name)
        self.wait_ready()
        return time.monotonic() - began

    def proxy(self, kubeconfig: Path, user: str = "admin") -> TcpProxy:
        """A ``TcpProxy`` in front of the apiserver and a kubeconfig at ``kubeconfig`` for it."""
        plane = self.sandbox.controlplane
        proxy = TcpProxy(plane.apiserver_port)
        write_kubeconfig(kubeconfig, proxy.url, plane.pki, user)
        return proxy
