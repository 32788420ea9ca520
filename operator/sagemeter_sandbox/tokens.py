"""Expired session credentials fail in the local AWS as they do in AWS.

moto hands out temporary credentials for `sts:AssumeRole` with an expiration, but accepts them
forever. This module (a WSGI layer `localaws` puts in front of moto) refuses a request signed
with an access key of an assumed role whose credentials have expired: HTTP 400
`ExpiredTokenException` ("The security token included in the request is expired"), in the
request's protocol, as AWS answers (`ExpiredToken` for query-protocol services such as STS).

`POST /sagemeter-api/credentials/expire` with `{"roleArn": ..., "accountId"?: ...}` expires now
every credential issued for that role (in that account, default: the role's own), so tests can
make credentials run out mid-run without waiting an hour. It answers how many it expired.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from moto.core.utils import utcnow
from moto.sts.models import sts_backends

from sagemeter_sandbox import protocols

__all__ = ["ExpiredTokens", "control"]

_ACCESS_KEY = re.compile(r"Credential=([A-Z0-9]+)/")
_ROLE_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):role/")


def _assumed_roles() -> Iterable[Any]:
    for account in list(sts_backends.keys()):
        for backend in list(sts_backends[account].values()):
            yield from list(backend.assumed_roles)


def _expired(access_key: str) -> bool:
    now = utcnow()
    for role in _assumed_roles():
        if role.access_key_id == access_key:
            return bool(role.expiration <= now)
    return False


class ExpiredTokens:
    """WSGI middleware: requests signed with expired assumed-role credentials are refused."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        found = _ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
        if found is None or not _expired(found.group(1)):
            answer: Iterable[bytes] = self.app(environ, start_response)
            return answer
        call = protocols.identify(environ)
        code = "ExpiredToken" if call.protocol == "query" else "ExpiredTokenException"
        status, headers, body = protocols.error_response(
            call.protocol, 400, code, "The security token included in the request is expired"
        )
        start_response(status, headers)
        return [body]


def control(method: str, path: list[str], body: Any) -> tuple[int, Any]:
    """``/sagemeter-api/credentials/expire``."""
    if method != "POST" or path != ["expire"] or not isinstance(body, dict):
        return 404, {"error": 'POST /sagemeter-api/credentials/expire {"roleArn": ...}'}
    role_arn = str(body.get("roleArn") or "")
    if not _ROLE_ACCOUNT.match(role_arn):
        return 400, {"error": f"not a role ARN: {role_arn!r}"}
    past = utcnow() - timedelta(seconds=1)
    expired = 0
    for role in _assumed_roles():
        if role.role_arn == role_arn:
            role.expiration = past
            expired += 1
    return 200, {"expired": expired}
