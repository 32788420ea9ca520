"""Pure idle detection: the alarm request, matching an existing alarm, metric queries, the last
invocation of a series and the grace period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from sagemeter.api.models import IDLE_AFTER_MAX_SECONDS
from sagemeter.core.endpoint.ownership import Owner
from sagemeter.core.idle import (
    MAX_EVALUATION_PERIODS,
    alarm_matches,
    alarm_variants,
    build_idle_alarm_request,
    evaluation_periods,
    idle_armed,
    last_invocation,
    metric_queries,
)
from sagemeter.runtime.settings import Settings

NAME = "team-a-falcon-1a2b3c"
TAGS = Owner("team-a", "falcon", "uid-1").tags()
ONE = ["AllTraffic"]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def described(request: dict[str, Any]) -> dict[str, Any]:
    """What DescribeAlarms returns for an alarm put with ``request``: no tags, a state, ARNs,
    and the dimensions in whatever order CloudWatch keeps them."""
    entry = {k: v for k, v in request.items() if k != "Tags"}
    entry.update(
        AlarmArn=f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{request['AlarmName']}",
        StateValue="INSUFFICIENT_DATA",
        OKActions=[],
        AlarmActions=[],
        InsufficientDataActions=[],
        Threshold=int(request["Threshold"]),
    )
    if "Dimensions" in request:
        entry["Dimensions"] = list(reversed(request["Dimensions"]))
    else:  # CloudWatch keeps the metrics; ids and order as put, dimensions in its own order
        entry["Metrics"] = [
            {
                **query,
                "MetricStat": {
                    **query["MetricStat"],
                    "Metric": {
                        **query["MetricStat"]["Metric"],
                        "Dimensions": list(reversed(query["MetricStat"]["Metric"]["Dimensions"])),
                    },
                },
            }
            if "MetricStat" in query
            else dict(query)
            for query in request["Metrics"]
        ]
    return entry


def test_request_for_fifteen_minutes() -> None:
    request = build_idle_alarm_request(NAME, timedelta(minutes=15), TAGS, ONE)
    assert request["AlarmName"] == f"sagemeter-{NAME}-idle"
    assert request["Namespace"] == "AWS/SageMaker"
    assert request["MetricName"] == "Invocations"
    assert request["Dimensions"] == [
        {"Name": "EndpointName", "Value": NAME},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]
    assert request["Statistic"] == "Sum"
    assert request["Period"] == 60
    assert request["EvaluationPeriods"] == 15
    assert request["DatapointsToAlarm"] == 15
    assert request["Threshold"] == 1.0
    assert request["ComparisonOperator"] == "LessThanThreshold"
    assert request["TreatMissingData"] == "breaching"
    assert request["ActionsEnabled"] is False
    assert NAME in request["AlarmDescription"]
    assert "managed by sagemeter" in request["AlarmDescription"]
    assert {"Key": "sagemeter.io/uid", "Value": "uid-1"} in request["Tags"]
    assert request["Tags"] == sorted(request["Tags"], key=lambda tag: tag["Key"])
    # Nothing that would need an SNS topic or a second metric.
    assert not {"AlarmActions", "OKActions", "Metrics", "ExtendedStatistic"} & set(request)


def test_request_variant() -> None:
    request = build_idle_alarm_request(NAME, timedelta(minutes=5), {}, ["primary"])
    assert {"Name": "VariantName", "Value": "primary"} in request["Dimensions"]
    assert "Metrics" not in request
    assert request["Tags"] == []
    assert alarm_variants(request) == ["primary"]


def test_several_variants_are_one_metric_math_alarm() -> None:
    request = build_idle_alarm_request(NAME, timedelta(minutes=15), TAGS, ["green", "blue"])
    # None of the single-metric parameters: CloudWatch refuses them beside Metrics.
    assert not {"Namespace", "MetricName", "Dimensions", "Statistic", "Period"} & set(request)
    metrics = request["Metrics"]
    assert [m["Id"] for m in metrics] == ["m0", "m1", "invocations"]
    reads = [m for m in metrics if "MetricStat" in m]
    assert [m["MetricStat"]["Metric"]["Dimensions"] for m in reads] == [
        [{"Name": "EndpointName", "Value": NAME}, {"Name": "VariantName", "Value": "blue"}],
        [{"Name": "EndpointName", "Value": NAME}, {"Name": "VariantName", "Value": "green"}],
    ]
    for m in reads:
        assert m["MetricStat"]["Metric"]["Namespace"] == "AWS/SageMaker"
        assert m["MetricStat"]["Metric"]["MetricName"] == "Invocations"
        assert (m["MetricStat"]["Period"], m["MetricStat"]["Stat"]) == (60, "Sum")
    # Exactly one entry returns data: the sum the alarm watches (and it has no Period).
    assert [m["Id"] for m in metrics if m["ReturnData"]] == ["invocations"]
    assert metrics[-1]["Expression"] == "SUM([m0, m1])"
    assert "Period" not in metrics[-1]
    assert request["EvaluationPeriods"] == request["DatapointsToAlarm"] == 15
    assert (request["Threshold"], request["ComparisonOperator"]) == (1.0, "LessThanThreshold")
    assert request["TreatMissingData"] == "breaching"
    assert alarm_variants(request) == ["blue", "green"]


def test_variant_order_and_repeats_do_not_matter() -> None:
    one = build_idle_alarm_request(NAME, timedelta(minutes=15), TAGS, ["b", "a", "c"])
    other = build_idle_alarm_request(NAME, timedelta(minutes=15), TAGS, ["c", "a", "b", "a"])
    assert one == other
    assert alarm_matches(described(one), other)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (["AllTraffic"], ["primary"]),  # adopted: the alarm follows the real variant
        (["primary"], ["primary", "canary"]),  # an update added a variant
        (["blue", "green"], ["green"]),  # and removed one
        (["blue", "green"], ["blue", "red"]),
    ],
)
def test_other_variants_do_not_match(before: list[str], after: list[str]) -> None:
    old = build_idle_alarm_request(NAME, timedelta(minutes=15), TAGS, before)
    new = build_idle_alarm_request(NAME, timedelta(minutes=15), TAGS, after)
    assert not alarm_matches(described(old), new)


@pytest.mark.parametrize(
    "change",
    [
        lambda ms: ms[-1].update(Expression="m0 + m1"),  # not the sum of every variant
        lambda ms: ms[-1].update(Expression="SUM([m0])"),
        lambda ms: ms[0].update(ReturnData=True),
        lambda ms: ms[0]["MetricStat"].update(Stat="Average"),
        lambda ms: ms[1]["MetricStat"].update(Period=300),
        lambda ms: ms.pop(),
    ],
)
def test_metric_math_alarm_changed_by_hand_does_not_match(change: Any) -> None:
    request = build_idle_alarm_request(NAME, timedelta(minutes=15), TAGS, ["a", "b"])
    existing = described(request)
    change(existing["Metrics"])
    assert not alarm_matches(existing, request)


@pytest.mark.parametrize("variants", [[], [f"v{i}" for i in range(11)]])
def test_no_alarm_without_variants_or_beyond_cloudwatch_limit(variants: list[str]) -> None:
    # No variant: nothing to watch (an AllTraffic guess would breach forever). Eleven: beyond
    # both CloudWatch's 10 metrics per alarm and SageMaker's 10 variants per config.
    with pytest.raises(ValueError):
        build_idle_alarm_request(NAME, timedelta(minutes=15), TAGS, variants)
    assert build_idle_alarm_request(NAME, timedelta(minutes=1), {}, variants[:10] or ["x"])


@pytest.mark.parametrize(
    ("after", "periods"),
    [
        (timedelta(minutes=15), 15),
        (timedelta(seconds=90), 2),  # rounded up: never alarm before `after` has passed
        (timedelta(seconds=60), 1),
        (timedelta(seconds=61), 2),
        (timedelta(seconds=1), 1),
        (timedelta(0), 1),  # CloudWatch needs at least one period
        (timedelta(hours=24), 1440),
        (timedelta(days=2), MAX_EVALUATION_PERIODS),  # clamped to CloudWatch's one day
        (timedelta(weeks=3), MAX_EVALUATION_PERIODS),
    ],
)
def test_evaluation_periods(after: timedelta, periods: int) -> None:
    assert evaluation_periods(after) == periods
    request = build_idle_alarm_request(NAME, after, TAGS, ONE)
    assert request["EvaluationPeriods"] == request["DatapointsToAlarm"] == periods


def test_clamp_is_the_longest_idle_after_admission_takes() -> None:
    # Admission refuses idle.after above the alarm's limit, so the clamp never shortens an
    # object admitted under the rule.
    assert MAX_EVALUATION_PERIODS * 60 == IDLE_AFTER_MAX_SECONDS == 86_400


@pytest.mark.parametrize(("after", "valid"), [("1d", True), ("23h60m", True), ("1d1m", False)])
def test_discovery_idle_after_is_held_to_the_admission_limit(after: str, valid: bool) -> None:
    """Objects made by tag discovery carry SAGEMETER_ADOPT_IDLE_AFTER as spec.idle.after."""
    if valid:
        assert Settings(adopt_idle_after=after).adopt_idle_after == after
    else:
        with pytest.raises(ValidationError, match="adopt_idle_after must be at most 1d"):
            Settings(adopt_idle_after=after)


def test_alarm_matches_its_own_description() -> None:
    request = build_idle_alarm_request(NAME, timedelta(minutes=15), TAGS, ONE)
    assert alarm_matches(described(request), request)


def test_alarm_does_not_match_other_after() -> None:
    old = build_idle_alarm_request(NAME, timedelta(minutes=15), TAGS, ONE)
    new = build_idle_alarm_request(NAME, timedelta(minutes=30), TAGS, ONE)
    assert not alarm_matches(described(old), new)


def test_tags_do_not_matter() -> None:
    # PutMetricAlarm ignores tags on an existing alarm: re-putting for tags would loop.
    old = build_idle_alarm_request(NAME, timedelta(minutes=15), TAGS, ONE)
    new = build_idle_alarm_request(NAME, timedelta(minutes=15), {"x": "y"}, ONE)
    assert alarm_matches(described(old), new)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Threshold", 2.0),
        ("ComparisonOperator", "LessThanOrEqualToThreshold"),
        ("TreatMissingData", "notBreaching"),
        ("ActionsEnabled", True),
        ("Statistic", "Average"),
        ("Period", 300),
        ("DatapointsToAlarm", 3),
        ("Dimensions", [{"Name": "EndpointName", "Value": NAME}]),
    ],
)
def test_alarm_changed_by_hand_does_not_match(key: str, value: Any) -> None:
    request = build_idle_alarm_request(NAME, timedelta(minutes=15), TAGS, ONE)
    existing = described(request)
    existing[key] = value
    assert not alarm_matches(existing, request)


def test_alarm_without_settings_does_not_match() -> None:
    request = build_idle_alarm_request(NAME, timedelta(minutes=15), TAGS, ONE)
    assert not alarm_matches({"AlarmName": request["AlarmName"]}, request)


def test_metric_queries() -> None:
    assert metric_queries("q0", NAME, ["green", "blue"]) == [
        {
            "Id": f"q0_{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/SageMaker",
                    "MetricName": "Invocations",
                    "Dimensions": [
                        {"Name": "EndpointName", "Value": NAME},
                        {"Name": "VariantName", "Value": variant},
                    ],
                },
                "Period": 60,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }
        for index, variant in enumerate(["blue", "green"])
    ]


def test_last_invocation_skips_zeros() -> None:
    stamps = [T0 + timedelta(minutes=m) for m in (5, 4, 3, 2)]  # descending, as requested
    assert last_invocation(stamps, [0.0, 0.0, 7.0, 1.0]) == T0 + timedelta(minutes=3)


def test_last_invocation_in_any_order() -> None:
    stamps = [T0 + timedelta(minutes=m) for m in (1, 9, 4)]
    assert last_invocation(stamps, [3.0, 2.0, 0.0]) == T0 + timedelta(minutes=9)


@pytest.mark.parametrize("values", [[], [0.0, 0.0]])
def test_no_invocation(values: list[float]) -> None:
    stamps = [T0 + timedelta(minutes=m) for m in range(len(values))]
    assert last_invocation(stamps, values) is None


def test_last_invocation_needs_pairs() -> None:
    with pytest.raises(ValueError):
        last_invocation([T0], [])


@pytest.mark.parametrize(
    ("elapsed", "armed"),
    [
        (timedelta(0), False),
        (timedelta(minutes=9, seconds=59), False),
        (timedelta(minutes=10), True),  # the grace period's end counts as passed
        (timedelta(hours=5), True),
        (-timedelta(minutes=1), False),  # clock skew: InService "in the future"
    ],
)
def test_idle_armed(elapsed: timedelta, armed: bool) -> None:
    assert idle_armed(T0, timedelta(minutes=10), T0 + elapsed) is armed


def test_no_grace_period_arms_at_once() -> None:
    assert idle_armed(T0, timedelta(0), T0)
