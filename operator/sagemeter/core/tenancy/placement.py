"""Where an object lives in AWS, and whether a policy change would move it.

SPEC §5 "An object never moves": at its first create an object records the
account, role and region it lives in (`status.aws`). If a relabelled namespace
or an edited policy would later put it in another account or region, it gets
`Degraded` `AccountChanged` and the operator does nothing in AWS for it until
it is re-created. A different role in the same account and region is not a
move: the new role is used (and recorded) from then on.
"""

from __future__ import annotations

import re
from typing import Final

from sagemeter.api.models import AwsPlacement, ManagedEndpointSpec
from sagemeter.core.tenancy.effective import EffectivePolicy
from sagemeter.core.tenancy.guardrails import OperatorDefaults

ACCOUNT_CHANGED: Final = "AccountChanged"

_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):")


def account_of(role_arn: str) -> str | None:
    """The account id in an IAM role ARN."""
    match = _ACCOUNT.match(role_arn)
    return match.group(1) if match else None


def placement(
    spec: ManagedEndpointSpec, effective: EffectivePolicy, defaults: OperatorDefaults
) -> AwsPlacement:
    """The account, role and region the object's AWS calls go to now."""
    role = effective.role_arn.value if effective.role_arn is not None else None
    account = account_of(role) if role is not None else defaults.account_id
    return AwsPlacement(account_id=account, role_arn=role, region=spec.region or defaults.region)


def moved(recorded: AwsPlacement | None, current: AwsPlacement) -> str | None:
    """Why `current` is another place than the one recorded, or None when it is not.

    Nothing recorded yet (the first create) is no move; a part either side does not
    know (an account id not yet learnt) is not compared.
    """
    if recorded is None:
        return None
    pairs = (
        ("account", recorded.account_id, current.account_id),
        ("region", recorded.region, current.region),
    )
    if not any(was is not None and now is not None and was != now for _, was, now in pairs):
        return None
    was = " ".join(f"{label} {value}" for label, value, _ in pairs if value is not None)
    now = " ".join(f"{label} {value}" for label, _, value in pairs if value is not None)
    return (
        f"created in {was}, its namespace's policies now put it in {now}:"
        " nothing is done in AWS for it until it is re-created; delete this object and create"
        " it again to move it (or restore the policy)"
    )
