"""`kubectl sagemeter ui`: the page's web server (aiohttp) on 127.0.0.1.

Routes, each behind `guard.Guard.refusal`:

* `GET /?token=...`: the page (the token is written into it for its own requests);
* `GET /static/...`: its script and style, shipped in the package;
* `GET /api/events?token=...`: server-sent events: a snapshot of every row, then each change
  the watches see (`sagemeter.cli.ui.cluster`);
* `POST /api/endpoints/{namespace}/{name}/{action}`: extend (JSON `{"duration": "1h"}`),
  suspend, resume or wake, through `sagemeter.cli.actions`: the plugin's own patches, with
  field manager `sagemeter-cli`. An API error answers with the API's status and message.

Kubernetes calls are blocking (`kubernetes` client), so they run in worker threads.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import webbrowser
from collections.abc import Awaitable, Callable
from datetime import timedelta
from importlib import resources
from typing import Any

from aiohttp import web

from sagemeter.api.models import PLURAL, POLICY_PLURAL
from sagemeter.cli import actions
from sagemeter.cli.access import ApiError, Endpoints, PluginError, Unreachable
from sagemeter.cli.table import format_time_left
from sagemeter.cli.ui.cluster import Hub, Scope, Watcher
from sagemeter.cli.ui.guard import LOOPBACK, Guard
from sagemeter.core.meter.durations import parse_duration
from sagemeter.core.meter.times import format_time

KEEPALIVE_SECONDS = 15.0
ACTIONS = ("extend", "suspend", "resume", "wake")
SECURITY_HEADERS = {
    # Nothing but this server's own files; no framing (a foreign page cannot overlay it).
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token in the page's URL never leaves it
    "Cache-Control": "no-store",
}
STATIC = resources.files("sagemeter.cli.ui") / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _log(message: str) -> None:
    print(f"sagemeter ui: {message}", file=sys.stderr, flush=True)


def refused(status: int, message: str) -> web.Response:
    return web.json_response(
        {"status": status, "reason": "Forbidden" if status == 403 else "", "message": message},
        status=status,
    )


class Server:
    def __init__(self, endpoints: Endpoints, namespace: str | None, guard: Guard) -> None:
        self.endpoints = endpoints
        self.guard = guard
        self.scope = Scope(endpoints.context, namespace)
        self.hub: Hub | None = None
        self.watchers: list[Watcher] = []
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ app

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guarded])
        app.router.add_get("/", self.page)
        app.router.add_get("/static/{file}", self.asset)
        app.router.add_get("/api/events", self.events)
        app.router.add_post("/api/endpoints/{namespace}/{name}/{action}", self.act)
        app.on_startup.append(self._start_watching)
        app.on_shutdown.append(self._stop_watching)
        return app

    @web.middleware
    async def _guarded(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        why = self.guard.refusal(
            request.method, request.path, request.headers, request.query.get("token")
        )
        if why is not None:
            _log(f"refused {request.method} {request.path}: {why}")
            response: web.StreamResponse = refused(403, why)
        else:
            response = await handler(request)
        if not response.prepared:
            response.headers.update(SECURITY_HEADERS)
        return response

    async def _start_watching(self, app: web.Application) -> None:
        loop = asyncio.get_running_loop()

        def read_labels(namespace: str) -> None:
            async def read() -> None:
                labels = await asyncio.to_thread(self.endpoints.namespace_labels, namespace)
                if self.hub is not None:
                    self.hub.labels_read(namespace, labels)

            task = loop.create_task(read())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        hub = self.hub = Hub(self.scope, read_labels)
        namespace = self.scope.namespace
        self.watchers = [
            Watcher(
                "endpoints",
                loop,
                lambda: self.endpoints.list(namespace is None, namespace),
                lambda version: self.endpoints.watch(PLURAL, namespace, version),
                hub.endpoints_listed,
                hub.endpoint_event,
                hub.health_changed,
            ),
            Watcher(
                "policies",
                loop,
                self.endpoints.list_policies,
                lambda version: self.endpoints.watch(POLICY_PLURAL, None, version),
                hub.policies_listed,
                hub.policy_event,
                hub.health_changed,
            ),
        ]
        for watcher in self.watchers:
            watcher.start()

    async def _stop_watching(self, app: web.Application) -> None:
        for watcher in self.watchers:
            watcher.stopped.set()
        if self.hub is not None:
            self.hub.close()

    # ------------------------------------------------------------------ handlers

    async def page(self, request: web.Request) -> web.Response:
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        html = html.replace("{{token}}", self.guard.token)
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def asset(self, request: web.Request) -> web.Response:
        name = request.match_info["file"]
        suffix = name[name.rfind(".") :] if "." in name else ""
        found = STATIC / name
        if suffix not in STATIC_TYPES or "/" in name or not found.is_file():
            raise web.HTTPNotFound()
        return web.Response(body=found.read_bytes(), content_type=STATIC_TYPES[suffix])

    async def events(self, request: web.Request) -> web.StreamResponse:
        assert self.hub is not None
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", **SECURITY_HEADERS}
        )
        await response.prepare(request)
        queue = self.hub.subscribe()
        try:
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if message is None:
                    break
                await response.write(f"data: {json.dumps(message)}\n\n".encode())
        except ConnectionResetError:
            pass
        finally:
            self.hub.unsubscribe(queue)
        return response

    async def act(self, request: web.Request) -> web.Response:
        namespace = request.match_info["namespace"]
        name = request.match_info["name"]
        action = request.match_info["action"]
        if action not in ACTIONS:
            raise web.HTTPNotFound()
        if self.scope.namespace is not None and namespace != self.scope.namespace:
            return refused(403, f"this page shows namespace {self.scope.namespace} only")
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"status": 400, "message": "the body is not JSON"}, status=400)
        try:
            said = await asyncio.to_thread(self._act, action, namespace, name, body)
        except ValueError as error:
            return web.json_response({"status": 400, "message": str(error)}, status=400)
        except ApiError as error:
            _log(f"{action} {namespace}/{name}: {error.status} {error.api_message}")
            return web.json_response(
                {"status": error.status, "reason": error.reason, "message": error.api_message},
                status=error.status if 400 <= error.status < 600 else 502,
            )
        except Unreachable as error:
            return web.json_response({"status": 502, "message": error.message}, status=502)
        except PluginError as error:  # nothing to extend, or it kept changing
            return web.json_response({"status": 409, "message": error.message}, status=409)
        return web.json_response(said)

    def _act(self, action: str, namespace: str, name: str, body: Any) -> dict[str, Any]:
        """One action, as the plugin's command does it; what to tell the person."""
        if action == "extend":
            text = str(body.get("duration", "")) if isinstance(body, dict) else ""
            duration: timedelta = parse_duration(text)  # ValueError: told as a 400
            done = actions.extend(self.endpoints, name, duration, namespace)
            left = format_time_left(done.expires_at, done.now)
            return {"message": f"{name}: expires at {format_time(done.expires_at)} (in {left})"}
        if action == "suspend":
            toggled = actions.park(self.endpoints, name, namespace)
            said = "suspended" if toggled.changed else "already suspended"
            return {"message": f"{name}: {said}"}
        if action == "resume":
            toggled = actions.resume(self.endpoints, name, namespace)
            said = "resumed" if toggled.changed else "not suspended"
            return {"message": f"{name}: {said}", "note": toggled.note}
        woken = actions.wake(self.endpoints, name, namespace)
        cleared = " and cleared spec.suspend" if woken.cleared_suspend else ""
        return {"message": f"{name}: woken at {woken.value}{cleared}", "note": woken.note}


def listen(port: int) -> socket.socket:
    """A socket on 127.0.0.1:`port` (0: a free port), bound before the token's URL is known."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((LOOPBACK, port))
    except OSError as error:
        sock.close()
        raise PluginError(f"cannot listen on {LOOPBACK}:{port}: {error.strerror}") from None
    sock.listen(128)
    return sock


async def _serve(server: Server, sock: socket.socket, open_browser: bool) -> None:
    runner = web.AppRunner(server.app(), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    url = server.guard.url()
    print(f"sagemeter UI for {server.scope.describe()}: {url}", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    if open_browser and not await asyncio.to_thread(webbrowser.open, url):
        _log("found no browser to open: open the URL above in one")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def serve(endpoints: Endpoints, namespace: str | None, port: int, open_browser: bool) -> None:
    """Serve the page until Ctrl-C; `namespace` None shows every namespace."""
    sock = listen(port)
    server = Server(endpoints, namespace, Guard(port=sock.getsockname()[1]))
    asyncio.run(_serve(server, sock, open_browser))
