"""A loopback TCP proxy that can cut every connection through it: a broken watch stream on demand.

``TcpProxy(port)`` listens on a free 127.0.0.1 port and forwards each connection to
``127.0.0.1:<port>`` byte for byte (TLS passes through untouched, so the apiserver's
certificate, issued for 127.0.0.1, still verifies). A client pointed at the proxy (see
``disruption.ControlPlaneFaults.proxy``) sees the real apiserver until a test calls:

* ``cut()``: every open connection is reset at once (RST, no goodbye), as a load balancer or a
  NAT table that forgets them would; new connections work at once. kopf's watch streams, the
  kubernetes client's pooled connections and any request in flight all break.
* ``block(seconds)``: ``cut()``, then for ``seconds`` every new connection is reset as soon as it
  is accepted: the apiserver looks unreachable to this client only, while the rest of the
  sandbox (kubectl, kube-controller-manager) keeps working.

It runs on daemon threads of the calling process; ``close()`` stops it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

__all__ = ["TcpProxy"]

_LINGER_RESET = struct.pack("ii", 1, 0)  # close() sends RST instead of FIN


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        # close() alone would wait for the pump thread blocked in recv() on this socket, and
        # the peer would hear nothing: shutdown() wakes that thread and ends the stream now.
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class TcpProxy:
    """Forwards ``127.0.0.1:<self.port>`` to ``127.0.0.1:<upstream_port>``; see the module doc."""

    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (host, upstream_port)
        self._listener = socket.create_server((host, 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._blocked_until = 0.0
        self._closed = False
        self.accepted = 0
        self.cut_connections = 0
        threading.Thread(target=self._accept_loop, name="tcpproxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://{self.upstream[0]}:{self.port}"

    def cut(self) -> int:
        """Resets every open connection; answers how many there were."""
        with self._lock:
            pairs, self._pairs = self._pairs, set()
            self.cut_connections += len(pairs)
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)
        return len(pairs)

    def block(self, seconds: float) -> int:
        """Cuts everything and refuses new connections for ``seconds`` (not waiting for them)."""
        with self._lock:
            self._blocked_until = time.monotonic() + seconds
        return self.cut()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._blocked_until:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):  # bytes go on as they come: no Nagle delay added
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
                self.accepted += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(pair, source, sink), daemon=True).start()

    def _pump(
        self, pair: tuple[socket.socket, socket.socket], source: socket.socket, sink: socket.socket
    ) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)  # a clean half-close travels on
        except OSError:
            pass
        with self._lock:
            if pair not in self._pairs:
                return  # cut(): already reset
            if source is pair[1]:  # the server is done: the client's half follows
                self._pairs.discard(pair)
            else:
                return
        for sock in pair:
            sock.close()
