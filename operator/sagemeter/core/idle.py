"""Idle detection, the pure half: the CloudWatch alarm and metric queries behind `spec.idle`.

Owns what the idle alarm ``sagemeter-<endpointName>-idle`` looks like
(`build_idle_alarm_request`), when an existing alarm already matches it (`alarm_matches`),
the `GetMetricData` queries for an endpoint's ``Invocations`` (`metric_queries`), how metric
series become ``status.lastInvocationAt`` (`last_invocation`) and when idleness starts to
count after an ``InService`` (`idle_armed`). The CloudWatch gateway and the idle monitor do
the I/O; nothing here talks to AWS, and time is always a parameter.

The alarm is the idle decision: ``Sum(Invocations) < 1`` in every one of ``after`` worth of
60 s periods, with missing data breaching (an endpoint nobody calls may publish no datapoints
at all). Its actions are disabled: the operator reads the alarm's state in batches, so there
is no SNS topic to create, secure and clean up.

SageMaker publishes ``Invocations`` per endpoint *and production variant* (dimensions
``EndpointName``, ``VariantName``; no endpoint-wide series: "SageMaker AI endpoint invocation
metrics", https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html). So the
alarm watches every variant the endpoint serves, by the names ``DescribeEndpoint`` shows
(``ProductionVariants[].VariantName``; never assumed to be ``AllTraffic``): one variant is a
plain metric alarm on it, several are one metric-math alarm on ``SUM`` of them. A variant
left out would publish no data for the alarm, and missing data breaches: a busy endpoint would
be parked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sagemeter.core.endpoint import naming
from sagemeter.core.endpoint.tags import tag_list

__all__ = [
    "ALARM_STATE",
    "MAX_ALARM_METRICS",
    "MAX_EVALUATION_PERIODS",
    "METRIC_NAME",
    "NAMESPACE",
    "PERIOD",
    "alarm_matches",
    "alarm_variants",
    "build_idle_alarm_request",
    "evaluation_periods",
    "idle_armed",
    "last_invocation",
    "metric_queries",
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
# "Alarms based on metric math expressions can reference a maximum of 10 metrics. This is a
# hard limit" (CloudWatch User Guide, alarm-limits.html). SageMaker allows at most 10
# production variants per endpoint configuration (botocore's sagemaker model,
# ProductionVariantList max 10), so every endpoint fits in one alarm.
MAX_ALARM_METRICS: Final = 10
# The id of the alarm's expression: CloudWatch ids match [a-z][a-zA-Z0-9_]*.
TOTAL_ID: Final = "invocations"

# The settings `alarm_matches` compares besides what the alarm watches (`_watched`).
# Tags are left out on purpose: PutMetricAlarm ignores them for an existing alarm, and
# DescribeAlarms does not return them.
_COMPARED: Final = (
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


def _metric(endpoint_name: str, variant: str) -> dict[str, Any]:
    return {
        "Namespace": NAMESPACE,
        "MetricName": METRIC_NAME,
        "Dimensions": _dimensions(endpoint_name, variant),
    }


def _variants(variants: Sequence[str]) -> list[str]:
    """Sorted and unique, so that the alarm and its query ids do not depend on the order
    DescribeEndpoint lists the variants in."""
    names = sorted(set(variants))
    if not names:
        raise ValueError("an idle alarm needs the endpoint's production variants")
    if len(names) > MAX_ALARM_METRICS:
        raise ValueError(f"{len(names)} variants: a metric-math alarm takes {MAX_ALARM_METRICS}")
    return names


def build_idle_alarm_request(
    endpoint_name: str,
    after: timedelta,
    tags: dict[str, str],
    variants: Sequence[str],
) -> dict[str, Any]:
    """The ``PutMetricAlarm`` parameters of the idle alarm of ``endpoint_name``, over the
    ``Invocations`` of every one of its production ``variants``.

    One variant: a metric alarm (``Namespace``, ``MetricName``, ``Dimensions``, ``Statistic``,
    ``Period``). Several: ``Metrics``, one ``MetricStat`` per variant with ``ReturnData`` false
    and the expression ``SUM([m0, m1, ...])`` with ``ReturnData`` true, the one series the alarm
    watches; PutMetricAlarm then takes none of the single-metric parameters, and no ``Period``
    on the expression (CloudWatch API reference, PutMetricAlarm ``Metrics`` and MetricDataQuery
    ``ReturnData``/``Period``). ``SUM`` of an array adds the series that have a value at a
    timestamp, so one variant without traffic does not hide another's.
    """
    names = _variants(variants)
    periods = evaluation_periods(after)
    request: dict[str, Any] = {
        "AlarmName": naming.alarm_name(endpoint_name),
        "AlarmDescription": (
            f"SageMaker endpoint {endpoint_name} had no invocations for {periods} minute(s);"
            " managed by sagemeter"
        ),
    }
    if len(names) == 1:
        request.update(_metric(endpoint_name, names[0]))
        request["Statistic"] = STATISTIC
        request["Period"] = int(PERIOD.total_seconds())
    else:
        ids = [f"m{index}" for index in range(len(names))]
        request["Metrics"] = [
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": _metric(endpoint_name, variant),
                    "Period": int(PERIOD.total_seconds()),
                    "Stat": STATISTIC,
                },
                "ReturnData": False,
            }
            for query_id, variant in zip(ids, names, strict=True)
        ] + [
            {
                "Id": TOTAL_ID,
                "Expression": f"SUM([{', '.join(ids)}])",
                "Label": "Invocations of all variants",
                "ReturnData": True,
            }
        ]
    request.update(
        {
            "EvaluationPeriods": periods,
            # Every period must be idle: one call in the window keeps the endpoint alive.
            "DatapointsToAlarm": periods,
            "Threshold": 1.0,
            "ComparisonOperator": "LessThanThreshold",
            "TreatMissingData": "breaching",
            "ActionsEnabled": False,
            "Tags": tag_list(tags),
        }
    )
    return request


def _sorted_dimensions(dimensions: Sequence[Mapping[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((d["Name"], d["Value"]) for d in dimensions))


def _stat(metric: Mapping[str, Any], stat: Any, period: Any) -> tuple[Any, ...]:
    return (
        metric.get("Namespace"),
        metric.get("MetricName"),
        _sorted_dimensions(metric.get("Dimensions") or []),
        stat,
        period,
    )


def _watched(alarm: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What an alarm (a request or a DescribeAlarms entry) watches, independent of the order
    of dimensions and of metric ids: a plain metric, or a ``SUM`` over metrics."""
    metrics = alarm.get("Metrics")
    if not metrics:
        if alarm.get("MetricName") is None:
            return None
        stat = _stat(alarm, alarm.get("Statistic"), alarm.get("Period"))
        return ("metric", stat)
    returned = [m for m in metrics if m.get("ReturnData", True)]
    stats = {
        m.get("Id"): _stat(
            (m.get("MetricStat") or {}).get("Metric") or {},
            (m.get("MetricStat") or {}).get("Stat"),
            (m.get("MetricStat") or {}).get("Period"),
        )
        for m in metrics
        if "MetricStat" in m
    }
    if len(returned) != 1 or "Expression" not in returned[0]:
        return ("other", repr(metrics))
    expression = "".join(str(returned[0]["Expression"]).split())
    summed = expression.removeprefix("SUM([").removesuffix("])")
    ids = summed.split(",") if summed != expression else []
    if not ids or set(ids) != set(stats) or len(ids) != len(metrics) - 1:
        return ("other", repr(metrics))
    return ("sum", tuple(sorted(stats[query_id] for query_id in ids)))


def alarm_matches(existing: Mapping[str, Any], request: Mapping[str, Any]) -> bool:
    """Whether a ``DescribeAlarms`` entry already has the settings of ``request``, so that
    ``PutMetricAlarm`` is only called when something (``idle.after``, the variants) changed."""
    for key in _COMPARED:
        if key not in request:
            continue
        if key == "Threshold":
            if float(existing.get(key, float("nan"))) != float(request[key]):
                return False
        elif existing.get(key) != request[key]:
            return False
    watched = _watched(existing)
    return watched is not None and watched == _watched(request)


def alarm_variants(alarm: Mapping[str, Any]) -> list[str]:
    """The ``VariantName`` of every metric an alarm (request or DescribeAlarms entry) reads."""
    metrics = [
        (m.get("MetricStat") or {}).get("Metric") or {} for m in alarm.get("Metrics") or []
    ] or [alarm]
    return sorted(
        d["Value"]
        for metric in metrics
        for d in metric.get("Dimensions") or []
        if d.get("Name") == "VariantName"
    )


def metric_queries(
    prefix: str, endpoint_name: str, variants: Sequence[str]
) -> list[dict[str, Any]]:
    """``MetricDataQueries`` entries: ``Sum(Invocations)`` per 60 s of each variant, with ids
    ``<prefix>_<n>``. ``prefix`` must start with a lowercase letter (CloudWatch's rule for
    query ids). The caller adds the series up (`last_invocation` over all of them): that costs
    one query per variant, where a ``SUM`` expression would cost one more."""
    return [
        {
            "Id": f"{prefix}_{index}",
            "MetricStat": {
                "Metric": _metric(endpoint_name, variant),
                "Period": int(PERIOD.total_seconds()),
                "Stat": STATISTIC,
            },
            "ReturnData": True,
        }
        for index, variant in enumerate(_variants(variants))
    ]


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
