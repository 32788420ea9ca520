"""HTTP calls to the local data plane as clients make them: plain (``curl``, an API key) or
signed with SigV4 by botocore (the docs' Python example, ``awscurl``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .conftest import REGION, LocalAws

# The role sagemeter's direct routes name (API Gateway would assume it; the sandbox does not).
ROLE = "arn:aws:iam::123456789012:role/apigw-invokes-sagemaker"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next(iter(self.values(name)), None)

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


def send(
    url: str, body: bytes = b"{}", headers: dict[str, str] | None = None, method: str = "POST"
) -> Answer:
    # A GET carries no body (urllib would label even an empty one as a form).
    data = None if method == "GET" and not body else body
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, list(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, list(error.headers.items()), error.read())


def signed(
    url: str,
    body: bytes,
    key: str = "testing",
    secret: str = "testing",
    token: str | None = None,
    service: str = "execute-api",
    region: str = REGION,
    headers: dict[str, str] | None = None,
) -> Answer:
    """POST ``url`` signed with SigV4 the way botocore (and the docs' Python example) does."""
    request = AWSRequest(
        "POST", url, data=body, headers={"Content-Type": "application/json", **(headers or {})}
    )
    SigV4Auth(Credentials(key, secret, token), service, region).add_auth(request)
    return send(url, body, dict(request.headers))


def requests_seen(local_aws: LocalAws) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{local_aws.url}/sagemeter-api/dataplane/requests") as response:
        records: list[dict[str, Any]] = json.loads(response.read())["requests"]
        return records
