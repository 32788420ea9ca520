"""Assumed-role credentials for the namespaces an EndpointPolicy maps to a role, and for the
policies' shared readers.

`sts:AssumeRole` is called once per (role, namespace): the session name and the session tag
`sagemeter.io/namespace` name the namespace, so a tenant's trust policy and CloudTrail can tell
namespaces apart. A policy's shared reader (sweeps, idle batches, the event queue of its
account) gets a session of its own per (role, policy): `sm-policy-<policy>`, session tag
`sagemeter.io/policy`. botocore's `RefreshableCredentials` keeps them fresh: one thread refreshes a
while before expiry (the others keep using the current credentials), and only when the
mandatory margin is reached do callers wait for the new ones, so a thousand objects in one
namespace cause one `AssumeRole`, not a thousand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sagemeter.aws.errors import checked_call
from sagemeter.core.tenancy.sessions import (
    NAMESPACE_TAG,
    POLICY_TAG,
    policy_session_name,
    session_name,
)

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
    """A role assumed on behalf of one namespace, or of one policy's shared readers (exactly
    one of the two is set)."""

    role_arn: str
    namespace: str | None = None
    sts_region: str = "us-east-1"
    policy: str | None = None

    def __post_init__(self) -> None:
        if (self.namespace is None) == (self.policy is None):
            raise ValueError("an Identity is a namespace's or a policy's, not both or neither")

    @property
    def account(self) -> str | None:
        """The account the role lives in (where every call made with it lands)."""
        parts = self.role_arn.split(":")
        return parts[4] if len(parts) > 4 and parts[4] else None

    @property
    def session_name(self) -> str:
        if self.namespace is not None:
            return session_name(self.namespace)
        assert self.policy is not None
        return policy_session_name(self.policy)

    @property
    def session_tags(self) -> dict[str, str]:
        if self.namespace is not None:
            return {NAMESPACE_TAG: self.namespace}
        assert self.policy is not None
        return {POLICY_TAG: self.policy}


def _refresher(sts: Any, identity: Identity, seconds: int) -> Any:
    def refresh() -> dict[str, str]:
        answer = checked_call(
            sts,
            "AssumeRole",
            RoleArn=identity.role_arn,
            RoleSessionName=identity.session_name,
            DurationSeconds=seconds,
            Tags=[{"Key": k, "Value": v} for k, v in identity.session_tags.items()],
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
