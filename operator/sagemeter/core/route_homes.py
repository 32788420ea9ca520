"""Where a ManagedEndpoint's route lives (SPEC §2 "API route"), where else it may have been
written, and which Lambda functions a route may proxy to (SPEC §5 "Lambdas").

    home_of(authorization, namespace, account, region, configured) -> ApiHome
    api_owner(tags) -> "<namespace>" | LEGACY | None
    parse_invoke_url(url) -> InvokeUrl | None
    lambda_entitled(arn, namespace, function_tags, operator_globs) -> bool

API Gateway accepts any key of any usage plan bound to a stage on every key-required method of
that stage: a usage plan "specifies who can access one or more deployed API stages", and the key
is checked against the stage, not the method
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-usage-plans.html).
So an `API_KEY` route always lives in its namespace's own REST API (one per namespace, account
and region, made and tagged by sagemeter): another namespace's key is bound to another REST
API's stage and opens nothing here. A stage per namespace would not help: every stage deploys
the same resource tree. Routes of the other
authorizations live in the platform's configured REST API (`SAGEMETER_API_REST_API_ID`) where it
applies (the operator's own account and region), else in the namespace's own REST API too.

Before namespace APIs, sagemeter kept one REST API per account and region (tagged
`sagemeter.io/managed-by` only): `LEGACY`. Routes found there, in the other home, or in the API
an object's status last showed (a changed `SAGEMETER_API_REST_API_ID`), are moved out once the
route serves from its home.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from sagemeter.api.globs import matches_any
from sagemeter.api.models import Authorization
from sagemeter.core.endpoint.ownership import MANAGED_BY, OPERATOR
from sagemeter.core.tenancy.sessions import NAMESPACE_TAG

__all__ = [
    "LEGACY",
    "ApiHome",
    "InvokeUrl",
    "api_owner",
    "home_of",
    "lambda_entitled",
    "namespace_api_description",
    "namespace_api_name",
    "namespace_api_tags",
    "parse_invoke_url",
]

LEGACY: Final = ""  # api_owner of the REST API sagemeter shared per account and region before
LAMBDA_NOT_ALLOWED: Final = "LambdaNotAllowed"
_INVOKE_URL = re.compile(
    r"^https://(?P<api>[a-z0-9]+)\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?"
    r"/(?P<stage>[^/]+)/(?P<path>.+)$"
)


@dataclass(frozen=True)
class ApiHome:
    """A REST API routes are written to: a namespace's own (``namespace`` set, found by its
    tags), or one known by id (``api_id``: the configured one, the legacy one, one a status
    showed)."""

    account: str
    region: str
    namespace: str | None = None
    api_id: str | None = None

    def describe(self) -> str:
        which = (
            f"the REST API of namespace {self.namespace}"
            if self.namespace is not None
            else f"REST API {self.api_id}"
        )
        return f"{which} ({self.account}, {self.region})"


@dataclass(frozen=True)
class InvokeUrl:
    api_id: str
    region: str
    stage: str
    path: str


def home_of(
    authorization: Authorization | str,
    namespace: str,
    account: str,
    region: str,
    configured: str | None,
) -> ApiHome:
    """The REST API a route belongs in; ``configured``: the platform's REST API where it
    applies to this object (the operator's own account and region), else None."""
    if Authorization(authorization) != Authorization.API_KEY and configured:
        return ApiHome(account, region, api_id=configured)
    return ApiHome(account, region, namespace=namespace)


def namespace_api_name(namespace: str) -> str:
    return f"sagemeter-{namespace}"


def namespace_api_description(namespace: str) -> str:
    return (
        f"Routes of the ManagedEndpoints in namespace {namespace} (sagemeter); its API keys"
        " open only these routes"
    )


def namespace_api_tags(namespace: str) -> dict[str, str]:
    """Tags of a namespace's REST API: how sagemeter finds it again, and whose it is."""
    return {MANAGED_BY: OPERATOR, NAMESPACE_TAG: namespace}


def api_owner(tags: Mapping[str, str] | None) -> str | None:
    """The namespace whose REST API this is, ``LEGACY`` for sagemeter's shared one of old, None
    for a REST API sagemeter did not make."""
    tags = tags or {}
    if tags.get(MANAGED_BY) != OPERATOR:
        return None
    return tags.get(NAMESPACE_TAG, LEGACY)


def parse_invoke_url(url: str | None) -> InvokeUrl | None:
    """The REST API, region, stage and path of an ``invokeUrl`` sagemeter wrote."""
    match = _INVOKE_URL.match(url or "")
    if match is None:
        return None
    return InvokeUrl(match["api"], match["region"], match["stage"], match["path"])


def lambda_entitled(
    arn: str,
    namespace: str,
    function_tags: Mapping[str, str] | None,
    operator_globs: Iterable[str],
) -> bool:
    """Whether a namespace may proxy its route to a function when no EndpointPolicy over it
    sets ``routes.lambdaArns`` (SPEC §5 "Lambdas"): the function is tagged
    ``sagemeter.io/namespace=<namespace>``, or the operator's ``SAGEMETER_LAMBDA_ARNS`` globs
    (default: none) name it. ``function_tags`` None: the function's tags could not be read
    (another account's function, or no permission), which entitles nothing."""
    if matches_any(operator_globs, arn):
        return True
    return (function_tags or {}).get(NAMESPACE_TAG) == namespace
