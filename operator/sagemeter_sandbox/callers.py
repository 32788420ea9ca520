"""Who made a call to the local AWS: the account, and for an assumed role its session.

AWS tells sessions apart by their temporary access keys, and CloudTrail records each call's
``userIdentity`` (the assumed role, the session name and the session tags given to
``sts:AssumeRole``; https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html).
moto issues those keys but forgets the session tags, so ``response_patches`` wraps moto's
``AssumeRole`` to keep them (installed by ``motopatches``), and ``caller_of`` answers for a
request's access key:

* an assumed role's key: the role's account, the role ARN, the session name and tags;
* any other key: the account moto maps it to (123456789012 for the sandbox's ``testing``).

The request log records this with every call, and fault rules can match an ``account``, so a
test can throttle one tenant's account while another's carries on.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from moto.iam.models import get_account_id_from
from moto.sts.responses import TokenResponse

from sagemeter_sandbox import motopatches

__all__ = ["Caller", "caller_of", "response_patches"]

_lock = threading.Lock()
_sessions: dict[str, Caller] = {}


@dataclass(frozen=True)
class Caller:
    account: str
    role: str | None = None
    session: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "role": self.role,
            "session": self.session,
            "sessionTags": dict(self.tags),
        }


def caller_of(access_key: str | None) -> Caller | None:
    if not access_key:
        return None
    with _lock:
        known = _sessions.get(access_key)
    return known if known is not None else Caller(get_account_id_from(access_key))


def _tags(response: TokenResponse) -> dict[str, str]:
    """``Tags.member.N.Key`` / ``.Value`` of an AssumeRole request (query protocol)."""
    params = response.querystring
    tags: dict[str, str] = {}
    index = 1
    while f"Tags.member.{index}.Key" in params:
        key = params[f"Tags.member.{index}.Key"][0]
        tags[key] = params.get(f"Tags.member.{index}.Value", [""])[0]
        index += 1
    return tags


def _assume_role(self: TokenResponse) -> Any:
    result = motopatches.original(TokenResponse, "assume_role")(self)
    role = result.result["Credentials"]  # moto's AssumedRole
    caller = Caller(role.account_id, role.role_arn, role.session_name, _tags(self))
    with _lock:
        _sessions[role.access_key_id] = caller
    return result


def response_patches() -> list[tuple[type, str, Any]]:
    return [(TokenResponse, "assume_role", _assume_role)]
