"""The idle alarm watches every production variant the endpoint serves (SPEC §2 Idle), the
operator as a process against the local AWS: variants come from DescribeEndpoint, never
assumed to be ``AllTraffic``. Traffic is real InvokeEndpoint calls (the local AWS publishes
``Invocations`` per variant, as SageMaker does) and the alarm is evaluated by CloudWatch's
rules on request (``sagemeter_sandbox.alarms``), so a wrong alarm would find no data, breach,
and park a busy endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from sagemeter.core.endpoint import naming
from sagemeter_sandbox.control import FaultClient

from .conftest import Kubectl, Operator, endpoint_object, foreign_config, foreign_endpoint, wait_for
from .test_lifecycle import endpoint_name
from .test_meter import alarms
from .test_wake import aws

pytestmark = pytest.mark.cluster

IDLE = {"after": "15m", "gracePeriod": "1s"}


def invoke(sandbox: Any, endpoint: str, times: int, variant: str | None = None) -> set[str]:
    runtime = aws(sandbox, "sagemaker-runtime")
    extra = {"TargetVariant": variant} if variant else {}
    return {
        runtime.invoke_endpoint(EndpointName=endpoint, Body=b"{}", **extra)[
            "InvokedProductionVariant"
        ]
        for _ in range(times)
    }


def stays_in_service(operator: Operator, kube: Kubectl, name: str) -> None:
    """Several passes after the alarm said OK, the endpoint still serves: no park, no
    DeleteEndpoint."""
    operator.wait_passes(3)
    status = kube.status(name)
    assert status["phase"] == "InService" and "parkedReason" not in status, status
    assert "Parking" not in [e["reason"] for e in kube.events(name)]
    assert operator.aws_calls().get("sagemaker:DeleteEndpoint", 0) == 0


def test_an_adopted_endpoint_whose_variant_is_primary_gets_its_alarm(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    name = f"{namespace}-nb"
    tag = f"sagemeter-test-{namespace}"
    foreign_endpoint(sagemaker, name, tags={tag: "true"}, variants=["primary"])
    kube.apply(
        endpoint_object(
            name, adopt=True, endpointName=name, idle=IDLE, model=None, instanceType=None
        )
    )
    operator.start(SAGEMETER_ADOPT_TAG=f"{tag}=true", SAGEMETER_ADOPT_NAMESPACE=namespace)
    status = kube.wait_phase(name, "InService")
    cloudwatch = aws(kube.sandbox, "cloudwatch")
    (alarm,) = wait_for("the idle alarm", lambda: alarms(cloudwatch, name), timeout=30)
    assert wait_for("the variant in status", lambda: kube.status(name).get("variantNames")) == [
        "primary"
    ], status
    # One variant: the plain Invocations alarm on it.
    assert alarm["MetricName"] == "Invocations" and alarm["Namespace"] == "AWS/SageMaker"
    assert {"Name": "VariantName", "Value": "primary"} in alarm["Dimensions"]
    assert {"Name": "EndpointName", "Value": name} in alarm["Dimensions"]

    assert invoke(kube.sandbox, name, 3) == {"primary"}
    verdict = FaultClient(kube.sandbox.aws_endpoint_url).evaluate_alarm(naming.alarm_name(name))
    assert verdict["state"] == "OK", verdict
    wait_for("the last invocation in status", lambda: kube.status(name).get("lastInvocationAt"))
    stays_in_service(operator, kube, name)


def test_a_busy_endpoint_of_two_variants_is_never_parked_as_idle(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    config = foreign_config(sagemaker, f"{namespace}-ab", variants=["blue", "green"])
    operator.start()
    kube.apply(
        endpoint_object("ab", instanceType=None, model={"endpointConfigName": config}, idle=IDLE)
    )
    kube.wait_phase("ab", "InService")
    name = endpoint_name(namespace, "ab")
    cloudwatch = aws(kube.sandbox, "cloudwatch")
    (alarm,) = wait_for("the idle alarm", lambda: alarms(cloudwatch, name), timeout=30)
    assert kube.status("ab")["variantNames"] == ["blue", "green"]
    # Several variants: one metric-math alarm on the sum of them.
    assert not alarm.get("MetricName") and not alarm.get("Dimensions")
    reads = [m for m in alarm["Metrics"] if "MetricStat" in m]
    assert sorted(
        d["Value"]
        for m in reads
        for d in m["MetricStat"]["Metric"]["Dimensions"]
        if d["Name"] == "VariantName"
    ) == ["blue", "green"]
    (total,) = [m for m in alarm["Metrics"] if m.get("ReturnData", True)]
    assert total["Expression"].replace(" ", "") == "SUM([m0,m1])"

    # Only the second variant is busy: an alarm on the first alone would breach.
    assert invoke(kube.sandbox, name, 3, variant="green") == {"green"}
    verdict = FaultClient(kube.sandbox.aws_endpoint_url).evaluate_alarm(naming.alarm_name(name))
    assert verdict["state"] == "OK", verdict
    wait_for("the last invocation in status", lambda: kube.status("ab").get("lastInvocationAt"))
    stays_in_service(operator, kube, "ab")
