"""Control-plane rate quotas the local AWS enforces as AWS does: per account and region.

API Gateway's "quotas for creating, deploying and managing an API"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html) are fixed and cannot
be increased; among them ``CreateDeployment`` allows 1 request every 5 seconds per account (and
region: the page's quotas are regional). A request that comes sooner is refused before the
service looks at it, with API Gateway's throttling error: HTTP 429 ``TooManyRequestsException``
"Too Many Requests" (botocore's apigateway model lists ``TooManyRequestsException`` for
CreateDeployment, with a ``retryAfterSeconds`` header, sent here as ``Retry-After``).

Only the quotas in ``RATES`` are enforced; the others on that page (CreateRestApi, DeleteRestApi,
UpdateUsagePlan, GetResources...) are not, so the local AWS stays permissive where tests do not
need them. A request counts against the quota when it arrives, whatever its outcome, as AWS
throttles before it validates. ``POST /moto-api/reset`` forgets the counts.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from sagemeter_sandbox import callers, protocols

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["RATES", "RateQuotas"]

# (service as botocore names it, operation) -> seconds between two requests per account and region
RATES: dict[tuple[str, str], float] = {("apigateway", "CreateDeployment"): 5.0}


class RateQuotas:
    """WSGI middleware: refuses a call made sooner than its quota allows (see the module)."""

    def __init__(
        self,
        app: WSGIApplication,
        quotas: dict[tuple[str, str], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.quotas = dict(RATES if quotas is None else quotas)
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str, str, str], float] = {}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api/reset"):
            with self._lock:
                self._last.clear()
            return self.app(environ, start_response)
        if path.startswith("/moto-api/"):
            return self.app(environ, start_response)
        call = protocols.identify(environ)
        service = call.key.split(":", 1)[0]
        interval = self.quotas.get((service, call.operation))
        if interval is None:
            return self.app(environ, start_response)
        caller = callers.caller_of(call.access_key)
        key = (caller.account if caller else "", call.region, service, call.operation)
        with self._lock:
            now = self._clock()
            last = self._last.get(key)
            wait = 0.0 if last is None else last + interval - now
            if wait <= 0:
                self._last[key] = now
        if wait > 0:
            status, headers, body = protocols.error_response(
                call.protocol, 429, "TooManyRequestsException", "Too Many Requests"
            )
            headers.append(("Retry-After", str(math.ceil(wait))))
            start_response(status, headers)
            return [body]
        return self.app(environ, start_response)
