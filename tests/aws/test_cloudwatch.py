"""CloudWatchGateway and IdleMonitor against the local AWS: idle alarms (put, describe, delete,
forced states), last invocations from ``Invocations`` datapoints, and the batch sizes that keep
idle checks within the call budget (counted with ``CALLS``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sagemeter.aws.calls import CALLS
from sagemeter.aws.cloudwatch import CloudWatchGateway
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.core.endpoint.naming import alarm_name
from sagemeter.core.endpoint.ownership import Owner
from sagemeter.core.idle import alarm_matches, build_idle_alarm_request
from sagemeter.idle.monitor import IdleMonitor, IdleSignal, metric_window

from .conftest import REGION, client

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("aws_env")]

TAGS = Owner("team-a", "falcon", "uid-1").tags()
ONE = ["AllTraffic"]  # the variant sagemeter's own endpoint configs have
NEW_ALARM_STATES = {"INSUFFICIENT_DATA", "OK"}


@pytest.fixture
def gateway() -> CloudWatchGateway:
    return CloudWatchGateway(REGION)


def force_alarm_state(name: str, state: str) -> None:
    """What CloudWatch's evaluation would do to the alarm (the operator never sets a state)."""
    boto3.client("cloudwatch", region_name=REGION).set_alarm_state(
        AlarmName=name, StateValue=state, StateReason="test"
    )


def calls_since(before: dict[str, int]) -> dict[str, int]:
    """CloudWatch calls made since ``before`` (a ``CALLS.snapshot()``), by operation."""
    now = CALLS.snapshot()
    return {
        key.removeprefix("cloudwatch:"): count - before.get(key, 0)
        for key, count in now.items()
        if key.startswith("cloudwatch:") and count != before.get(key, 0)
    }


def endpoint(index: int) -> str:
    return f"ep-{index:04d}"


def put_alarms(gateway: CloudWatchGateway, count: int, after: timedelta) -> None:
    for index in range(count):
        gateway.put_alarm(build_idle_alarm_request(endpoint(index), after, TAGS, ONE))


def put_invocations(
    name: str, points: list[tuple[datetime, float]], variant: str = "AllTraffic"
) -> None:
    """What SageMaker publishes: ``AWS/SageMaker`` ``Invocations`` per endpoint and variant."""
    client("cloudwatch", REGION).put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": name},
                    {"Name": "VariantName", "Value": variant},
                ],
                "Timestamp": stamp,
                "Value": value,
                "Unit": "None",
            }
            for stamp, value in points
        ],
    )


def minute(dt: datetime) -> datetime:
    return dt.replace(second=0, microsecond=0)


# --------------------------------------------------------------------------- alarms


def test_put_describe_delete(gateway: CloudWatchGateway) -> None:
    request = build_idle_alarm_request("falcon", timedelta(minutes=15), TAGS, ONE)
    gateway.put_alarm(request)

    found = gateway.describe_alarms([alarm_name("falcon"), alarm_name("missing")])
    assert set(found) == {"sagemeter-falcon-idle"}
    alarm = found["sagemeter-falcon-idle"]
    assert alarm["EvaluationPeriods"] == 15
    assert alarm["Period"] == 60
    assert alarm["Threshold"] == 1.0
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["ActionsEnabled"] is False
    # CloudWatch starts a new alarm in INSUFFICIENT_DATA; moto 5.2.5 starts it in OK.
    assert alarm["StateValue"] in NEW_ALARM_STATES
    assert alarm_matches(alarm, request)
    assert not alarm_matches(
        alarm, build_idle_alarm_request("falcon", timedelta(minutes=30), TAGS, ONE)
    )

    tags = client("cloudwatch", REGION).list_tags_for_resource(ResourceARN=alarm["AlarmArn"])
    assert {"Key": "sagemeter.io/uid", "Value": "uid-1"} in tags["Tags"]

    gateway.delete_alarms(["sagemeter-falcon-idle", "sagemeter-never-there-idle"])
    assert gateway.describe_alarms(["sagemeter-falcon-idle"]) == {}
    gateway.delete_alarms(["sagemeter-falcon-idle"])  # already gone: fine
    gateway.delete_alarms([])  # nothing to do, no call
    assert calls_since({}).get("DeleteAlarms") == 2


def test_put_alarm_updates_in_place(gateway: CloudWatchGateway) -> None:
    gateway.put_alarm(build_idle_alarm_request("falcon", timedelta(minutes=15), TAGS, ONE))
    new = build_idle_alarm_request("falcon", timedelta(minutes=45), TAGS, ONE)
    gateway.put_alarm(new)
    alarm = gateway.describe_alarms([alarm_name("falcon")])[alarm_name("falcon")]
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 45
    assert alarm_matches(alarm, new)


class RefusingMissingNames:
    """A CloudWatch client whose DeleteAlarms refuses a batch naming a missing alarm, as the
    API documents it may ("no alarms are deleted"); moto ignores missing names instead."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.deletes: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def delete_alarms(self, AlarmNames: list[str]) -> dict[str, Any]:
        self.deletes.append(list(AlarmNames))
        existing = self._real.describe_alarms(AlarmNames=AlarmNames)["MetricAlarms"]
        if len(existing) < len(AlarmNames):
            raise ClientError(
                {
                    "Error": {"Code": "ResourceNotFound", "Message": "alarm not found"},
                    "ResponseMetadata": {"HTTPStatusCode": 404},
                },
                "DeleteAlarms",
            )
        return dict(self._real.delete_alarms(AlarmNames=AlarmNames))


def test_delete_retries_without_missing_names(gateway: CloudWatchGateway) -> None:
    put_alarms(gateway, 2, timedelta(minutes=15))
    proxy = RefusingMissingNames(client("cloudwatch", REGION))
    strict = CloudWatchGateway(REGION, client=proxy)
    names = [alarm_name(endpoint(0)), alarm_name("gone"), alarm_name(endpoint(1))]
    strict.delete_alarms(names)
    assert proxy.deletes == [names, sorted([alarm_name(endpoint(0)), alarm_name(endpoint(1))])]
    assert gateway.describe_alarms(names) == {}
    strict.delete_alarms([alarm_name("gone")])  # nothing left to delete: one refused call
    assert proxy.deletes[2:] == [[alarm_name("gone")]]


def test_invalid_request_is_terminal(gateway: CloudWatchGateway) -> None:
    # moto validates little of PutMetricAlarm; GetMetricData's time range it does check.
    start, end = metric_window(datetime.now(UTC))
    with pytest.raises(AwsError) as caught:
        gateway.last_invocations({"falcon": ("falcon", ONE)}, end, start)
    assert caught.value.kind is ErrorKind.TERMINAL
    assert caught.value.operation == "GetMetricData"


def test_250_alarms_in_3_describe_calls(gateway: CloudWatchGateway) -> None:
    put_alarms(gateway, 250, timedelta(minutes=15))
    names = [alarm_name(endpoint(index)) for index in range(250)]
    before = CALLS.snapshot()
    found = gateway.describe_alarms([*names, *names[:10]])  # duplicates cost nothing
    assert calls_since(before) == {"DescribeAlarms": 3}
    assert set(found) == set(names)

    before = CALLS.snapshot()
    gateway.delete_alarms(names)
    assert calls_since(before) == {"DeleteAlarms": 3}
    assert gateway.describe_alarms(names) == {}


# --------------------------------------------------------------------------- metrics


def test_last_invocations_600_endpoints_in_2_calls(gateway: CloudWatchGateway) -> None:
    now = minute(datetime.now(UTC))
    busy = {
        endpoint(3): now - timedelta(minutes=7),
        endpoint(250): now - timedelta(minutes=2),
        endpoint(599): now - timedelta(minutes=90),  # in the second GetMetricData call
    }
    for name, last in busy.items():
        # Older traffic, the latest busy minute, then idle minutes that publish zeros.
        put_invocations(
            name,
            [
                (last - timedelta(minutes=20), 4.0),
                (last, 3.0),
                (last + timedelta(minutes=1), 0.0),
            ],
        )
    # Same endpoint name, other variant: not the one queried.
    put_invocations(endpoint(10), [(now - timedelta(minutes=1), 5.0)], variant="Blue")

    queries = {endpoint(index): (endpoint(index), ONE) for index in range(600)}
    start, end = metric_window(datetime.now(UTC))
    before = CALLS.snapshot()
    found = gateway.last_invocations(queries, start, end)
    assert calls_since(before) == {"GetMetricData": 2}
    assert set(found) == set(queries)
    assert {name: found[name] for name in busy} == busy
    assert [name for name, last in found.items() if last is not None] == sorted(busy)


def test_last_invocations_add_up_every_variant(gateway: CloudWatchGateway) -> None:
    """An endpoint's variants are one endpoint: the latest busy minute of any of them, with
    an endpoint's queries never split across calls (300 endpoints of 2 variants and one of 3:
    603 queries, 2 calls, the second starting with the 251st endpoint)."""
    now = minute(datetime.now(UTC))
    two = ["blue", "green"]
    queries: dict[str, tuple[str, list[str]]] = {
        endpoint(index): (endpoint(index), two) for index in range(300)
    }
    queries["three"] = ("three", ["a", "b", "c"])
    put_invocations(endpoint(0), [(now - timedelta(minutes=9), 1.0)], variant="blue")
    put_invocations(endpoint(0), [(now - timedelta(minutes=4), 2.0)], variant="green")
    put_invocations(endpoint(0), [(now - timedelta(minutes=1), 5.0)], variant="AllTraffic")
    put_invocations(endpoint(299), [(now - timedelta(minutes=6), 1.0)], variant="green")
    put_invocations("three", [(now - timedelta(minutes=2), 1.0)], variant="c")
    start, end = metric_window(datetime.now(UTC))
    sent: list[list[str]] = []
    original = gateway._pages

    def spy(operation: str, **params: Any) -> Any:
        sent.append([q["Id"] for q in params["MetricDataQueries"]])
        return original(operation, **params)

    gateway._pages = spy  # type: ignore[method-assign]
    found = gateway.last_invocations(queries, start, end)
    assert [len(ids) for ids in sent] == [500, 103]
    assert sent[1][0] == "q0_0"  # endpoint(250) opens the second call with both its variants
    # An AllTraffic series of the same endpoint name is not one of its variants.
    assert found[endpoint(0)] == now - timedelta(minutes=4)
    assert found[endpoint(299)] == now - timedelta(minutes=6)
    assert found["three"] == now - timedelta(minutes=2)
    assert found[endpoint(1)] is None


def test_monitor_reads_every_variant_and_rereads_a_change(gateway: CloudWatchGateway) -> None:
    now = minute(datetime.now(UTC))
    put_invocations("falcon", [(now - timedelta(minutes=2), 3.0)], variant="canary")
    clock = FakeClock()
    monitor = monitor_of(gateway, clock)
    monitor.watch("falcon", ["primary"])
    assert monitor.signal("falcon").last_invocation_at is None
    before = CALLS.snapshot()
    monitor.watch("falcon", ["canary", "primary"])  # an update added a variant
    assert monitor.signal("falcon").last_invocation_at == now - timedelta(minutes=2)
    assert calls_since(before) == {"DescribeAlarms": 1, "GetMetricData": 1}
    before = CALLS.snapshot()
    monitor.watch("falcon", ["primary", "canary"])  # the same variants: nothing to read
    monitor.signal("falcon")
    assert calls_since(before) == {}
    with pytest.raises(ValueError):
        monitor.watch("falcon", [])


def test_last_invocations_of_nothing_costs_nothing(gateway: CloudWatchGateway) -> None:
    start, end = metric_window(datetime.now(UTC))
    assert gateway.last_invocations({}, start, end) == {}
    assert calls_since({}) == {}


def test_last_invocation_outside_window(gateway: CloudWatchGateway) -> None:
    now = minute(datetime.now(UTC))
    put_invocations("falcon", [(now - timedelta(hours=4), 9.0)])
    start, end = metric_window(datetime.now(UTC))
    assert gateway.last_invocations({"falcon": ("falcon", ONE)}, start, end) == {"falcon": None}


class PagingClient:
    """Answers like CloudWatch does when a response is cut short (moto never pages these):
    the first page of each call carries a NextToken, the second the rest."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def describe_alarms(self, **params: Any) -> dict[str, Any]:
        self.requests.append(("DescribeAlarms", params))
        names = params["AlarmNames"]
        if "NextToken" not in params:
            return {"MetricAlarms": [{"AlarmName": names[0]}], "NextToken": "more"}
        return {"MetricAlarms": [{"AlarmName": name} for name in names[1:]]}

    def get_metric_data(self, **params: Any) -> dict[str, Any]:
        self.requests.append(("GetMetricData", params))
        t0 = params["StartTime"]
        if "NextToken" not in params:  # q0_0 continues on the next page
            return {
                "MetricDataResults": [
                    {
                        "Id": "q0_0",
                        "Timestamps": [t0],
                        "Values": [0.0],
                        "StatusCode": "PartialData",
                    },
                    {"Id": "q1_0", "Timestamps": [], "Values": [], "StatusCode": "Complete"},
                ],
                "NextToken": "more",
            }
        later = t0 + timedelta(minutes=5)
        return {
            "MetricDataResults": [
                {"Id": "q0_0", "Timestamps": [later], "Values": [2.0], "StatusCode": "Complete"}
            ]
        }


def test_pages_are_followed() -> None:
    fake = PagingClient()
    gateway = CloudWatchGateway(REGION, client=fake)
    assert set(gateway.describe_alarms(["a", "b", "c"])) == {"a", "b", "c"}
    start, end = metric_window(datetime.now(UTC))
    found = gateway.last_invocations({"x": ("x", ONE), "y": ("y", ONE)}, start, end)
    assert found == {"x": start + timedelta(minutes=5), "y": None}
    assert [op for op, _ in fake.requests] == ["DescribeAlarms"] * 2 + ["GetMetricData"] * 2
    # The follow-up requests repeat the first ones, plus the token.
    for first, second in (fake.requests[0:2], fake.requests[2:4]):
        assert second[1] == {**first[1], "NextToken": "more"}


# --------------------------------------------------------------------------- the monitor


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def monitor_of(
    gateway: CloudWatchGateway, clock: Callable[[], float], max_age: float = 60.0
) -> IdleMonitor:
    return IdleMonitor(gateway, max_age=max_age, clock=clock)


def test_monitor_batches_100_endpoints(gateway: CloudWatchGateway) -> None:
    put_alarms(gateway, 100, timedelta(minutes=15))
    force_alarm_state(alarm_name(endpoint(7)), "ALARM")
    last = minute(datetime.now(UTC)) - timedelta(minutes=3)
    put_invocations(endpoint(8), [(last, 2.0)])

    clock = FakeClock()
    monitor = monitor_of(gateway, clock)
    for index in range(100):
        monitor.watch(endpoint(index), ONE)

    before = CALLS.snapshot()
    signals = {endpoint(index): monitor.signal(endpoint(index)) for index in range(100)}
    used = calls_since(before)
    assert used.get("DescribeAlarms", 0) <= 2
    assert used.get("GetMetricData", 0) <= 1
    assert set(used) <= {"DescribeAlarms", "GetMetricData"}
    assert signals[endpoint(7)].alarm_state == "ALARM"
    assert signals[endpoint(7)].idle
    assert signals[endpoint(0)].alarm_state in NEW_ALARM_STATES
    assert not signals[endpoint(0)].idle
    assert signals[endpoint(0)].alarm is not None
    assert signals[endpoint(8)].last_invocation_at == last
    assert signals[endpoint(9)].last_invocation_at is None

    # Served from the batch until max_age has passed, even when CloudWatch changes.
    force_alarm_state(alarm_name(endpoint(9)), "ALARM")
    clock.now += 59.9
    before = CALLS.snapshot()
    assert monitor.signal(endpoint(9)).alarm_state in NEW_ALARM_STATES
    assert calls_since(before) == {}

    clock.now += 0.1
    assert monitor.signal(endpoint(9)).alarm_state == "ALARM"
    for index in range(100):
        monitor.signal(endpoint(index))
    assert calls_since(before) == {"DescribeAlarms": 1, "GetMetricData": 1}


def test_monitor_without_alarms(gateway: CloudWatchGateway) -> None:
    monitor = monitor_of(gateway, FakeClock())
    assert monitor.signal("falcon") == IdleSignal(None, None, None)
    assert monitor.watched == []  # only watch() knows an endpoint's variants
    assert calls_since({}) == {}
    monitor.watch("falcon", ONE)
    assert monitor.signal("falcon") == IdleSignal(None, None, None)
    assert monitor.watched == ["falcon"]


def test_invalidate_rereads_only_the_pending(gateway: CloudWatchGateway) -> None:
    put_alarms(gateway, 3, timedelta(minutes=15))
    clock = FakeClock()
    monitor = monitor_of(gateway, clock)
    for index in range(3):
        monitor.watch(endpoint(index), ONE)
    monitor.signal(endpoint(0))  # the region's batch, read at clock 1000

    # The operator re-puts an alarm, then asks again before the batch is stale.
    gateway.put_alarm(build_idle_alarm_request(endpoint(1), timedelta(minutes=30), TAGS, ONE))
    monitor.invalidate(endpoint(1))
    clock.now += 1
    before = CALLS.snapshot()
    signal = monitor.signal(endpoint(1))
    assert signal.alarm is not None and signal.alarm["EvaluationPeriods"] == 30
    assert calls_since(before) == {"DescribeAlarms": 1, "GetMetricData": 1}

    before = CALLS.snapshot()
    monitor.signal(endpoint(1))
    monitor.signal(endpoint(2))
    assert calls_since(before) == {}
    # The region's batch keeps its age: stale 60 s after it was read, not after the re-read.
    clock.now = 1000 + 60
    before = CALLS.snapshot()
    monitor.signal(endpoint(2))
    assert calls_since(before) == {"DescribeAlarms": 1, "GetMetricData": 1}


def test_new_endpoints_share_one_read(gateway: CloudWatchGateway) -> None:
    clock = FakeClock()
    monitor = monitor_of(gateway, clock)
    assert monitor.signal("nobody") == IdleSignal(None, None, None)  # not watched: no calls
    assert calls_since({}) == {}
    put_alarms(gateway, 5, timedelta(minutes=15))
    for index in range(5):
        monitor.watch(endpoint(index), ONE)
    before = CALLS.snapshot()
    for index in range(5):
        assert monitor.signal(endpoint(index)).alarm_state in NEW_ALARM_STATES
    assert calls_since(before) == {"DescribeAlarms": 1, "GetMetricData": 1}


def test_unwatch(gateway: CloudWatchGateway) -> None:
    put_alarms(gateway, 2, timedelta(minutes=15))
    clock = FakeClock()
    monitor = monitor_of(gateway, clock)
    monitor.watch(endpoint(0), ONE)
    monitor.watch(endpoint(1), ONE)
    monitor.signal(endpoint(0))  # the region's batch, both endpoints
    monitor.unwatch(endpoint(1))
    assert monitor.watched == [endpoint(0)]
    seen: list[Any] = []
    original = gateway.describe_alarms

    def spy(names: Sequence[str]) -> dict[str, dict[str, Any]]:
        seen.append(list(names))
        return original(names)

    gateway.describe_alarms = spy  # type: ignore[method-assign]
    clock.now += 60
    monitor.signal(endpoint(0))
    assert seen == [[alarm_name(endpoint(0))]]


def test_failed_refresh_is_retried(gateway: CloudWatchGateway) -> None:
    clock = FakeClock()
    monitor = monitor_of(gateway, clock)
    monitor.watch("falcon", ONE)
    original = gateway.describe_alarms
    failures = [AwsError(ErrorKind.THROTTLED, "Throttling", "Rate exceeded", "DescribeAlarms")]

    def flaky(names: Sequence[str]) -> dict[str, dict[str, Any]]:
        if failures:
            raise failures.pop()
        return original(names)

    gateway.describe_alarms = flaky  # type: ignore[method-assign]
    with pytest.raises(AwsError):
        monitor.signal("falcon")
    before = CALLS.snapshot()
    assert monitor.signal("falcon") == IdleSignal(None, None, None)  # read again at once
    assert calls_since(before) == {"DescribeAlarms": 1, "GetMetricData": 1}
    before = CALLS.snapshot()
    monitor.signal("falcon")  # and that batch counts: fresh for max_age
    assert calls_since(before) == {}


def test_concurrent_signals_share_one_refresh(gateway: CloudWatchGateway) -> None:
    put_alarms(gateway, 20, timedelta(minutes=15))
    monitor = monitor_of(gateway, FakeClock())
    for index in range(20):
        monitor.watch(endpoint(index), ONE)
    before = CALLS.snapshot()
    with ThreadPoolExecutor(max_workers=20) as pool:
        states = list(pool.map(lambda i: monitor.signal(endpoint(i)).alarm_state, range(20)))
    assert set(states) <= NEW_ALARM_STATES and None not in states
    assert calls_since(before) == {"DescribeAlarms": 1, "GetMetricData": 1}
