"""The CloudWatch gateway: the idle alarms and the ``Invocations`` metric, in batches.

Owns the shape of the CloudWatch calls sagemeter makes: chunking to the API's limits
(``DescribeAlarms`` and ``DeleteAlarms`` take at most 100 alarm names, ``GetMetricData`` at
most 500 queries), following ``NextToken``, and mapping the caller's keys to query ids. Request
bodies and the reading of metric series come from ``core.idle``; what an alarm state means is
decided by the reconciler. Methods are synchronous and raise ``AwsError`` for anything they do
not handle themselves; every call goes through ``checked_call`` so ``CALLS`` counts it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.aws.gateway import Gateway
from sagemeter.core.idle import last_invocation, metric_queries

__all__ = ["MAX_ALARM_NAMES", "MAX_METRIC_QUERIES", "CloudWatchGateway"]

MAX_ALARM_NAMES: Final = 100  # AlarmNames of DescribeAlarms / DeleteAlarms; MaxRecords too
MAX_METRIC_QUERIES: Final = 500  # MetricDataQueries of one GetMetricData

_T = TypeVar("_T")


def _chunks(items: Sequence[_T], size: int) -> Iterator[list[_T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))  # keeps order, so batches are stable between calls


class CloudWatchGateway(Gateway):
    """CloudWatch in one region. ``client`` defaults to the process-wide shared client."""

    SERVICE = "cloudwatch"

    # ------------------------------------------------------------------ alarms

    def put_alarm(self, request: Mapping[str, Any]) -> None:
        """Creates or replaces a metric alarm (``PutMetricAlarm`` is an upsert by name; it
        ignores ``Tags`` when the alarm exists already)."""
        self._call("PutMetricAlarm", **request)

    def describe_alarms(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The metric alarms among ``names`` that exist, by name, in ``ceil(n / 100)`` calls.

        Each value is CloudWatch's entry as is: ``StateValue``, ``StateUpdatedTimestamp``,
        ``EvaluationPeriods``, ``Period``, ``Threshold``, ``Dimensions``, ...
        """
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(_unique(names), MAX_ALARM_NAMES):
            for page in self._pages("DescribeAlarms", AlarmNames=chunk, MaxRecords=MAX_ALARM_NAMES):
                for alarm in page.get("MetricAlarms", []):
                    found[alarm["AlarmName"]] = alarm
        return found

    def delete_alarms(self, names: Sequence[str]) -> None:
        """Deletes the alarms, 100 per call; names of alarms that do not exist are fine."""
        for chunk in _chunks(_unique(names), MAX_ALARM_NAMES):
            try:
                self._call("DeleteAlarms", AlarmNames=chunk)
            except AwsError as exc:
                if exc.kind is not ErrorKind.NOT_FOUND:
                    raise
                # CloudWatch deletes nothing of a batch it refuses; if a missing name was the
                # reason, delete what is still there (a second refusal is a real error).
                existing = sorted(self.describe_alarms(chunk))
                if existing:
                    self._call("DeleteAlarms", AlarmNames=existing)

    def alarm_tags(self, arn: str) -> dict[str, str]:
        """The tags of the alarm ``arn`` (``DescribeAlarms`` does not return them)."""
        result = self._call("ListTagsForResource", ResourceARN=arn)
        return {tag["Key"]: tag.get("Value", "") for tag in result.get("Tags", [])}

    # ------------------------------------------------------------------ metrics

    def last_invocations(
        self,
        queries: Mapping[str, tuple[str, Sequence[str]]],
        start: datetime,
        end: datetime,
    ) -> dict[str, datetime | None]:
        """The latest minute with invocations in [start, end), per key, over every variant.

        ``queries`` maps the caller's keys to ``(endpoint_name, variants)``; every key is in the
        result, None when the window shows no invocation on any variant. An endpoint's queries
        (one per variant) go in one call, and calls hold at most 500 queries, so this costs
        ``ceil(queries / 500)`` calls (a little more when endpoints do not pack evenly) as
        long as no response is cut short (CloudWatch returns at most 100,800 datapoints per
        call, i.e. 500 queries of up to 201 minutes; longer windows page with ``NextToken``).
        """
        result: dict[str, datetime | None] = {}
        for chunk in _packed(queries, MAX_METRIC_QUERIES):
            # Query ids must match [a-z][a-zA-Z0-9_]*; endpoint names may contain dashes.
            owner: dict[str, str] = {}
            request: list[dict[str, Any]] = []
            for index, key in enumerate(chunk):
                endpoint_name, variants = queries[key]
                for query in metric_queries(f"q{index}", endpoint_name, variants):
                    owner[query["Id"]] = key
                    request.append(query)
            series: dict[str, tuple[list[datetime], list[float]]] = {key: ([], []) for key in chunk}
            for page in self._pages(
                "GetMetricData",
                MetricDataQueries=request,
                StartTime=start,
                EndTime=end,
                ScanBy="TimestampDescending",
            ):
                # A query can continue on the next page; collect before reading. The series of
                # an endpoint's variants are read together: a busy minute on any is busy.
                for item in page.get("MetricDataResults", []):
                    found = owner.get(item.get("Id", ""))
                    if found is None:
                        continue
                    timestamps, values = series[found]
                    timestamps.extend(item.get("Timestamps", []))
                    values.extend(float(v) for v in item.get("Values", []))
            for key in chunk:
                result[key] = last_invocation(*series[key])
        return result


def _packed(queries: Mapping[str, tuple[str, Sequence[str]]], size: int) -> Iterator[list[str]]:
    """Keys in order, grouped so that each group's variants add up to at most ``size``."""
    group: list[str] = []
    used = 0
    for key, (_, variants) in queries.items():
        count = len(set(variants))
        if group and used + count > size:
            yield group
            group, used = [], 0
        group.append(key)
        used += count
    if group:
        yield group
