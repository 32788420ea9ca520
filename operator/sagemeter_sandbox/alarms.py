"""CloudWatch metric alarms in the local AWS: what PutMetricAlarm refuses, and how an alarm is
evaluated when a test asks.

moto 5.2.5 stores any ``Metrics`` array and never evaluates an alarm. This module adds:

* **PutMetricAlarm with ``Metrics``** is refused with ``ValidationError`` (HTTP 400) when

  - not exactly one entry returns data: "Exactly one element of the metrics list should return
    data." (CloudWatch API reference, MetricDataQuery ``ReturnData``: "When used in
    PutMetricAlarm, specify true for the one expression result to use as the alarm. For all
    other metrics and expressions in the same PutMetricAlarm operation, specify ReturnData as
    False"; an omitted ``ReturnData`` is true. The wording is CloudWatch's, as
    hashicorp/terraform-provider-aws#29894 quotes it);
  - it also names ``Namespace``, ``MetricName``, ``Dimensions``, ``Period``, ``Unit``,
    ``Statistic`` or ``ExtendedStatistic`` (API reference, PutMetricAlarm ``Metrics``: "If you
    use the Metrics parameter, you cannot include [them] in the same operation"; the wording
    of this refusal is ours, no source quotes CloudWatch's);
  - its ``MetricStat`` entries read more than 10 metrics ("Alarms based on metric math
    expressions can reference a maximum of 10 metrics. This is a hard limit", CloudWatch User
    Guide, alarm-limits.html; wording ours).

* **Evaluation on request** (``evaluate``; ``POST /sagemeter-api/alarms/<region>/<name>/evaluate``
  with ``{"accountId": ...}``): the alarm's state as CloudWatch's rules give it now, from the
  datapoints the local CloudWatch holds, set with SetAlarmState's path (so the ``CloudWatch
  Alarm State Change`` event follows, as ``aws_events`` emits it). The rules ("Evaluating an
  alarm" and "Configuring how CloudWatch alarms treat missing data", CloudWatch User Guide,
  AlarmThatSendsEmail.html): the last ``EvaluationPeriods`` periods are looked at; a period is
  breaching when its value compares with ``Threshold`` by ``ComparisonOperator``; a missing
  period is breaching (``breaching``), not breaching (``notBreaching``), or skipped
  (``missing``, ``ignore``); ``DatapointsToAlarm`` breaching periods make ``ALARM``, else
  ``OK``; no period with a verdict leaves ``missing`` in ``INSUFFICIENT_DATA`` and ``ignore``
  in its state. A single-metric alarm reads its ``Statistic`` of the metric per period; a
  metric-math alarm may return ``SUM([id, ...])`` of its ``MetricStat`` entries or one of
  them: per period, the sum of the series that have a value (the metric-math reference's SUM
  of an array of series), missing when none has. Anything else cannot be evaluated here (HTTP
  400 saying so). Simplified: the window ends with the current, unfinished period (CloudWatch
  may lag a period behind), and nothing evaluates an alarm by itself: CloudWatch would every
  period, the local AWS only when a test asks, so tests that force states with SetAlarmState
  keep them.

SageMaker's side (``Invocations`` published per variant on every InvokeEndpoint) is in
``runtime``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from moto.cloudwatch.exceptions import ValidationError
from moto.cloudwatch.models import Alarm, CloudWatchBackend, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from moto.core.utils import utcnow

from sagemeter_sandbox.endpoint_states import DEFAULT_ACCOUNT
from sagemeter_sandbox.motopatches import original

__all__ = ["MAX_ALARM_METRICS", "Evaluation", "control", "evaluate", "response_patches"]

MAX_ALARM_METRICS = 10
SINGLE_METRIC_PARAMETERS = (
    "Namespace",
    "MetricName",
    "Dimensions",
    "Period",
    "Unit",
    "Statistic",
    "ExtendedStatistic",
)


# --------------------------------------------------------------------------- PutMetricAlarm


def check_metrics(params: Mapping[str, Any]) -> None:
    """Raises CloudWatch's ``ValidationError`` for a ``Metrics`` array PutMetricAlarm refuses."""
    metrics = params.get("Metrics") or []
    if not metrics:
        return
    mixed = [name for name in SINGLE_METRIC_PARAMETERS if params.get(name) not in (None, [], "")]
    if mixed:
        raise ValidationError(
            f"The parameters {', '.join(mixed)} cannot be used together with Metrics."
        )
    returning = [m for m in metrics if _returns_data(m)]
    if len(returning) != 1:
        raise ValidationError("Exactly one element of the metrics list should return data.")
    read = [m for m in metrics if m.get("MetricStat")]
    if len(read) > MAX_ALARM_METRICS:
        raise ValidationError(
            f"An alarm based on a metric math expression can reference at most"
            f" {MAX_ALARM_METRICS} metrics; this one references {len(read)}."
        )


def _returns_data(query: Mapping[str, Any]) -> bool:
    value = query.get("ReturnData", True)
    return value is True or str(value).lower() == "true"


def _put_metric_alarm(self: CloudWatchResponse) -> ActionResult:
    check_metrics(self._get_params())
    result: ActionResult = original(CloudWatchResponse, "put_metric_alarm")(self)
    return result


def response_patches() -> list[tuple[type, str, Any]]:
    """``(class, attribute, value)`` triples for ``localaws.install``."""
    return [(CloudWatchResponse, "put_metric_alarm", _put_metric_alarm)]


# --------------------------------------------------------------------------- evaluation

_COMPARE = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


class CannotEvaluate(ValueError):
    """An alarm this module does not evaluate (anomaly bands, other expressions, ...)."""


class Evaluation:
    """The state an evaluation arrives at, and the values it looked at (None: missing)."""

    def __init__(self, state: str, reason: str, values: list[float | None]) -> None:
        self.state = state
        self.reason = reason
        self.values = values

    def view(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "values": self.values}


def _series(
    backend: CloudWatchBackend,
    metric_stats: Mapping[str, Mapping[str, Any]],
    start: datetime,
    end: datetime,
) -> dict[str, dict[datetime, float]]:
    """``{query id: {period start: value}}`` for ``MetricStat`` queries, from moto's store."""
    queries = [{"Id": query_id, "MetricStat": stat} for query_id, stat in metric_stats.items()]
    found = backend.get_metric_data(queries, start, end, "TimestampAscending")
    return {
        item["id"]: dict(zip(item["timestamps"], item["values"], strict=True)) for item in found
    }


def _alarm_queries(alarm: Alarm) -> tuple[dict[str, dict[str, Any]], list[str], int]:
    """The alarm's MetricStat queries by id, the ids its returned series adds up, and its
    period."""
    queries = alarm.metric_data_queries
    if not queries:
        if not alarm.metric_name or alarm.statistic is None:
            raise CannotEvaluate(
                "only alarms on a Statistic of one metric, or on SUM, are evaluated"
            )
        stat = {
            "Metric": {
                "Namespace": alarm.namespace,
                "MetricName": alarm.metric_name,
                "Dimensions": [{"Name": d.name, "Value": d.value} for d in alarm.dimensions],
            },
            "Period": int(alarm.period),
            "Stat": alarm.statistic,
        }
        return {"m": stat}, ["m"], int(alarm.period)
    stats: dict[str, dict[str, Any]] = {}
    for query in queries:
        if query.metric_stat is not None:
            metric = query.metric_stat.metric
            stats[query.id] = {
                "Metric": {
                    "Namespace": metric.namespace,
                    "MetricName": metric.metric_name,
                    "Dimensions": [{"Name": d.name, "Value": d.value} for d in metric.dimensions],
                },
                "Period": int(query.metric_stat.period),
                "Stat": query.metric_stat.stat,
            }
    (returned,) = [q for q in queries if _returns_data({"ReturnData": q.return_data})]
    if returned.metric_stat is not None:
        ids = [returned.id]
    else:
        expression = "".join(str(returned.expression or "").split())
        inner = expression.removeprefix("SUM([").removesuffix("])")
        ids = inner.split(",") if inner != expression else []
        if not ids or any(i not in stats for i in ids):
            raise CannotEvaluate(f"only SUM([ids]) expressions are evaluated, not {expression!r}")
    periods = {int(stats[i]["Period"]) for i in ids}
    if len(periods) != 1:
        raise CannotEvaluate("the metrics of the expression have different periods")
    return {i: stats[i] for i in ids}, ids, periods.pop()


def evaluate(backend: CloudWatchBackend, alarm: Alarm, now: datetime) -> Evaluation:
    """The state CloudWatch's rules give ``alarm`` at ``now`` (naive UTC, as moto keeps
    datapoints' times; module docstring)."""
    stats, ids, period = _alarm_queries(alarm)
    step = timedelta(seconds=period)
    count = int(alarm.evaluation_periods)
    epoch = datetime(1970, 1, 1)  # moto keeps datapoints' times as naive UTC
    current = epoch + step * ((now - epoch) // step)
    starts = [current - step * back for back in reversed(range(count))]
    series = _series(backend, stats, starts[0], current + step)
    values: list[float | None] = []
    for start in starts:
        present = [float(points[start]) for i in ids if start in (points := series.get(i, {}))]
        values.append(math.fsum(present) if present else None)
    compare = _COMPARE.get(alarm.comparison_operator)
    if compare is None:
        raise CannotEvaluate(f"comparison {alarm.comparison_operator} is not evaluated here")
    threshold = float(alarm.threshold)
    missing = alarm.treat_missing_data or "missing"
    verdicts: list[bool] = []
    for value in values:
        if value is not None:
            verdicts.append(bool(compare(value, threshold)))
        elif missing == "breaching":
            verdicts.append(True)
        elif missing == "notBreaching":
            verdicts.append(False)
    needed = int(alarm.datapoints_to_alarm or count)
    if not verdicts:
        state = alarm.state_value if missing == "ignore" else "INSUFFICIENT_DATA"
        return Evaluation(state, "no datapoints in the evaluation range", values)
    breaching = sum(verdicts)
    state = "ALARM" if breaching >= needed else "OK"
    reason = (
        f"Threshold Crossed: {breaching} out of the last {count} datapoints were breaching"
        f" ({alarm.comparison_operator} {threshold}; local AWS evaluation)"
    )
    return Evaluation(state, reason, values)


def evaluate_now(backend: CloudWatchBackend, name: str, now: datetime | None = None) -> Evaluation:
    """Evaluates alarm ``name`` and sets the state it arrives at (``KeyError``: no alarm)."""
    alarm = backend.alarms[name]
    result = evaluate(backend, alarm, now or utcnow())
    if result.state != alarm.state_value:
        backend.set_alarm_state(name, result.reason, "{}", result.state)
    return result


def control(method: str, path: list[str], body: Any) -> tuple[int, Any]:
    """``/sagemeter-api/alarms/<region>/<name>/evaluate``: ``path`` is what follows ``alarms``."""
    if len(path) != 3 or path[2] != "evaluate" or method != "POST":
        return 404, {"error": "use POST /sagemeter-api/alarms/<region>/<name>/evaluate"}
    region, name = path[0], path[1]
    body = body if isinstance(body, dict) else {}
    account = str(body.get("accountId") or DEFAULT_ACCOUNT)
    try:
        backend = cloudwatch_backends[account][region]
        result = evaluate_now(backend, name)
    except KeyError:
        return 404, {"error": f"no alarm {name} in {account}/{region}"}
    except CannotEvaluate as exc:
        return 400, {"error": str(exc)}
    return 200, result.view()
