"""The operator's own AWS account (`sts:GetCallerIdentity`), asked once at start-up.

Objects in namespaces no EndpointPolicy maps to a role live there; status records it
(`status.aws.accountId`) so a later policy that would move them elsewhere is noticed.
"""

from __future__ import annotations

import logging

from sagemeter.aws.clients import client
from sagemeter.aws.errors import AwsError, checked_call

log = logging.getLogger("sagemeter")


def own_account(region: str) -> str | None:
    try:
        return str(checked_call(client("sts", region), "GetCallerIdentity")["Account"])
    except AwsError as error:
        log.warning("cannot tell the operator's own AWS account: %s", error)
        return None
