"""The probe server: ``/healthz`` (liveness) and ``/readyz`` (readiness), what ``core.health``
decides from the operator's heartbeat and its object loops.

``sagemeter run --liveness=http://0.0.0.0:8081/healthz`` serves both on that address: the URL's
path for liveness, ``/readyz`` for readiness (200 with a JSON verdict, 503 with the reason). The
server runs in a thread of its own, not on the event loop: a stuck loop gets a clear 503 at
once instead of a probe that hangs until it times out. The loop's side is the heartbeat task
(``heartbeat``) and the object loops reporting their passes (``Health.pass_started`` and
``pass_finished``, from the kopf daemon of each object).

Test only: with ``SAGEMETER_DEBUG_STALL_SECONDS=N`` in its environment, the operator blocks its
event loop for N seconds on SIGUSR2 (``install_stall``), so that a test can watch the probes
answer a stuck loop. Nothing sets it in the shipped manifests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sagemeter.core.health import ProbeVerdict, liveness, readiness

__all__ = ["HEALTH", "READINESS_PATH", "STALL_VARIABLE", "Health", "serve"]

READINESS_PATH = "/readyz"
STALL_VARIABLE = "SAGEMETER_DEBUG_STALL_SECONDS"
BEAT_SECONDS = 1.0
log = logging.getLogger("sagemeter")


class Health:
    """What the loop last showed of itself. Written from the loop, read from the probe thread."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._beat: float | None = None
        self._started = False
        self._loops: set[str] = set()
        self._in_pass: dict[str, float] = {}

    def beat(self) -> None:
        with self._lock:
            self._beat = self._clock()

    def mark_started(self) -> None:
        with self._lock:
            self._started = True

    def loop_started(self, uid: str) -> None:
        with self._lock:
            self._loops.add(uid)

    def loop_stopped(self, uid: str) -> None:
        with self._lock:
            self._loops.discard(uid)
            self._in_pass.pop(uid, None)

    def pass_started(self, uid: str) -> None:
        with self._lock:
            self._in_pass[uid] = self._clock()

    def pass_finished(self, uid: str) -> None:
        with self._lock:
            self._in_pass.pop(uid, None)

    def liveness(self) -> ProbeVerdict:
        with self._lock:
            now = self._clock()
            return liveness(None if self._beat is None else now - self._beat)

    def readiness(self) -> ProbeVerdict:
        with self._lock:
            now = self._clock()
            age = None if self._beat is None else now - self._beat
            in_pass = {uid: now - since for uid, since in self._in_pass.items()}
            return readiness(self._started, age, len(self._loops), in_pass)


HEALTH = Health()


async def heartbeat(health: Health = HEALTH, interval: float = BEAT_SECONDS) -> None:
    """Beats while the loop runs; runs until cancelled."""
    while True:
        health.beat()
        await asyncio.sleep(interval)


def install_stall(loop: asyncio.AbstractEventLoop) -> None:
    """Test only (module docstring): SIGUSR2 blocks the loop for $SAGEMETER_DEBUG_STALL_SECONDS."""
    seconds = os.environ.get(STALL_VARIABLE)
    if not seconds:
        return

    def stall() -> None:
        log.warning(
            "blocking the event loop for %s s (%s, a test's switch)", seconds, STALL_VARIABLE
        )
        time.sleep(float(seconds))

    loop.add_signal_handler(signal.SIGUSR2, stall)


def _handler(health: Health, liveness_path: str) -> type[BaseHTTPRequestHandler]:
    class Probes(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            if path == liveness_path:
                verdict, key = health.liveness(), "live"
            elif path == READINESS_PATH:
                verdict, key = health.readiness(), "ready"
            else:
                self._answer(404, {"error": f"GET {liveness_path} or {READINESS_PATH}"})
                return
            body = {key: verdict.ok, "reason": verdict.reason, **verdict.details}
            self._answer(200 if verdict.ok else 503, body)

        def _answer(self, status: int, body: dict[str, object]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass  # a probe every few seconds is not news

    return Probes


def serve(url: str, health: Health = HEALTH) -> ThreadingHTTPServer:
    """Binds now (``OSError`` when the address is taken) and serves on a daemon thread."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or parts.port is None:
        raise ValueError(f"{url}: an http:// URL with a port, e.g. http://0.0.0.0:8081/healthz")
    server = ThreadingHTTPServer(
        (parts.hostname or "0.0.0.0", parts.port), _handler(health, parts.path or "/healthz")
    )
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="probes", daemon=True).start()
    return server
