"""Idle alarms over every variant, against the local AWS as a witness: what PutMetricAlarm
refuses for ``Metrics`` (``sagemeter_sandbox.alarms``), the ``Invocations`` SageMaker publishes
per variant on InvokeEndpoint (``sagemeter_sandbox.runtime``), and an alarm evaluated by
CloudWatch's rules. The finding this guards: an alarm on ``AllTraffic`` of an endpoint whose
variant is ``primary`` sees no data, missing data breaches, and the busy endpoint is idle."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sagemeter.aws.cloudwatch import CloudWatchGateway
from sagemeter.core.endpoint.naming import alarm_name
from sagemeter.core.endpoint.ownership import Owner
from sagemeter.core.idle import alarm_matches, build_idle_alarm_request
from sagemeter_sandbox.control import FaultClient

from .conftest import DELAY, REGION, LocalAws, client

pytestmark = [pytest.mark.timeout(120)]

TAGS = Owner("team-a", "falcon", "uid-1").tags()
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/model:1"
ROLE = "arn:aws:iam::123456789012:role/sm"


def serving(name: str, variants: list[str]) -> None:
    """An endpoint made elsewhere (a notebook) serving ``variants``, InService."""
    sm = client("sagemaker", REGION)
    sm.create_model(ModelName=name, PrimaryContainer={"Image": IMAGE}, ExecutionRoleArn=ROLE)
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": name,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
            for variant in variants
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    deadline = time.monotonic() + 10 * DELAY + 5
    while sm.describe_endpoint(EndpointName=name)["EndpointStatus"] != "InService":
        assert time.monotonic() < deadline, "endpoint never InService"
        time.sleep(DELAY / 3)


def invoke(name: str, times: int, variant: str | None = None) -> list[str]:
    """InvokeEndpoint ``times``; the variants that served the calls."""
    runtime = client("sagemaker-runtime", REGION)
    extra = {"TargetVariant": variant} if variant else {}
    return [
        runtime.invoke_endpoint(EndpointName=name, Body=b"{}", **extra)["InvokedProductionVariant"]
        for _ in range(times)
    ]


def put(request: dict[str, Any]) -> None:
    CloudWatchGateway(REGION).put_alarm(request)


def evaluated(aws_env: LocalAws, name: str) -> str:
    state: str = FaultClient(aws_env.url).evaluate_alarm(name)["state"]
    described = client("cloudwatch", REGION).describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert described[0]["StateValue"] == state  # the evaluation set the state it found
    return state


def test_a_busy_adopted_endpoint_is_busy_only_on_its_own_variant(aws_env: LocalAws) -> None:
    serving("notebook", ["primary"])
    assert set(invoke("notebook", 3)) == {"primary"}
    after = timedelta(minutes=15)

    put(build_idle_alarm_request("notebook", after, TAGS, ["AllTraffic"]))
    assert evaluated(aws_env, alarm_name("notebook")) == "ALARM"  # the finding: parked busy

    request = build_idle_alarm_request("notebook", after, TAGS, ["primary"])
    put(request)
    assert evaluated(aws_env, alarm_name("notebook")) == "OK"
    alarm = CloudWatchGateway(REGION).describe_alarms([alarm_name("notebook")])
    assert alarm_matches(alarm[alarm_name("notebook")], request)


def test_the_sum_of_every_variant_keeps_a_busy_endpoint(aws_env: LocalAws) -> None:
    serving("ab", ["blue", "green"])
    request = build_idle_alarm_request("ab", timedelta(minutes=15), TAGS, ["green", "blue"])
    put(request)
    described = CloudWatchGateway(REGION).describe_alarms([alarm_name("ab")])[alarm_name("ab")]
    assert alarm_matches(described, request)
    assert not described.get("MetricName") and len(described["Metrics"]) == 3
    assert evaluated(aws_env, alarm_name("ab")) == "ALARM"  # nobody called: idle

    # Traffic on the second variant only: an alarm on the first alone would still breach.
    assert set(invoke("ab", 2, variant="green")) == {"green"}
    assert evaluated(aws_env, alarm_name("ab")) == "OK"
    put(build_idle_alarm_request("ab", timedelta(minutes=15), TAGS, ["blue"]))
    assert evaluated(aws_env, alarm_name("ab")) == "ALARM"


def test_invocations_follow_the_variant_weights(aws_env: LocalAws) -> None:
    serving("split", ["a", "b"])
    served = invoke("split", 40)
    assert set(served) == {"a", "b"}  # equal weights: 2**-39 that one never serves
    cloudwatch = client("cloudwatch", REGION)
    now = datetime.now(UTC)
    sums = {
        variant: sum(
            point["Sum"]
            for point in cloudwatch.get_metric_statistics(
                Namespace="AWS/SageMaker",
                MetricName="Invocations",
                Dimensions=[
                    {"Name": "EndpointName", "Value": "split"},
                    {"Name": "VariantName", "Value": variant},
                ],
                StartTime=now - timedelta(minutes=5),
                EndTime=now + timedelta(minutes=1),
                Period=60,
                Statistics=["Sum"],
            )["Datapoints"]
        )
        for variant in ("a", "b")
    }
    assert sums == {"a": served.count("a"), "b": served.count("b")}


def refused(params: dict[str, Any]) -> str:
    with pytest.raises(ClientError) as caught:
        client("cloudwatch", REGION).put_metric_alarm(**params)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationError"
    return str(error["Message"])


@pytest.mark.usefixtures("aws_env")
def test_put_metric_alarm_refuses_what_cloudwatch_refuses() -> None:
    request = build_idle_alarm_request("x", timedelta(minutes=5), {}, ["a", "b"])
    del request["Tags"]
    both = [dict(m, ReturnData=True) for m in request["Metrics"]]
    assert refused({**request, "Metrics": both}) == (
        "Exactly one element of the metrics list should return data."
    )
    none = [dict(m, ReturnData=False) for m in request["Metrics"]]
    assert "Exactly one" in refused({**request, "Metrics": none})
    mixed = {**request, "MetricName": "Invocations", "Namespace": "AWS/SageMaker"}
    assert "MetricName" in refused(mixed)

    eleven = build_idle_alarm_request("x", timedelta(minutes=5), {}, ["a", "b"])
    base = eleven["Metrics"][0]
    reads = [dict(base, Id=f"m{i}") for i in range(11)]
    total = {"Id": "t", "Expression": f"SUM([{', '.join(m['Id'] for m in reads)}])"}
    del eleven["Tags"]
    assert "at most 10 metrics" in refused({**eleven, "Metrics": [*reads, total]})


@pytest.mark.usefixtures("aws_env")
def test_an_alarm_it_cannot_evaluate_is_said_so(aws_env: LocalAws) -> None:
    request = build_idle_alarm_request("y", timedelta(minutes=5), {}, ["a", "b"])
    request["Metrics"][-1]["Expression"] = "m0 / m1"
    put(request)
    with pytest.raises(Exception, match="only SUM"):
        FaultClient(aws_env.url).evaluate_alarm(alarm_name("y"))
    with pytest.raises(Exception, match="404"):
        FaultClient(aws_env.url).evaluate_alarm(alarm_name("never"))
