"""The local AWS's API Gateway data plane: real HTTP requests through the routes sagemeter makes.

``DataPlane`` wraps the local AWS's WSGI app (``sagemeter_sandbox.localaws.start_in_thread``)
and serves, besides everything moto serves:

* ``<METHOD> /restapis/<apiId>/<stage>/_user_request_/<path>`` (the path-style URL local AWS
  emulators use for ``https://<apiId>.execute-api.<region>.amazonaws.com/<stage>/<path>``):
  the stage's deployed method for the path (``routing``), its authorization (``auth``: IAM
  signatures, API keys, custom authorizers) and its integration (``integrations``: SageMaker
  runtime and other AWS services through moto, Lambda proxy, MOCK; templates in ``vtl``;
  Lambda functions run without Docker by ``lambdas``), answering as API Gateway does;
* ``GET /sagemeter-api/dataplane/requests``: ``{"requests": [...]}``, every data-plane request
  since the last reset (oldest first, at most ``RequestLog.LIMIT``) with ``method``, ``path``,
  ``apiId``, ``stage``, ``resourcePath``, ``status``, ``latencyMs``, ``requestId``, ``time``
  and, when API Gateway would only say "Forbidden" or "Internal server error", ``error``
  saying why;
* ``POST /sagemeter-api/dataplane/reset`` clears that list; so does moto's
  ``POST /moto-api/reset``, which wipes the routes themselves.

moto's deployments keep a snapshot of what they deploy (``routing.patches``, installed by
``localaws``), since API Gateway serves a stage from its deployment, not the live API.
What is not supported is listed in each module's docstring; anything the data plane cannot do
answers ``500`` (``502`` for a Lambda runtime) with a message saying so, never a guess.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from . import auth, integrations, routing
from .exchange import Call, GatewayError, Reply
from .vtl import TemplateError

__all__ = ["CONTROL_PREFIX", "DataPlane", "RequestLog", "user_request_url"]

log = logging.getLogger("sagemeter_sandbox.dataplane")

CONTROL_PREFIX = "/sagemeter-api/dataplane"
_USER_REQUEST = "_user_request_"
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def user_request_url(aws_endpoint_url: str, api_id: str, stage: str, path: str) -> str:
    """Where the local data plane serves ``POST /<stage>/<path>`` of REST API ``api_id``."""
    base = aws_endpoint_url.rstrip("/")
    return f"{base}/restapis/{api_id}/{stage}/{_USER_REQUEST}/{path.strip('/')}"


class RequestLog:
    """The data-plane requests served since the last reset; safe across server threads."""

    LIMIT = 1000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: deque[dict[str, Any]] = deque(maxlen=self.LIMIT)

    def add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._records)

    def clear(self) -> int:
        with self._lock:
            count = len(self._records)
            self._records.clear()
            return count


class DataPlane:
    """WSGI middleware: data-plane and control requests here, everything else to ``app``."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        # Where integrations send their AWS requests: the local AWS's whole stack when it is
        # set (so fault rules, such as a throttled ssm:GetParameter, and the request log see
        # them, as AWS's own quotas see an integration's calls), else moto itself.
        self.integration_app: WsgiApp = app
        self.requests = RequestLog()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        parts = path.split("/", 5)  # "", "restapis", id, stage, "_user_request_", rest
        if len(parts) >= 5 and parts[1] == "restapis" and parts[4] == _USER_REQUEST:
            response = self._user_request(environ, parts[2], parts[3])
        elif path == f"{CONTROL_PREFIX}/requests" and method == "GET":
            response = _json(200, {"requests": self.requests.records()})
        elif path == f"{CONTROL_PREFIX}/reset" and method == "POST":
            response = _json(200, {"cleared": self.requests.clear()})
        else:
            if path == "/moto-api/reset" and method == "POST":
                self.requests.clear()
            return self.app(environ, start_response)
        return response(environ, start_response)

    def _user_request(self, environ: dict[str, Any], api_id: str, stage: str) -> Response:
        started = time.perf_counter()
        call = _call(Request(environ), api_id, stage)
        route, error = None, None
        try:
            route = routing.find_route(api_id, stage, call.method, call.path)
            caller = auth.authorize(call, route)
            reply = integrations.integrate(call, route, caller, self.integration_app)
        except GatewayError as failure:
            reply, error = failure.reply(), failure.detail
        except TemplateError as failure:
            reply, error = Reply.json(failure.status, {"message": str(failure)}), str(failure)
        except Exception as failure:  # a bug here must not look like an API Gateway answer
            log.exception("data plane failed on %s %s", call.method, call.path)
            error = f"local data plane failed: {type(failure).__name__}: {failure}"
            reply = Reply.json(500, {"message": error})
        reply.headers["x-amzn-RequestId"] = call.request_id
        record: dict[str, Any] = {
            "time": datetime.fromtimestamp(call.time_epoch_ms / 1000, UTC).isoformat(),
            "method": call.method,
            "path": call.path,
            "apiId": api_id,
            "stage": stage,
            "resourcePath": route.resource_path if route else None,
            "status": reply.status,
            "latencyMs": round((time.perf_counter() - started) * 1000, 1),
            "requestId": call.request_id,
        }
        if error:
            record["error"] = error
        self.requests.add(record)
        return Response(reply.body, status=reply.status, headers=reply.headers)


def _call(request: Request, api_id: str, stage: str) -> Call:
    raw_uri = str(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or "")
    raw_path = raw_uri.split("?", 1)[0] or request.path
    route_path = unquote(raw_path.split(_USER_REQUEST, 1)[1]) if _USER_REQUEST in raw_path else ""
    query = request.query_string.decode("latin-1")
    host = request.headers.get("Host") or request.host
    endpoint = f"{request.scheme}://{host}"
    return Call(
        method=request.method,
        path="/" + route_path.lstrip("/") if route_path else "/",
        query=query,
        headers=Headers(list(request.headers.items())),
        body=request.get_data(),
        url=f"{endpoint}{raw_path}" + (f"?{query}" if query else ""),
        source_ip=request.remote_addr or "127.0.0.1",
        request_id=str(uuid.uuid4()),
        time_epoch_ms=int(time.time() * 1000),
        api_id=api_id,
        stage=stage,
        endpoint_url=endpoint,
    )


def _json(status: int, document: Any) -> Response:
    return Response(json.dumps(document), status=status, mimetype="application/json")
