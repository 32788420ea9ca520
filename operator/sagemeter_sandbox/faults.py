"""Fault injection for the sandbox's local AWS: a WSGI middleware around moto, driven over HTTP.

Owns ``FaultInjector`` (the middleware), its rules and counters, and the control API under
``/sagemeter-api/``. Not moto's behaviour (``localaws``), endpoint statuses (``endpoint_states``,
whose control route this middleware serves), reading AWS requests and writing AWS errors
(``protocols``), nor the Python client (``control.FaultClient``).

Control API (JSON; never faulted, nor is ``/moto-api/``, so a test can always recover):

* ``POST /sagemeter-api/faults`` with a list of rules, or ``{"seed": 7, "rules": [...]}``: adds
  them (after any existing ones) and answers ``{"rules": [...]}`` with their ids.
* ``GET /sagemeter-api/faults``: ``{"seed", "requests", "injected": {kind: n},
  "byOperation": {"service:Operation": {kind: n}}, "rules": [... with counters]}``.
* ``DELETE /sagemeter-api/faults``: answers the same document, then forgets rules and counters
  and restarts the random sequence from the seed. ``/moto-api/reset`` does not touch faults.
* ``/sagemeter-api/<name>/...`` for the other ``controls`` passed in: ``localaws`` adds
  ``endpoints`` (``endpoint_states.control``) and ``events`` (``aws_events.control``). Errors
  answer ``{"error": "..."}`` with a 4xx.

A rule is ``{"fault": kind, "service": ..., "operation": ..., "contains": ..., "rate": 0..1}``
plus its kind's fields; ``service``/``operation``/``contains`` (a substring of the path, query
string or body) left out match everything. Kinds:

* ``throttle``: answers the service's own throttling error without calling moto
  (``protocols.throttling``, each with its source: SageMaker ``ThrottlingException`` 400,
  CloudWatch, STS and IAM ``Throttling`` 400, API Gateway and Lambda ``TooManyRequestsException``
  429, SQS ``RequestThrottled``, SNS ``Throttled`` 429, S3 ``SlowDown`` 503, ...), with AWS's
  "Rate exceeded"; ``status``/``code``/``message`` override.
* ``error``: ``status`` (default 503) with ``ServiceUnavailable``, or ``InternalFailure`` for
  other statuses, in AWS's common-error wording; ``code``/``message`` override.
* ``latency``: sleeps ``seconds`` before the request goes on (matching rules add up).
* ``outage``: for ``seconds`` from now every matching request (all of them unless filtered) fails
  whatever its rate. ``mode`` ``"reset"`` (default) drops the connection without an answer, as
  real outages look to a client (botocore: ``ConnectionClosedError``, which botocore retries and
  ``sagemeter.aws.errors`` classifies as retryable); ``"503"`` answers ``ServiceUnavailable``.
* ``kill``: after the ``count``-th (default 1st) *successful* matching call, sends ``signal``
  (default SIGKILL) to ``pid``, once. moto has fully processed the call and built the response,
  which is written only after the signal: with SIGKILL the caller dies without acting on it
  (whether its socket got the bytes does not matter). That is a crash right after AWS did the
  work: the crash tests stop the operator at exact points this way, from outside.

An injected error or outage means moto never saw the request, so its state stays consistent.
A rule with ``rate`` below 1 draws once per matching request from one ``random.Random(seed)``
(seed 0 unless set), in rule order, so a sequence of calls is reproducible. Services are the
SigV4 scope names (``sagemaker``, ``monitoring`` alias ``cloudwatch``, ``apigateway``...),
operations the API names; ``protocols`` says how both are read.
"""

from __future__ import annotations

import json
import os
import random
import signal as signals
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl

from sagemeter_sandbox import protocols
from sagemeter_sandbox.control import CONTROL_PREFIX
from sagemeter_sandbox.protocols import AwsCall, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["Control", "FaultInjector", "Faults", "Rule"]

KINDS = ("throttle", "error", "latency", "outage", "kill")
FIELDS = {
    "fault",
    "service",
    "operation",
    "contains",
    "rate",
    "status",
    "code",
    "message",
    "seconds",
    "mode",
    "pid",
    "signal",
    "count",
}
COMMON = ("id", "fault", "service", "operation", "contains", "rate", "matched", "injected")
ERROR = ("status", "code", "message")
SHOWN = {  # the fields of each kind that GET shows
    "throttle": {*COMMON, *ERROR},
    "error": {*COMMON, *ERROR},
    "latency": {*COMMON, "seconds"},
    "outage": {*COMMON, *ERROR, "seconds", "mode"},
    "kill": {*COMMON, "pid", "signal", "count", "successes", "outcome"},
}
# (method, path parts after /sagemeter-api/<name>/, JSON body) -> (HTTP status, JSON document)
Control = Callable[[str, list[str], Any], tuple[int, Any]]
T = TypeVar("T")


# --------------------------------------------------------------------------- rules


def _optional(doc: Mapping[str, Any], kind: Callable[[Any], T]) -> Callable[[str], T | None]:
    return lambda key: None if doc.get(key) is None else kind(doc[key])


@dataclass
class Rule:
    id: int
    fault: str
    service: str | None = None
    operation: str | None = None
    contains: str | None = None
    rate: float = 1.0
    status: int | None = None
    code: str | None = None
    message: str | None = None
    seconds: float = 0.0
    mode: str = "reset"
    pid: int | None = None
    signal: int = int(signals.SIGKILL)
    count: int = 1
    matched: int = 0
    injected: int = 0
    successes: int = 0
    until: float | None = None  # an outage's end, on the monotonic clock
    outcome: str | None = None  # a kill's: "signalled", "no such process", ...

    @classmethod
    def parse(cls, doc: Any, rule_id: int) -> Rule:
        if not isinstance(doc, dict) or doc.get("fault") not in KINDS:
            raise ValueError(f"a rule is an object with a fault among {KINDS}: {doc!r}")
        if unknown := set(doc) - FIELDS:
            raise ValueError(f"unknown rule fields {sorted(unknown)}")
        signal = doc.get("signal", "SIGKILL")
        text, number = _optional(doc, str), _optional(doc, int)
        rule = cls(
            rule_id,
            doc["fault"],
            text("service"),
            text("operation"),
            text("contains"),
            rate=float(doc.get("rate", 1.0)),
            status=number("status"),
            code=text("code"),
            message=text("message"),
            seconds=float(doc.get("seconds", 0.0)),
            mode=str(doc.get("mode", "reset")),
            pid=number("pid"),
            count=int(doc.get("count", 1)),
            signal=int(signals.Signals[signal] if isinstance(signal, str) else signal),
        )
        if not 0.0 <= rule.rate <= 1.0 or rule.count < 1:
            raise ValueError("rate is between 0 and 1, count at least 1")
        if rule.fault in ("latency", "outage") and rule.seconds <= 0:
            raise ValueError(f"a {rule.fault} needs seconds > 0")
        if rule.fault == "kill" and (rule.pid is None or rule.pid <= 0):
            raise ValueError("a kill needs a pid > 0 (never a process group)")
        if rule.fault == "outage":
            if rule.mode not in ("reset", "503"):
                raise ValueError('an outage\'s mode is "reset" or "503"')
            rule.until = time.monotonic() + rule.seconds
        return rule

    def matches(self, request: AwsCall) -> bool:
        if self.outcome is not None or (self.until is not None and time.monotonic() >= self.until):
            return False
        return (
            (self.service is None or self.service in request.services)
            and (self.operation is None or self.operation == request.operation)
            and (self.contains is None or self.contains in request.text)
        )

    def response(self, request: AwsCall) -> Response:
        protocol = request.protocol
        if self.fault == "throttle":
            status, code = protocols.throttling(request.service)
        else:
            status = 503 if self.fault == "outage" else (self.status or 503)
            code = "ServiceUnavailable" if status == 503 else "InternalFailure"
        status, code = self.status or status, self.code or code
        message = self.message or protocols.COMMON_ERRORS.get(code, "Rate exceeded")
        return protocols.error_response(protocol, status, code, message)

    def view(self) -> dict[str, Any]:
        view = {k: v for k, v in vars(self).items() if v is not None and k in SHOWN[self.fault]}
        if self.until is not None:
            view["remaining"] = max(0.0, round(self.until - time.monotonic(), 3))
        return view


@dataclass
class Decision:
    outage: Rule | None = None
    delay: float = 0.0
    error: Rule | None = None
    kills: list[Rule] = field(default_factory=list)


class Faults:
    """The rules, the seeded random sequence and the counters; safe across threads."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.seed = seed
        self._forget()

    def _forget(self) -> None:
        self._random = random.Random(self.seed)
        self.rules: list[Rule] = []
        self._next_id, self._requests = 1, 0
        self._injected: Counter[str] = Counter()
        self._by_operation: dict[str, Counter[str]] = {}

    def add(self, docs: Iterable[Any], seed: int | None = None) -> list[Rule]:
        with self._lock:
            added = [Rule.parse(doc, self._next_id + i) for i, doc in enumerate(docs)]
            self._next_id += len(added)
            self.rules.extend(added)
            if seed is not None:
                self.seed, self._random = int(seed), random.Random(int(seed))
            return added

    def clear(self) -> None:
        with self._lock:
            self._forget()

    def view(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self.seed,
                "requests": self._requests,
                "injected": dict(self._injected),
                "byOperation": {k: dict(v) for k, v in self._by_operation.items()},
                "rules": [rule.view() for rule in self.rules],
            }

    def _count(self, rule: Rule, request: AwsCall) -> None:
        rule.injected += 1
        self._injected[rule.fault] += 1
        self._by_operation.setdefault(request.key, Counter())[rule.fault] += 1

    def decide(self, request: AwsCall) -> Decision:
        decision = Decision()
        with self._lock:
            self._requests += 1
            matching = [rule for rule in self.rules if rule.matches(request)]
            for rule in matching:
                rule.matched += 1
            outages = [rule for rule in matching if rule.fault == "outage"]
            if outages:
                self._count(outages[0], request)
                return Decision(outage=outages[0])
            for rule in matching:
                if rule.fault == "kill":
                    decision.kills.append(rule)
                elif rule.rate >= 1.0 or self._random.random() < rule.rate:
                    if rule.fault == "latency":
                        decision.delay += rule.seconds
                    elif decision.error is not None:
                        continue
                    else:
                        decision.error = rule
                    self._count(rule, request)
        return decision

    def succeeded(self, request: AwsCall, kills: list[Rule]) -> None:
        """Counts a successful call for ``kills``; signals the ones whose count is reached."""
        with self._lock:
            due = []
            for rule in kills:
                rule.successes += 1
                if rule.outcome is None and rule.successes >= rule.count:
                    rule.outcome = "pending"
                    due.append(rule)
            for rule in due:
                if rule.pid is None or rule.pid <= 0:  # parse() refuses these; never a group
                    continue
                try:
                    os.kill(rule.pid, rule.signal)
                    rule.outcome = "signalled"
                    self._count(rule, request)
                except OSError as exc:  # gone already, or not ours to signal
                    rule.outcome = f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- middleware


def _buffered(app: WSGIApplication, environ: WSGIEnvironment) -> Response:
    """Runs ``app`` to the end: status line, headers and the whole body."""
    started: list[Any] = []
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
        started[:] = [status, headers]
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        getattr(result, "close", lambda: None)()
    return started[0], started[1], b"".join(chunks)


def _respond(start_response: StartResponse, response: Response) -> list[bytes]:
    start_response(response[0], response[1])
    return [response[2]]


class FaultInjector:
    """WSGI middleware: serves ``/sagemeter-api/<name>/...`` from ``controls`` (``faults`` is
    its own) and injects the configured faults into every other request but ``/moto-api/``."""

    def __init__(
        self, app: WSGIApplication, controls: Mapping[str, Control] | None = None, seed: int = 0
    ) -> None:
        self.app = app
        self.faults = Faults(seed)
        self.controls: dict[str, Control] = {"faults": self._control, **(controls or {})}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            name = path[len(CONTROL_PREFIX) :].strip("/").split("/")[0]
            if name in self.controls:
                return self._serve_control(environ, start_response)
            # Another layer's control (the data plane's): never faulted, served inside.
            return self.app(environ, start_response)
        if path.startswith("/moto-api/") or not self.faults.rules:
            return self.app(environ, start_response)
        request = protocols.identify(environ)
        decision = self.faults.decide(request)
        if decision.outage is not None:
            sock = environ.get("werkzeug.socket")
            if decision.outage.mode == "reset" and sock is not None:
                # No answer at all: the client reads a closed connection, as in a real outage.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
                raise ConnectionResetError("injected outage")  # werkzeug: a dropped connection
            return _respond(start_response, decision.outage.response(request))
        if decision.delay:
            time.sleep(decision.delay)
        if decision.error is not None:
            return _respond(start_response, decision.error.response(request))
        if not decision.kills:
            return self.app(environ, start_response)
        response = _buffered(self.app, environ)
        if response[0].startswith("2"):
            self.faults.succeeded(request, decision.kills)  # before the caller reads a byte
        return _respond(start_response, response)

    def _serve_control(self, environ: WSGIEnvironment, respond: StartResponse) -> list[bytes]:
        name, *rest = environ["PATH_INFO"][len(CONTROL_PREFIX) :].strip("/").split("/")
        control, raw = self.controls.get(name), protocols.read_body(environ)
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        try:
            body = json.loads(raw) if raw.strip() else query
        except ValueError:
            status, doc = 400, {"error": "the body is not JSON"}
        else:
            status, doc = (
                (404, {"error": f"no control {name!r}"})
                if control is None
                else control(environ["REQUEST_METHOD"], rest, body)
            )
        payload = json.dumps(doc, default=str).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        return _respond(respond, (f"{status} {HTTPStatus(status).phrase}", headers, payload))

    def _control(self, method: str, path: list[str], body: Any) -> tuple[int, Any]:
        if path:
            return 404, {"error": "the faults control is /sagemeter-api/faults"}
        if method == "GET":
            return 200, self.faults.view()
        if method == "DELETE":
            view = self.faults.view()
            self.faults.clear()
            return 200, view
        if method != "POST":
            return 405, {"error": "GET, POST or DELETE"}
        seed, docs = (
            (None, body)
            if not isinstance(body, dict)
            else (body.get("seed"), body.get("rules", []))
        )
        if not isinstance(docs, list):
            return 400, {"error": 'POST a list of rules, or {"seed": n, "rules": [...]}'}
        try:
            added = self.faults.add(docs, None if seed is None else int(seed))
        except (KeyError, TypeError, ValueError) as exc:
            return 400, {"error": str(exc)}
        return 200, {"rules": [rule.view() for rule in added]}
