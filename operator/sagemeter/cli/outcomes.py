"""What `kubectl sagemeter` tells around an action: a top-up before it is sent (how far it
reaches, whether a maximum lifetime cuts it, whether it needs a confirmation), and what the
operator made of a park once it has seen it (parked, parking, or only reported in dry run).

The preview is pure (the object as read and the clock are parameters); `park_verdict` polls
the object a few seconds for the operator's pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sagemeter.api.models import ConditionType, Phase
from sagemeter.cli.patches import extend_patch
from sagemeter.core.endpoint.desired import current_expiry, extended_expiry

# A top-up past this asks for a confirmation (or --yes): a typo such as 99999d costs money.
CONFIRM_BEYOND = timedelta(days=7)
# How long `park` waits for the operator's pass before it answers without it.
VERDICT_SECONDS = 10.0
WOULD_PARK = "WouldPark"


@dataclass(frozen=True)
class TopUp:
    """A top-up as it would be written: the new expiry and what asking for it meant."""

    expires_at: datetime
    asked: datetime  # max(now, current) + duration, before any cap
    ttl_set: bool  # spec.expiry.ttl is set: the written expiresAt wins over it from now on

    @property
    def capped(self) -> bool:
        return self.expires_at < self.asked

    def needs_confirmation(self, now: datetime) -> bool:
        return self.expires_at - now > CONFIRM_BEYOND


def preview_top_up(obj: dict[str, Any], duration: timedelta, now: datetime) -> TopUp:
    """The top-up `extend` would send now; raises `patches.NothingToExtend` like it."""
    _, new = extend_patch(obj, duration, now)
    asked = extended_expiry(current_expiry(obj), now, duration)
    ttl = ((obj.get("spec") or {}).get("expiry") or {}).get("ttl")
    return TopUp(expires_at=new, asked=asked, ttl_set=ttl is not None)


class ParkOutcome:
    """What the operator did with a park, as its status says."""

    PARKED = "parked"
    PARKING = "parking"
    DRY_RUN = "dry-run"
    NOT_YET = "not-yet"


def verdict_of(status: Mapping[str, Any]) -> str:
    """The operator's answer to a park, from a status that describes the suspended spec."""
    conditions: list[dict[str, Any]] = status.get("conditions") or []
    parked = next((c for c in conditions if c.get("type") == ConditionType.PARKED), {})
    if parked.get("reason") == WOULD_PARK:
        return ParkOutcome.DRY_RUN
    if status.get("phase") == Phase.PARKED:
        return ParkOutcome.PARKED
    return ParkOutcome.PARKING


def park_verdict(
    read: Callable[[], dict[str, Any]],
    timeout: float = VERDICT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Wait (at most `timeout`) for a status of the generation the park made, and judge it.
    An object the operator never reported on is not waited for: nothing may be running it."""
    deadline = clock() + timeout
    while True:
        obj = read()
        generation = (obj.get("metadata") or {}).get("generation") or 0
        observed = (obj.get("status") or {}).get("observedGeneration")
        if observed is not None and observed >= generation:
            return verdict_of(obj["status"])
        if observed is None or clock() >= deadline:
            return ParkOutcome.NOT_YET
        sleep(0.25)
