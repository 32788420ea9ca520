"""``COGNITO_USER_POOLS`` authorization in the local data plane, checked as API Gateway checks it.

A method with a Cognito user pool authorizer takes a JSON Web Token from the authorizer's
identity source (``method.request.header.Authorization`` unless it names another header; the
token alone or after ``Bearer ``, since Cognito's guide calls them bearer tokens and nothing
says API Gateway refuses either). The token passes when, in this order:

* it is a JWT whose issuer is ``https://cognito-idp.<region>.amazonaws.com/<pool id>`` of a
  user pool the authorizer lists in ``providerARNs`` and that exists;
* its RS256 signature verifies against the pool's JWKS: moto's cognito-idp signs every token
  with one bundled key and serves the same public key set at ``/<pool id>/.well-known/
  jwks.json`` for every pool, so that set is what is checked against;
* it has not expired (``exp``);
* an ID token's ``aud`` matches the authorizer's ``identityValidationExpression``, when set
  ("API Gateway will match the aud field of the incoming token from the client against the
  specified regular expression", the CreateAuthorizer reference);
* ``token_use`` fits the method: a method without ``authorizationScopes`` takes ID tokens, one
  with scopes takes access tokens whose ``scope`` claim holds at least one of them (botocore's
  apigateway model, ``Method.authorizationScopes``: "The method invocation is authorized if
  any method scopes matches a claimed scope in the access token ... When the method scope is
  configured, the client must provide an access token instead of an identity token"; the
  Cognito 401 troubleshooting article says the same of ID tokens without scopes).

Anything else is ``401 {"message":"Unauthorized"}``, with the reason in the request log. The
claims reach integrations as ``$context.authorizer.claims.<name>`` and Lambda proxies as
``requestContext.authorizer.claims`` (every value a string, as API Gateway passes them).
"""

from __future__ import annotations

import base64
import json
import re
import time
from functools import cache
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from moto.cognitoidp.models import cognitoidp_backends
from moto.utilities.utils import load_resource

from .exchange import Call, GatewayError, Route, configuration_error

__all__ = ["authorize", "issuer"]

_BEARER = re.compile(r"^bearer\s+", re.IGNORECASE)
_POOL_ARN = re.compile(
    r"^arn:[a-z-]+:cognito-idp:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):userpool/(?P<id>.+)$"
)


def issuer(region: str, pool_id: str) -> str:
    """The ``iss`` claim of the user pool's tokens."""
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


@cache
def _pool_keys() -> KeySet:
    """The JWKS moto serves for every user pool."""
    return KeySet.import_key_set(load_resource("cognitoidp/resources/jwks-public.json"))


def _unauthorized(detail: str) -> GatewayError:
    return GatewayError(401, "Unauthorized", "UnauthorizedException", detail=detail)


def _payload(token: str) -> dict[str, Any]:
    """The claims before the signature is checked (to find the pool whose key to check with)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise _unauthorized("the token is not a JSON Web Token")
    try:
        doc = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError as error:
        raise _unauthorized("the token's payload is not JSON") from error
    if not isinstance(doc, dict):
        raise _unauthorized("the token's payload is not a JSON object")
    return doc


def _pool_of(authorizer: Any, iss: Any) -> None:
    """Raises unless ``iss`` is a user pool the authorizer lists and that exists."""
    for arn in authorizer.provider_arns or []:
        match = _POOL_ARN.match(str(arn))
        if match is None or issuer(match["region"], match["id"]) != iss:
            continue
        pools = cognitoidp_backends[match["account"]][match["region"]].user_pools
        if match["id"] in pools:
            return
        raise _unauthorized(f"user pool {match['id']} does not exist")
    raise _unauthorized(f"issuer {iss!r} is no user pool of authorizer {authorizer.id}")


def authorize(call: Call, route: Route) -> dict[str, Any]:
    """The authorizer context (``{"claims": {...}}``) of a valid token; else ``GatewayError``."""
    authorizer = route.authorizers.get(route.method.authorizer_id or "")
    if authorizer is None:
        raise configuration_error(f"authorizer {route.method.authorizer_id} is not deployed")
    if (authorizer.type or "").upper() != "COGNITO_USER_POOLS":
        raise configuration_error(
            f"authorizer {authorizer.id} is {authorizer.type}, not COGNITO_USER_POOLS"
        )
    source = (authorizer.identity_source or "method.request.header.Authorization").strip()
    header = source.removeprefix("method.request.header.")
    token = _BEARER.sub("", (call.header(header) or "").strip())
    if not token:
        raise _unauthorized(f"no {source}")
    _pool_of(authorizer, _payload(token).get("iss"))
    try:
        verified = jwt.decode(token, _pool_keys(), algorithms=["RS256"])
    except (JoseError, ValueError) as error:
        raise _unauthorized(f"the token's signature does not verify: {error}") from error
    claims = dict(verified.claims)
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or expires <= time.time():
        raise _unauthorized("the token has expired")
    use = claims.get("token_use")
    pattern = authorizer.identity_validation_expression
    if use == "id" and pattern and not re.fullmatch(pattern, str(claims.get("aud") or "")):
        raise _unauthorized("the token's aud fails the identity validation expression")
    wanted = set(route.method.authorization_scopes or [])
    if wanted:
        if use != "access":
            raise _unauthorized("the method has scopes: it takes an access token, not an ID token")
        held = set(str(claims.get("scope") or "").split())
        if not wanted & held:
            raise _unauthorized(f"the token holds none of the method's scopes {sorted(wanted)}")
    elif use != "id":
        raise _unauthorized("the method has no scopes: it takes an ID token, not an access token")
    return {"claims": {name: _text(value) for name, value in claims.items()}}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return json.dumps(value)
