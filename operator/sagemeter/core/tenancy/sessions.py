"""The STS sessions sagemeter assumes roles with (SPEC §5 "Assumed roles", "Shared readers").

    session_name(namespace)        -> "sm-<namespace>"         tag sagemeter.io/namespace
    policy_session_name(policy)    -> "sm-policy-<policy>"     tag sagemeter.io/policy

A namespace's session makes every call for that namespace's objects; a policy's session makes
the calls that serve every object of the policy's account at once (sweeps, idle batches, the
event queue's long poll), so no tenant's session ever works for another tenant.

STS takes 2 to 64 characters of `[\\w+=,.@-]`
(https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html, RoleSessionName);
Kubernetes names (DNS labels and subdomains) already fit the alphabet, so only the length can
need a cut, and then a hash keeps two long names apart.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from sagemeter.api.models import GROUP

NAMESPACE_TAG: Final = f"{GROUP}/namespace"
POLICY_TAG: Final = f"{GROUP}/policy"
MAX_SESSION_NAME: Final = 64
_NOT_ALLOWED = re.compile(r"[^\w+=,.@-]")


def _cut(name: str, key: str) -> str:
    name = _NOT_ALLOWED.sub("-", name)
    if len(name) <= MAX_SESSION_NAME:
        return name
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return f"{name[: MAX_SESSION_NAME - 9]}-{digest}"


def session_name(namespace: str) -> str:
    return _cut(f"sm-{namespace}", namespace)


def policy_session_name(policy: str) -> str:
    return _cut(f"sm-policy-{policy}", f"policy/{policy}")
