"""Idle detection, the pure half: the CloudWatch alarm and metric queries behind `spec.idle`.

Owns what the idle alarm ``sagemeter-<endpointName>-idle`` looks like
(`build_idle_alarm_request`), when an existing alarm already matches it (`alarm_matches`),
the `GetMetricData` query for an endpoint's ``Invocations`` (`metric_query`), how a metric
series becomes ``status.lastInvocationAt`` (`last_invocation`) and when idleness starts to
count after an ``InService`` (`idle_armed`). The CloudWatch gateway and the idle monitor do
the I/O; nothing here talks to AWS, and time is always a parameter.

The alarm is the idle decision: ``Sum(Invocations) < 1`` in every one of ``after`` worth of
60 s periods, with missing data breaching (an endpoint nobody calls may publish no datapoints
at all). Its actions are disabled: the operator reads the alarm's state in batches, so there
is no SNS topic to create, secure and clean up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sagemeter.core.endpoint import naming
from sagemeter.core.endpoint.requests import VARIANT
from sagemeter.core.endpoint.tags import tag_list

__all__ = [
    "ALARM_STATE",
    "MAX_EVALUATION_PERIODS",
    "METRIC_NAME",
    "NAMESPACE",
    "PERIOD",
    "alarm_matches",
    "build_idle_alarm_request",
    "evaluation_periods",
    "idle_armed",
    "last_invocation",
    "metric_query",
]

NAMESPACE: Final = "AWS/SageMaker"
METRIC_NAME: Final = "Invocations"
PERIOD: Final = timedelta(seconds=60)
STATISTIC: Final = "Sum"
ALARM_STATE: Final = "ALARM"
# CloudWatch refuses alarms with periods under an hour whose evaluation periods span more
# than one day (Period * EvaluationPeriods <= 86,400 s), so with 60 s periods an alarm can
# watch at most 1440 of them. Admission refuses an `idle.after` longer than a day
# (`api.spec.IDLE_AFTER_MAX_SECONDS`), so the clamp below only shortens objects stored before
# that rule existed.
MAX_EVALUATION_PERIODS: Final = 1440

# The settings `alarm_matches` compares: everything the operator derives from the spec.
# Tags are left out on purpose: PutMetricAlarm ignores them for an existing alarm, and
# DescribeAlarms does not return them.
_COMPARED: Final = (
    "Namespace",
    "MetricName",
    "Statistic",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "ActionsEnabled",
    "AlarmDescription",
)


def evaluation_periods(after: timedelta) -> int:
    """60 s periods covering ``after`` (rounded up), clamped to [1, 1440]."""
    periods = -(-after // PERIOD)  # ceil in exact integer arithmetic: 90 s -> 2, 15 min -> 15
    return max(1, min(MAX_EVALUATION_PERIODS, periods))


def _dimensions(endpoint_name: str, variant: str) -> list[dict[str, str]]:
    return [
        {"Name": "EndpointName", "Value": endpoint_name},
        {"Name": "VariantName", "Value": variant},
    ]


def build_idle_alarm_request(
    endpoint_name: str,
    after: timedelta,
    tags: dict[str, str],
    variant: str = VARIANT,
) -> dict[str, Any]:
    """The ``PutMetricAlarm`` parameters of the idle alarm of ``endpoint_name``."""
    periods = evaluation_periods(after)
    return {
        "AlarmName": naming.alarm_name(endpoint_name),
        "AlarmDescription": (
            f"SageMaker endpoint {endpoint_name} had no invocations for {periods} minute(s);"
            " managed by sagemeter"
        ),
        "Namespace": NAMESPACE,
        "MetricName": METRIC_NAME,
        "Dimensions": _dimensions(endpoint_name, variant),
        "Statistic": STATISTIC,
        "Period": int(PERIOD.total_seconds()),
        "EvaluationPeriods": periods,
        # Every period must be idle: one call in the window keeps the endpoint alive.
        "DatapointsToAlarm": periods,
        "Threshold": 1.0,
        "ComparisonOperator": "LessThanThreshold",
        "TreatMissingData": "breaching",
        "ActionsEnabled": False,
        "Tags": tag_list(tags),
    }


def _sorted_dimensions(dimensions: Sequence[Mapping[str, str]]) -> list[tuple[str, str]]:
    return sorted((d["Name"], d["Value"]) for d in dimensions)


def alarm_matches(existing: Mapping[str, Any], request: Mapping[str, Any]) -> bool:
    """Whether a ``DescribeAlarms`` entry already has the settings of ``request``, so that
    ``PutMetricAlarm`` is only called when something (usually ``idle.after``) changed."""
    for key in _COMPARED:
        if key not in request:
            continue
        if key == "Threshold":
            if float(existing.get(key, float("nan"))) != float(request[key]):
                return False
        elif existing.get(key) != request[key]:
            return False
    existing_dims = _sorted_dimensions(existing.get("Dimensions") or [])
    return existing_dims == _sorted_dimensions(request.get("Dimensions") or [])


def metric_query(id: str, endpoint_name: str, variant: str = VARIANT) -> dict[str, Any]:
    """One ``MetricDataQueries`` entry: ``Sum(Invocations)`` per 60 s of one endpoint variant.

    ``id`` must start with a lowercase letter (CloudWatch's rule for query ids).
    """
    return {
        "Id": id,
        "MetricStat": {
            "Metric": {
                "Namespace": NAMESPACE,
                "MetricName": METRIC_NAME,
                "Dimensions": _dimensions(endpoint_name, variant),
            },
            "Period": int(PERIOD.total_seconds()),
            "Stat": STATISTIC,
        },
        "ReturnData": True,
    }


def last_invocation(timestamps: Sequence[datetime], values: Sequence[float]) -> datetime | None:
    """The latest period with at least one invocation, or None when there is none.

    A timestamp is the start of its 60 s period, so the invocation happened within the minute
    after it. Periods with a sum of 0 do not count: SageMaker publishes zeros for idle minutes.
    """
    busy = [ts for ts, value in zip(timestamps, values, strict=True) if value > 0]
    return max(busy, default=None)


def idle_armed(in_service_since: datetime, grace: timedelta, now: datetime) -> bool:
    """Whether idleness counts yet: ``gracePeriod`` has passed since the endpoint became
    ``InService`` (exactly at the end of the grace period counts as passed)."""
    return now >= in_service_since + grace
