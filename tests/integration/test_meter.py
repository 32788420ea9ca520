"""The meter: expiry and top-ups, warnings, suspend and wake, idle parking through the
CloudWatch alarm, schedules, tag discovery and dry run — the operator as a process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sagemeter.core.endpoint import naming
from sagemeter.core.meter.times import format_time, parse_time
from sagemeter_sandbox.control import FaultClient

from ..clock import window_opening_soon
from .conftest import Kubectl, Operator, endpoint_object, foreign_endpoint, wait_for
from .test_lifecycle import describe, endpoint_name, tags_of

pytestmark = pytest.mark.cluster


@pytest.fixture
def cloudwatch(sandbox: Any) -> Any:
    return boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=sandbox.aws_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def alarms(cloudwatch: Any, endpoint: str) -> list[dict[str, Any]]:
    return list(
        cloudwatch.describe_alarms(AlarmNames=[naming.alarm_name(endpoint)])["MetricAlarms"]
    )


def reasons(kube: Kubectl, name: str) -> list[str]:
    return [e["reason"] for e in kube.events(name)]


def in_seconds(seconds: float) -> str:
    return format_time(datetime.now(UTC) + timedelta(seconds=seconds))


def assert_on_time(operator: Operator, obj: str, action: str, deadline: datetime) -> None:
    """The meter acts at the deadline: the one call not before it (parking early cuts short
    what was paid for, resuming early costs money) and within seconds after it (the tests
    that call this run with a sync interval of 10 minutes, so only the deadline timer is
    that quick)."""
    calls = operator.aws_action_times(obj, action)
    assert len(calls) == 1, calls
    lag = calls[0] - deadline.timestamp()
    assert 0 <= lag < 8.0, f"{action} {lag:+.2f}s after the deadline"


def assert_parked_on_time(operator: Operator, obj: str, expires: datetime) -> None:
    assert_on_time(operator, obj, "sagemaker:DeleteEndpoint", expires)


def test_expiry_parks_at_the_deadline_and_a_top_up_resumes(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    # A sync interval far longer than the test: only the deadline timer can park in time.
    operator.start(SAGEMETER_SYNC_INTERVAL="10m", SAGEMETER_LOG_FORMAT="json")
    kube.apply(endpoint_object("meter", expiry={"expiresAt": in_seconds(25), "warnBefore": "10s"}))
    status = kube.wait_phase("meter", "InService")
    expires = parse_time(status["expiresAt"])
    assert status["nextTransitionAt"] <= status["expiresAt"]

    status = kube.wait_phase("meter", "Parked", timeout=40)
    assert_parked_on_time(operator, f"{namespace}/meter", expires)
    assert status["parkedReason"] == "Expired"
    condition = kube.condition("meter", "Parked")
    assert condition["status"] == "True" and condition["reason"] == "Expired"
    name = endpoint_name(namespace, "meter")
    assert describe(sagemaker, name) is None
    # Model and config are kept, so resuming is one CreateEndpoint.
    assert sagemaker.describe_endpoint_config(EndpointConfigName=status["endpointConfigName"])
    warned = [e for e in kube.events("meter") if e["reason"] == "ExpiringSoon"]
    assert len(warned) == 1
    # At warnBefore (10 s) ahead of the expiry, not earlier; Event times may be whole seconds.
    warned_at = parse_time(warned[0].get("eventTime") or warned[0]["firstTimestamp"])
    assert expires - timedelta(seconds=11) <= warned_at <= expires, warned[0]

    kube.patch("meter", {"spec": {"expiry": {"expiresAt": in_seconds(3600)}}})
    resumed = kube.wait_phase("meter", "InService", timeout=30)
    assert resumed["endpointConfigName"] == status["endpointConfigName"]
    assert "Resuming" in reasons(kube, "meter")
    assert operator.aws_calls()["sagemaker:CreateModel"] == 1


def test_ttl_zero_starts_parked_and_costs_nothing(
    operator: Operator, kube: Kubectl, namespace: str
) -> None:
    operator.start()
    kube.apply(endpoint_object("dormant", expiry={"ttl": "0s"}))
    status = kube.wait_phase("dormant", "Parked")
    assert status["parkedReason"] == "Expired"
    operator.wait_passes(2)  # two more looks at it: still nothing to pay for
    calls = operator.aws_calls()
    assert calls.get("sagemaker:CreateEndpoint", 0) == 0
    assert calls.get("sagemaker:CreateModel", 0) == 0

    kube.patch("dormant", {"spec": {"expiry": {"expiresAt": in_seconds(3600)}}})
    kube.wait_phase("dormant", "InService")


def test_suspend_parks_and_clearing_it_resumes(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    operator.start()
    kube.apply(endpoint_object("pausable"))
    kube.wait_phase("pausable", "InService")
    kube.patch("pausable", {"spec": {"suspend": True}})
    status = kube.wait_phase("pausable", "Parked")
    assert status["parkedReason"] == "Suspended"
    assert describe(sagemaker, endpoint_name(namespace, "pausable")) is None
    kube.patch("pausable", {"spec": {"suspend": False}})
    kube.wait_phase("pausable", "InService")


def test_restart_before_the_deadline_still_parks_on_time(
    operator: Operator, kube: Kubectl, namespace: str
) -> None:
    operator.start(SAGEMETER_SYNC_INTERVAL="10m", SAGEMETER_LOG_FORMAT="json")
    kube.apply(endpoint_object("restarted", expiry={"expiresAt": in_seconds(25)}))
    status = kube.wait_phase("restarted", "InService")
    operator.stop()
    operator.start(SAGEMETER_SYNC_INTERVAL="10m", SAGEMETER_LOG_FORMAT="json")
    expires = parse_time(status["expiresAt"])
    kube.wait_phase("restarted", "Parked", timeout=40)
    assert_parked_on_time(operator, f"{namespace}/restarted", expires)


def test_idle_alarm_parks_and_wake_resumes(
    operator: Operator, kube: Kubectl, sagemaker: Any, cloudwatch: Any, namespace: str
) -> None:
    operator.start()
    kube.apply(endpoint_object("sleepy", idle={"after": "15m", "gracePeriod": "2s"}))
    kube.wait_phase("sleepy", "InService")
    name = endpoint_name(namespace, "sleepy")
    alarm = wait_for("the idle alarm", lambda: alarms(cloudwatch, name), timeout=30)[0]
    assert alarm["Namespace"] == "AWS/SageMaker" and alarm["MetricName"] == "Invocations"
    assert alarm["Period"] == 60 and alarm["EvaluationPeriods"] == 15
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["TreatMissingData"] == "breaching"

    kube.patch("sleepy", {"spec": {"idle": {"after": "30m"}}})
    wait_for(
        "the alarm to follow idle.after",
        lambda: alarms(cloudwatch, name)[0]["EvaluationPeriods"] == 30,
    )

    cloudwatch.set_alarm_state(
        AlarmName=naming.alarm_name(name), StateValue="ALARM", StateReason="no invocations"
    )
    status = kube.wait_phase("sleepy", "Parked", timeout=30)
    assert status["parkedReason"] == "Idle"
    assert status["idlePark"]["parkedAt"]
    assert alarms(cloudwatch, name) == []  # no orphaned alarm
    creates = operator.aws_calls()["sagemaker:CreateEndpoint"]
    operator.wait_passes(2)  # two more looks, sweeps included: an idle park holds
    assert kube.status("sleepy")["phase"] == "Parked"
    assert operator.aws_calls()["sagemaker:CreateEndpoint"] == creates

    kube.sandbox.kubectl_run(
        "annotate",
        "mep",
        "sleepy",
        "-n",
        namespace,
        f"sagemeter.io/wake={datetime.now(UTC).isoformat()}",
    )
    resumed = kube.wait_phase("sleepy", "InService", timeout=30)
    assert "idlePark" not in resumed
    wait_for("a new alarm after the grace period", lambda: alarms(cloudwatch, name), timeout=30)

    kube.patch("sleepy", {"spec": {"idle": None}})
    wait_for("the alarm to go with spec.idle", lambda: alarms(cloudwatch, name) == [])


def test_schedule_parks_outside_windows_and_resumes_when_one_opens(
    operator: Operator, kube: Kubectl, namespace: str
) -> None:
    # Opens within about a minute and never crosses midnight (tests/clock.py, unit-tested
    # with clocks around midnight): this test runs at any time of day.
    window = window_opening_soon(datetime.now(UTC))
    # A sync interval far longer than the test: only the deadline timer can resume in time.
    operator.start(SAGEMETER_SYNC_INTERVAL="10m", SAGEMETER_LOG_FORMAT="json")
    kube.apply(endpoint_object("office", schedule={"uptime": [window.text]}))
    status = kube.wait_phase("office", "Parked")
    assert status["parkedReason"] == "Schedule"
    assert parse_time(status["nextTransitionAt"]) == window.start

    wait = (window.start - datetime.now(UTC)).total_seconds()
    kube.wait_phase("office", "InService", timeout=wait + 30)
    assert_on_time(operator, f"{namespace}/office", "sagemaker:CreateEndpoint", window.start)
    assert parse_time(kube.status("office")["nextTransitionAt"]) == window.end


def test_tagged_endpoints_are_adopted_and_opt_out_sticks(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    name = f"{namespace}-nb"
    config = foreign_endpoint(sagemaker, name, tags={"auto-maintain": "true"})
    foreign_endpoint(sagemaker, f"{name}-untagged", config=config)
    operator.start(
        SAGEMETER_ADOPT_TAG="auto-maintain=true",
        SAGEMETER_ADOPT_NAMESPACE=namespace,
        SAGEMETER_ADOPT_IDLE_AFTER="45m",
    )
    obj = wait_for("the discovered object", lambda: kube.get(name))
    assert obj["spec"]["adopt"] is True and obj["spec"]["endpointName"] == name
    assert obj["spec"]["idle"]["after"] == "45m"
    assert obj["metadata"]["labels"]["sagemeter.io/discovered"] == "true"
    kube.wait_phase(name, "InService")
    assert kube.get(f"{name}-untagged") is None
    listing = kube.sandbox.kubectl_run("get", "mep", "-n", namespace, "-o", "name").stdout
    assert listing.split() == [f"managedendpoint.sagemeter.io/{name}"]

    kube.delete(name)
    wait_for("the object to go", lambda: kube.get(name) is None)
    arn = describe(sagemaker, name)["EndpointArn"]  # type: ignore[index]
    tags = tags_of(sagemaker, arn)
    assert tags["sagemeter.io/opt-out"] == "true"
    assert "sagemeter.io/uid" not in tags

    # A restarted operator has forgotten everything (discovery caches tags for ten sync
    # intervals, so a running one might not have looked again yet): only the tag stops it.
    operator.stop()
    faults = FaultClient(kube.sandbox.aws_endpoint_url)
    # A 1 ms delay: a rule that counts the ListTags calls reading this endpoint's tags.
    rule = faults.latency(0.001, service="sagemaker", operation="ListTags", contains=f'"{arn}"')
    try:
        operator.start(
            SAGEMETER_ADOPT_TAG="auto-maintain=true", SAGEMETER_ADOPT_NAMESPACE=namespace
        )
        wait_for(
            "discovery to read the opted-out endpoint's tags", lambda: _matched(faults, rule) >= 1
        )
        listed = operator.aws_calls()["sagemaker:ListEndpoints"]
        # The next sweep starts only once this one has decided about every endpoint.
        wait_for(
            "the next discovery sweep",
            lambda: operator.aws_calls()["sagemaker:ListEndpoints"] > listed,
        )
    finally:
        faults.clear()
    assert kube.get(name) is None
    assert operator.aws_calls().get("sagemaker:AddTags", 0) == 0  # nothing adopted
    assert describe(sagemaker, name) is not None  # Retain: the endpoint is left running


def _matched(faults: FaultClient, rule: int) -> int:
    return int(next(r["matched"] for r in faults.stats().rules if r["id"] == rule))


def test_dry_run_reports_and_never_deletes(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    operator.start(SAGEMETER_DRY_RUN="true")
    kube.apply(endpoint_object("cautious", expiry={"expiresAt": in_seconds(10)}))
    kube.wait_phase("cautious", "InService")
    wait_for(
        "the verdict",
        lambda: kube.condition("cautious", "Parked").get("reason") == "WouldPark",
        timeout=30,
    )
    operator.wait_passes(2)  # two more passes past the expiry: still only a report
    status = kube.status("cautious")
    assert status["phase"] == "InService"
    assert describe(sagemaker, endpoint_name(namespace, "cautious")) is not None
    assert operator.aws_calls().get("sagemaker:DeleteEndpoint", 0) == 0
    would = [e for e in kube.events("cautious") if e["reason"] == "WouldPark"]
    assert len(would) == 1 and "Expired" in would[0]["message"]

    kube.delete("cautious")
    wait_for("the object to go", lambda: kube.get("cautious") is None)
    assert describe(sagemaker, endpoint_name(namespace, "cautious")) is not None


def test_discovery_into_a_missing_namespace_says_so_once_and_recovers(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    """SAGEMETER_ADOPT_NAMESPACE missing: one clear log line and a metric, no traceback per
    sweep; once the namespace exists, the next sweep creates the object."""
    name = f"{namespace}-lost"
    tag = f"sagemeter-discovery={namespace}"  # this test's own: no other tagged endpoint counts
    foreign_endpoint(sagemaker, name, tags={"sagemeter-discovery": namespace})
    missing = f"{namespace}-adopted"
    operator.start(SAGEMETER_ADOPT_TAG=tag, SAGEMETER_ADOPT_NAMESPACE=missing)
    gauge = f'sagemeter_discovery_namespace_missing{{namespace="{missing}"}}'
    wait_for("the missing-namespace metric", lambda: operator.metrics().get(gauge) == 1.0)
    sweeps = operator.aws_calls().get("sagemaker:ListEndpoints", 0)
    wait_for(
        "two more sweeps",
        lambda: operator.aws_calls().get("sagemaker:ListEndpoints", 0) >= sweeps + 2,
    )
    logs = operator.logs()
    said = [line for line in logs.splitlines() if "tag discovery cannot create objects" in line]
    assert len(said) == 1, said
    assert f"namespace {missing} (SAGEMETER_ADOPT_NAMESPACE) does not exist" in said[0]
    assert "Traceback" not in logs

    kube.sandbox.kubectl_run("create", "namespace", missing)
    try:
        wait_for("the discovered object", lambda: Kubectl(kube.sandbox, missing).get(name))
        assert operator.metrics()[gauge] == 0.0
    finally:
        kube.sandbox.kubectl_run("delete", "namespace", missing, "--wait=false")
