"""The local AWS's request log: every AWS call that reached moto, with its time and outcome.

``RequestLog`` is a WSGI middleware between fault injection (outside) and moto (inside), so it
records what AWS *did*: a request refused by an injected throttle, error or outage never
reaches it, one delayed by injected latency is stamped when it arrives here. Benchmarks read
arrival times from it (``kubectl apply`` → ``CreateEndpoint``) and the chaos run reads which
endpoints were deleted and when; neither has to trust the operator's own accounting.

Each entry is ``{"ts": <epoch seconds at arrival>, "ms": <handling time>, "call":
"sagemaker:CreateEndpoint", "status": 200, "name": "<EndpointName or other resource name>",
"account": "<the caller's account>"}`` (``account`` as moto resolves the request's access key:
an assumed role's key is its role's account, any other the default account)
(``name`` is the first of ``NAME_KEYS`` in a JSON body, else the request path; ``""`` for
``Describe*``, ``List*`` and ``Get*``, which are most of the traffic and name nothing the
readers need). The log keeps the newest ``MAX_ENTRIES``.

Control API (through ``faults.FaultInjector``'s ``controls``; ``control.FaultClient`` wraps it):

* ``GET /sagemeter-api/requests?call=sagemaker:DeleteEndpoint&since=<ts>&contains=<text>``:
  ``{"total": n, "dropped": n, "requests": [...]}`` (filters optional, ``call`` may repeat
  separated by commas).
* ``DELETE /sagemeter-api/requests``: forgets every entry; answers ``{"total": n}`` from before.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from moto.iam.models import get_account_id_from

from sagemeter_sandbox import protocols
from sagemeter_sandbox.control import CONTROL_PREFIX

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["MAX_ENTRIES", "RequestLog"]

MAX_ENTRIES = 300_000
NAME_KEYS = ("EndpointName", "EndpointConfigName", "ModelName", "AlarmName", "ResourceArn")
READS = ("Describe", "List", "Get")


_CREDENTIAL = re.compile(r"Credential=([^/\s,]+)/")


def _account(environ: WSGIEnvironment) -> str:
    """The account whose credentials signed the request (an API Gateway integration's calls,
    made by the local data plane, name the REST API's account)."""
    named = environ.get("HTTP_X_MOTO_ACCOUNT_ID")
    if named:
        return str(named)
    match = _CREDENTIAL.search(str(environ.get("HTTP_AUTHORIZATION") or ""))
    return get_account_id_from(match.group(1)) if match else ""


def _name(call: protocols.AwsCall) -> str:
    if call.operation.startswith(READS):
        return ""
    path, _, body = call.text.partition("\n")
    if call.protocol == "json" and body:
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            for key in NAME_KEYS:
                if isinstance(doc.get(key), str):
                    return str(doc[key])
    return path.split("?", 1)[0]


class RequestLog:
    """WSGI middleware recording every request it passes on; see the module docstring."""

    def __init__(self, app: WSGIApplication, max_entries: int = MAX_ENTRIES) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self._total = 0

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(("/moto-api/", CONTROL_PREFIX)):
            return self.app(environ, start_response)
        arrived = time.time()
        call = protocols.identify(environ)
        entry: dict[str, Any] = {
            "ts": arrived,
            "ms": 0.0,
            "call": call.key,
            "status": 0,
            "name": _name(call),
            "account": _account(environ),
        }

        def recording_start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
            entry["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, recording_start_response)
        finally:
            entry["ms"] = round((time.time() - arrived) * 1000, 2)
            with self._lock:
                self._entries.append(entry)
                self._total += 1

    def control(self, method: str, path: list[str], body: Any) -> tuple[int, Any]:
        if path:
            return 404, {"error": "the request log is /sagemeter-api/requests"}
        with self._lock:
            entries, total = list(self._entries), self._total
            if method == "DELETE":
                self._entries.clear()
                self._total = 0
                return 200, {"total": total}
        if method != "GET":
            return 405, {"error": "GET or DELETE"}
        query = body if isinstance(body, dict) else {}
        calls = set(filter(None, str(query.get("call", "")).split(",")))
        since = float(query.get("since", 0) or 0)
        contains = str(query.get("contains", ""))
        found = [
            entry
            for entry in entries
            if entry["ts"] >= since
            and (not calls or entry["call"] in calls)
            and contains in entry["name"]
        ]
        return 200, {"total": total, "dropped": total - len(entries), "requests": found}
