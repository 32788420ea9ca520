"""Cognito user pools in the local AWS, and tokens as clients hold them: real ones that moto's
cognito-idp issues on sign-in, ones minted with the pool's own key (moto issues access tokens
with the `aws.cognito.signin.user.admin` scope only, so custom scopes are minted), and forged
ones signed with another key."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey
from moto.utilities.utils import load_resource

PASSWORD = "Parking-meter-1"


@dataclass(frozen=True)
class Pool:
    id: str
    arn: str
    client_id: str
    region: str

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.id}"


def make_pool(cognito: Any, name: str) -> Pool:
    """A user pool with an app client that signs users in by password."""
    pool = cognito.create_user_pool(PoolName=name)["UserPool"]
    app = cognito.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName=f"{name}-app",
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]
    region = pool["Arn"].split(":")[3]
    return Pool(pool["Id"], pool["Arn"], app["ClientId"], region)


def sign_in(cognito: Any, pool: Pool, user: str) -> dict[str, str]:
    """A user of the pool, signed in: its IdToken, AccessToken and sub."""
    cognito.admin_create_user(UserPoolId=pool.id, Username=user, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(
        UserPoolId=pool.id, Username=user, Password=PASSWORD, Permanent=True
    )
    result = cognito.admin_initiate_auth(
        UserPoolId=pool.id,
        ClientId=pool.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    sub = next(
        a["Value"]
        for a in cognito.admin_get_user(UserPoolId=pool.id, Username=user)["UserAttributes"]
        if a["Name"] == "sub"
    )
    return {"IdToken": result["IdToken"], "AccessToken": result["AccessToken"], "sub": sub}


@cache
def pool_key() -> RSAKey:
    """The private key moto's cognito-idp signs every pool's tokens with."""
    return RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))


@cache
def other_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "dummy"})


def mint(
    pool: Pool,
    *,
    token_use: str = "access",
    scope: str = "",
    sub: str | None = None,
    expires_in: int = 3600,
    key: RSAKey | None = None,
) -> str:
    """A token shaped like Cognito's, signed with the pool's key unless `key` says otherwise."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": pool.issuer,
        "sub": sub or str(uuid.uuid4()),
        "token_use": token_use,
        "iat": now,
        "auth_time": now,
        "exp": now + expires_in,
        "jti": str(uuid.uuid4()),
    }
    if token_use == "access":
        claims.update(client_id=pool.client_id, scope=scope, username="minted")
    else:
        claims.update(aud=pool.client_id, **{"cognito:username": "minted"})
    header = {"kid": "dummy", "alg": "RS256"}
    return jwt.encode(header, claims, key or pool_key())
