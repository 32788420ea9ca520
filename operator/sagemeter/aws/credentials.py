"""Assumed-role credentials for the namespaces an EndpointPolicy maps to a role.

`sts:AssumeRole` is called once per (role, namespace): the session name and the session tag
`sagemeter.io/namespace` name the namespace, so a tenant's trust policy and CloudTrail can tell
namespaces apart. botocore's `RefreshableCredentials` keeps them fresh: one thread refreshes a
while before expiry (the others keep using the current credentials), and only when the
mandatory margin is reached do callers wait for the new ones, so a thousand objects in one
namespace cause one `AssumeRole`, not a thousand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sagemeter.aws.errors import checked_call
from sagemeter.core.tenancy.identity import NAMESPACE_TAG, session_name

__all__ = ["EXPIRED_TOKEN_CODES", "Identity", "assumed_role_credentials", "expire"]

# What AWS answers for credentials it no longer accepts (expired early, revoked, clock skew).
EXPIRED_TOKEN_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
# botocore RefreshableCredentials per identity (botocore is imported with the first client).
_credentials: dict[Identity, Any] = {}

# botocore refreshes 15 minutes before expiry (advisory) and blocks at 10 (mandatory); shorter
# credentials (tests) refresh at the same fractions of their lifetime.
_ADVISORY = 15 * 60
_MANDATORY = 10 * 60


@dataclass(frozen=True)
class Identity:
    """A role assumed on behalf of one namespace."""

    role_arn: str
    namespace: str
    sts_region: str = "us-east-1"


def _refresher(sts: Any, identity: Identity, seconds: int) -> Any:
    def refresh() -> dict[str, str]:
        answer = checked_call(
            sts,
            "AssumeRole",
            RoleArn=identity.role_arn,
            RoleSessionName=session_name(identity.namespace),
            DurationSeconds=seconds,
            Tags=[{"Key": NAMESPACE_TAG, "Value": identity.namespace}],
        )
        credentials = answer["Credentials"]
        expiry: datetime = credentials["Expiration"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": expiry.isoformat(),
        }

    return refresh


def assumed_role_credentials(sts: Any, identity: Identity, seconds: int) -> Any:
    """botocore credentials that are `identity`'s, assumed at the first call made with them
    and kept fresh."""
    from botocore.credentials import DeferredRefreshableCredentials

    credentials = DeferredRefreshableCredentials(
        refresh_using=_refresher(sts, identity, seconds), method="sts-assume-role"
    )
    credentials._advisory_refresh_timeout = min(_ADVISORY, seconds // 4)
    credentials._mandatory_refresh_timeout = min(_MANDATORY, seconds // 10)
    _credentials[identity] = credentials
    return credentials


def expire(identity: Identity) -> None:
    """AWS refused `identity`'s credentials before their time: the next call assumes the role
    again (once, whichever thread gets there first; botocore serializes the refresh)."""
    credentials = _credentials.get(identity)
    if credentials is not None:
        credentials._expiry_time = datetime.now(UTC) - timedelta(seconds=1)
