"""The events the local AWS emits, shaped as AWS documents them: pure builders, no I/O.

Owns the EventBridge envelope (``version``, ``id``, ``detail-type``, ``source``, ``account``,
``time``, ``region``, ``resources``, ``detail``) and the ``detail`` of two events, built from
moto's objects. It does not decide *when* an event is due (``sources``) nor deliver it (``bus``).

``CloudWatch Alarm State Change`` (source ``aws.cloudwatch``, ``resources: [alarmArn]``), from
the CloudWatch User Guide, "Alarm events and EventBridge"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html;
awsdocs/amazon-cloudwatch-user-guide ``doc_source/cloudwatch-and-eventbridge.md``)::

    detail: {alarmName,
             state:         {value, reason, reasonData?, timestamp: "2019-10-02T17:04:40.989+0000"},
             previousState: {value, reason, reasonData?, timestamp},
             configuration: {description?, metrics: [{id, metricStat: {metric: {dimensions: {},
                             name, namespace}, period, stat}, returnData}]}}

A single-metric alarm's one metric gets a stable UUID ``id`` (as in the guide's example); a metric
math alarm lists its queries (``id``, ``expression``/``label`` or ``metricStat``,
``returnData``); a composite alarm's configuration is ``{alarmRule, description?}``.
``reasonData`` is left out when the state has none (the guide's example of a previous state
"Unchecked: Initial alarm creation" has none).

``SageMaker Endpoint State Change`` (source ``aws.sagemaker``, ``resources: [endpointArn]``),
from the SageMaker Developer Guide, "Events that Amazon SageMaker sends to Amazon EventBridge",
section "Endpoint state change"
(https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html;
awsdocs/amazon-sagemaker-developer-guide ``doc_source/automating-sagemaker-with-eventbridge.md``)::

    detail: {EndpointName, EndpointArn, EndpointConfigName,
             ProductionVariants: [{DesiredWeight: 1.0, DesiredInstanceCount: 1.0}],
             EndpointStatus: "IN_SERVICE", FailureReason?,
             CreationTime: 1592411992203.0, LastModifiedTime: 1592411994287.0, Tags: {}}

``EndpointStatus`` is DescribeEndpoint's status in upper snake case (``InService`` ->
``IN_SERVICE``, ``UpdateRollbackFailed`` -> ``UPDATE_ROLLBACK_FAILED``), as the guide and AWS's
own sample (aws-samples/amazon-sagemaker-ab-testing-pipeline: ``["IN_SERVICE", "DELETING"]``)
use it. Times are epoch milliseconds as floats, ``Tags`` a map. ``FailureReason`` appears only
when DescribeEndpoint shows one (the guide, for training and transform jobs: "If the value of
... is Failed, the event contains the FailureReason field"); ``ProductionVariants`` are those
DescribeEndpoint shows, else the ones being deployed, with only the two documented fields.

The envelope's ``time`` is EventBridge's ISO 8601 second (``2019-10-02T17:04:40Z``); the
SageMaker guide's example shows ``"1583831889050"`` there, which no EventBridge event carries.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "ALARM_CHANGE",
    "ENDPOINT_CHANGE",
    "AlarmState",
    "alarm_state_change",
    "endpoint_state_change",
    "envelope",
    "event_time",
    "upper_snake",
]

ALARM_CHANGE = ("aws.cloudwatch", "CloudWatch Alarm State Change")
ENDPOINT_CHANGE = ("aws.sagemaker", "SageMaker Endpoint State Change")
_WORD = re.compile(r"(?<!^)(?=[A-Z])")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(when: datetime) -> datetime:
    # moto keeps naive datetimes in UTC.
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def event_time(when: datetime) -> str:
    """EventBridge's ``time``: ``2019-10-02T17:04:40Z``."""
    return _utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def _alarm_timestamp(when: datetime) -> str:
    """CloudWatch's state timestamp: ``2019-10-02T17:04:40.989+0000``."""
    moment = _utc(when)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _epoch_millis(when: datetime) -> float:
    # Whole milliseconds, truncated as DescribeEndpoint truncates them.
    return float((_utc(when) - _EPOCH) // timedelta(milliseconds=1))


def envelope(
    source: str,
    detail_type: str,
    account: str,
    region: str,
    resources: Sequence[str],
    detail: Mapping[str, Any],
    when: datetime,
) -> dict[str, Any]:
    """A whole event as every EventBridge target receives it, with a fresh ``id``."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": event_time(when),
        "region": region,
        "resources": list(resources),
        "detail": dict(detail),
    }


# --------------------------------------------------------------------------- CloudWatch


@dataclass(frozen=True)
class AlarmState:
    """One of an alarm's states, as ``state``/``previousState`` show it."""

    value: str
    reason: str
    reason_data: str | None
    timestamp: datetime

    @classmethod
    def of(cls, alarm: Any) -> AlarmState:
        return cls(
            alarm.state_value,
            alarm.state_reason,
            alarm.state_reason_data or None,
            alarm.state_updated_timestamp,
        )

    def document(self) -> dict[str, Any]:
        doc = {
            "reason": self.reason,
            "reasonData": self.reason_data,
            "timestamp": _alarm_timestamp(self.timestamp),
            "value": self.value,
        }
        return {k: v for k, v in doc.items() if v is not None}


def _metric_stat(
    namespace: str, name: str, dimensions: Any, period: Any, stat: str | None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "metric": {
            "dimensions": {d.name: d.value for d in dimensions or []},
            "name": name,
            "namespace": namespace,
        },
        "period": int(period) if period is not None else None,
        "stat": stat,
    }
    return {k: v for k, v in doc.items() if v is not None}


def _query(query: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": query.id}
    if query.expression:
        doc["expression"] = query.expression
    if query.label:
        doc["label"] = query.label
    if query.metric_stat is not None:
        stat, metric = query.metric_stat, query.metric_stat.metric
        doc["metricStat"] = _metric_stat(
            metric.namespace, metric.metric_name, metric.dimensions, stat.period, stat.stat
        )
    doc["returnData"] = query.return_data is None or str(query.return_data).lower() == "true"
    return doc


def _configuration(alarm: Any) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if alarm.description:
        config["description"] = alarm.description
    if alarm.rule:  # a composite alarm
        config["alarmRule"] = alarm.rule
    elif alarm.metric_data_queries:
        config["metrics"] = [_query(q) for q in alarm.metric_data_queries]
    else:
        stat = _metric_stat(
            alarm.namespace,
            alarm.metric_name,
            alarm.dimensions,
            alarm.period,
            alarm.extended_statistic or alarm.statistic,
        )
        metric_id = str(uuid.uuid5(uuid.NAMESPACE_URL, alarm.alarm_arn))
        config["metrics"] = [{"id": metric_id, "metricStat": stat, "returnData": True}]
    return config


def alarm_state_change(
    alarm: Any, previous: AlarmState, account: str, region: str
) -> dict[str, Any]:
    """The event for ``alarm`` (moto's, already in its new state) having left ``previous``."""
    state = AlarmState.of(alarm)
    detail = {
        "alarmName": alarm.name,
        "configuration": _configuration(alarm),
        "previousState": previous.document(),
        "state": state.document(),
    }
    return envelope(*ALARM_CHANGE, account, region, [alarm.alarm_arn], detail, state.timestamp)


# --------------------------------------------------------------------------- SageMaker


def upper_snake(status: str) -> str:
    """``InService`` -> ``IN_SERVICE``."""
    return _WORD.sub("_", status).upper()


def _variants(endpoint: Any, config: Any) -> list[dict[str, float]]:
    shown = endpoint.production_variants
    if shown:
        pairs = [(v.get("DesiredWeight"), v.get("DesiredInstanceCount")) for v in shown]
    elif config is not None:
        pairs = [
            (v.get("InitialVariantWeight", 1.0), v.get("InitialInstanceCount"))
            for v in config.production_variants
        ]
    else:
        pairs = []
    variants = []
    for weight, count in pairs:
        variant = {"DesiredWeight": weight, "DesiredInstanceCount": count}
        variants.append({k: float(v) for k, v in variant.items() if v is not None})
    return variants


def endpoint_state_change(endpoint: Any, config: Any, account: str, region: str) -> dict[str, Any]:
    """The event for moto's ``endpoint`` in its current status; ``config`` is the endpoint
    configuration it names (None if deleted meanwhile)."""
    detail: dict[str, Any] = {
        "EndpointName": endpoint.endpoint_name,
        "EndpointArn": endpoint.arn,
        "EndpointConfigName": endpoint.endpoint_config_name,
        "ProductionVariants": _variants(endpoint, config),
        "EndpointStatus": upper_snake(endpoint.endpoint_status),
        "CreationTime": _epoch_millis(endpoint.creation_time),
        "LastModifiedTime": _epoch_millis(endpoint.last_modified_time),
        "Tags": {tag["Key"]: tag["Value"] for tag in endpoint.tags or []},
    }
    if endpoint.failure_reason:
        detail["FailureReason"] = endpoint.failure_reason
    return envelope(
        *ENDPOINT_CHANGE, account, region, [endpoint.arn], detail, endpoint.last_modified_time
    )
