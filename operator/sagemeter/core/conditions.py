"""Kubernetes-style conditions: set one, keep the rest, keep transition times honest."""

from __future__ import annotations

from datetime import datetime

from sagemeter.api.models import Condition
from sagemeter.core.meter.times import format_time


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: bool | str,
    reason: str,
    message: str,
    *,
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    """Return `conditions` with `type_` set; lastTransitionTime moves only on a status change."""
    value = status if isinstance(status, str) else ("True" if status else "False")
    previous = next((c for c in conditions if c.type == type_), None)
    since = (
        previous.last_transition_time
        if previous is not None and previous.status == value
        else format_time(now)
    )
    updated = Condition(
        type=type_,
        status=value,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )
    return (
        [updated if c.type == type_ else c for c in conditions]
        if previous
        else [
            *conditions,
            updated,
        ]
    )


def get_condition(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)
