"""What `kubectl sagemeter` reads and prints: current expiry, time left, the table.

Pure functions over ManagedEndpoint objects as the API returns them (plain
dicts): no Kubernetes calls, and `now` is always a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sagemeter.api.models import ConditionType
from sagemeter.core.endpoint.desired import current_expiry
from sagemeter.core.meter.durations import format_duration
from sagemeter.core.tenancy.budget import Activity, activity_of

NONE = "-"
COLUMN_GAP = "   "  # what kubectl puts between columns

_UNITS = (7 * 24 * 3600, 24 * 3600, 3600, 60, 1)
# How many fleets are billed, by what the endpoint is doing (budgets count the same way).
FLEETS = {
    Activity.WAITING: 0,
    Activity.CREATING: 1,
    Activity.RUNNING: 1,
    Activity.UPDATING: 2,
}


def expiry_or_none(obj: dict[str, Any]) -> datetime | None:
    """`current_expiry`, or None for an object it cannot read."""
    try:
        return current_expiry(obj)
    except (ValueError, KeyError):  # one odd object must not break the listing
        return None


def human_duration(duration: timedelta) -> str:
    """`duration` in the largest unit and the one below it, rounded down: `1h23m`, `2d5h`, `45s`.

    Rounding down keeps the number honest ("1h29m" left, never "1h30m" when a few
    seconds are missing), and the result is itself a valid duration string.
    """
    seconds = max(int(duration.total_seconds()), 0)
    for index, unit in enumerate(_UNITS):
        if seconds >= unit:
            resolution = _UNITS[min(index + 1, len(_UNITS) - 1)]
            return format_duration(timedelta(seconds=seconds - seconds % resolution))
    return "0s"


def format_time_left(expires_at: datetime | None, now: datetime) -> str:
    """`1h23m` until `expires_at`, `expired 5m ago` after it, `-` when there is no expiry."""
    if expires_at is None:
        return NONE
    if expires_at > now:
        return human_duration(expires_at - now)
    ago = human_duration(now - expires_at)
    return "expired just now" if ago == "0s" else f"expired {ago} ago"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns as kubectl prints them; no trailing spaces; ends with a newline."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = [
        COLUMN_GAP.join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in [headers, *rows]
    ]
    return "".join(line.rstrip() + "\n" for line in lines)


def degraded_reason(status: Mapping[str, Any]) -> str | None:
    """The reason of a `Degraded=True` condition, if there is one."""
    for condition in status.get("conditions") or []:
        if condition.get("type") == ConditionType.DEGRADED and condition.get("status") == "True":
            return str(condition.get("reason") or ConditionType.DEGRADED)
    return None


def reason(status: Mapping[str, Any]) -> str:
    """Why the endpoint is not simply running: `Idle`, `RouteConflict`, or both."""
    parts = [status.get("parkedReason"), degraded_reason(status)]
    return ",".join(str(part) for part in parts if part) or NONE


def instance(spec: Mapping[str, Any]) -> str:
    """`ml.g5.2xlarge`, `ml.g5.2xlarge x2`, `Serverless`, or `-` for an existing config."""
    if spec.get("inferenceType") == "Serverless":
        return "Serverless"
    instance_type = spec.get("instanceType")
    if not instance_type:
        return NONE
    count = int(spec.get("instanceCount") or 1)
    return f"{instance_type} x{count}" if count > 1 else str(instance_type)


def paid_per_hour(status: Mapping[str, Any]) -> Decimal | None:
    """What the endpoint costs per hour now: nothing while no endpoint runs (parked, failed,
    pending, being deleted), its price while it runs, twice while an update runs both fleets
    (blue/green), as EndpointPolicy budgets count it; None when it runs at an unknown price."""
    fleets = FLEETS[activity_of(status.get("sagemakerStatus"))]
    if fleets == 0:
        return Decimal(0)
    try:
        return Decimal(str(status["hourlyCostUSD"])) * fleets
    except (KeyError, ArithmeticError):
        return None


def cost_per_hour(status: Mapping[str, Any]) -> str:
    """The COST/H cell: what is paid now (`$0` when nothing runs), `?` for an unknown price."""
    paid = paid_per_hour(status)
    if paid is None:
        return "?"
    return "$0" if paid == 0 else f"${paid}"


def total_line(statuses: Sequence[Mapping[str, Any]]) -> str:
    """`paying $3.04/h for 2 of 5 endpoints (1 of unknown price)`."""
    paid = [paid_per_hour(status) for status in statuses]
    running = [p for p in paid if p != 0]
    known = sum((p for p in running if p is not None), Decimal(0))
    unknown = sum(1 for p in running if p is None)
    text = f"paying ${known}/h for {len(running)} of {len(statuses)} endpoints"
    return text + (f" ({unknown} of unknown price)" if unknown else "")


def endpoint_row(
    obj: Mapping[str, Any], expires_at: datetime | None, now: datetime, *, with_namespace: bool
) -> list[str]:
    """One table row; `expires_at` is the endpoint's `current_expiry`."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    row = [metadata.get("namespace", NONE)] if with_namespace else []
    return [
        *row,
        str(metadata.get("name", NONE)),
        str(status.get("phase") or NONE),
        reason(status),
        format_time_left(expires_at, now),
        instance(spec),
        cost_per_hour(status),
    ]


def table_headers(*, with_namespace: bool) -> list[str]:
    headers = ["NAME", "PHASE", "REASON", "TIME LEFT", "INSTANCE", "COST/H"]
    return ["NAMESPACE", *headers] if with_namespace else headers


def budget_lines(policies: Sequence[Mapping[str, Any]]) -> list[str]:
    """`budget team-a: 12.40 of 25.00 USD/h, 2 waiting` for each EndpointPolicy with a budget."""
    lines = []
    for policy in sorted(policies, key=lambda p: str(p.get("metadata", {}).get("name", ""))):
        budget = (policy.get("spec") or {}).get("budget")
        if not budget:
            continue
        status = policy.get("status") or {}
        waiting = status.get("waiting") or 0
        lines.append(
            f"budget {policy['metadata']['name']}: {status.get('usdPerHour') or '0.00'} of"
            f" {budget['usdPerHour']} USD/h" + (f", {waiting} waiting" if waiting else "")
        )
    return lines
