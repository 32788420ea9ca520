"""Fault injection in the local AWS (``sagemeter_sandbox.faults``), driven with ``FaultClient``
and observed with real boto3 clients that make exactly one attempt per call."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from sagemeter.aws.errors import AwsError, ErrorKind, checked_call, classify
from sagemeter_sandbox.control import FaultClient, FaultControlError

from .conftest import REGION, LocalAws

ROLE = "arn:aws:iam::123456789012:role/sagemeter-sm"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1"
ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})
# random.Random(1234): 45 of its first 200 draws are below 0.2 (one draw per matching call).
SEED, RATE, CALLS, EXPECTED_THROTTLED = 1234, 0.2, 200, 45

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("aws_env")]


@pytest.fixture
def aws(local_aws: LocalAws) -> Callable[[str], Any]:
    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=local_aws.url,
            region_name=REGION,
            config=ONE_ATTEMPT,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return make


def failure(call: Callable[[], Any]) -> BaseException:
    with pytest.raises(Exception) as caught:
        call()
    return caught.value


def client_error(call: Callable[[], Any]) -> tuple[str, int]:
    error = failure(call)
    assert isinstance(error, ClientError), repr(error)
    return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]


def create_model(sm: Any, name: str) -> None:
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})


def model_exists(sm: Any, name: str) -> bool:
    try:
        sm.describe_model(ModelName=name)
    except ClientError:
        return False
    return True


# ------------------------------------------------------------------ throttling and errors


@pytest.mark.parametrize(
    ("service", "call", "code", "status"),
    [
        # Each service's own code (sources: sagemeter_sandbox.protocols.throttling).
        ("sagemaker", lambda c: c.list_endpoints(), "ThrottlingException", 400),  # JSON
        ("cloudwatch", lambda c: c.list_metrics(), "Throttling", 400),  # JSON 1.0
        ("sts", lambda c: c.get_caller_identity(), "Throttling", 400),  # query/XML
        ("apigateway", lambda c: c.get_rest_apis(), "TooManyRequestsException", 429),  # REST
        ("lambda", lambda c: c.list_functions(), "TooManyRequestsException", 429),  # REST
        ("sqs", lambda c: c.list_queues(), "RequestThrottled", 400),  # JSON, model's shape
        ("events", lambda c: c.list_rules(), "ThrottlingException", 400),  # JSON, model's
    ],
)
def test_throttling_at_rate_one_is_the_services_throttling_error(
    control: FaultClient,
    aws: Callable[[str], Any],
    service: str,
    call: Callable[[Any], Any],
    code: str,
    status: int,
) -> None:
    control.throttle(service=service)
    error = failure(lambda: call(aws(service)))
    assert isinstance(error, ClientError)
    assert (
        error.response["Error"]["Code"],
        error.response["ResponseMetadata"]["HTTPStatusCode"],
    ) == (code, status)
    assert error.response["Error"]["Message"] == "Rate exceeded"
    assert classify(error) is ErrorKind.THROTTLED


def test_the_gateway_layer_sees_throttling_as_throttled(
    control: FaultClient, aws: Callable[[str], Any]
) -> None:
    control.throttle(service="sagemaker", operation="DescribeEndpoint")
    with pytest.raises(AwsError) as caught:
        checked_call(aws("sagemaker"), "DescribeEndpoint", EndpointName="x")
    assert (caught.value.kind, caught.value.code) == (ErrorKind.THROTTLED, "ThrottlingException")


@pytest.mark.localaws
def test_rate_is_seeded_so_the_count_is_exact_and_reproducible(
    control: FaultClient, aws: Callable[[str], Any]
) -> None:
    sm = aws("sagemaker")

    def run() -> list[bool]:
        control.clear()
        control.seed(SEED)
        control.throttle(service="sagemaker", operation="ListEndpoints", rate=RATE)
        throttled = []
        for _ in range(CALLS):
            try:
                sm.list_endpoints()
                throttled.append(False)
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "ThrottlingException"
                throttled.append(True)
        return throttled

    first = run()
    assert sum(first) == EXPECTED_THROTTLED
    assert 0.1 * CALLS <= sum(first) <= 0.3 * CALLS
    stats = control.stats()
    assert stats.seed == SEED and stats.requests == CALLS
    assert stats.injected == {"throttle": EXPECTED_THROTTLED}
    assert stats.rules[0]["matched"] == CALLS
    assert run() == first  # the same calls hit, not only as many


@pytest.mark.parametrize(
    ("status", "code"), [(503, "ServiceUnavailable"), (500, "InternalFailure")]
)
def test_server_errors_are_retryable(
    control: FaultClient, aws: Callable[[str], Any], status: int, code: str
) -> None:
    control.error(status=status, service="sagemaker")
    error = failure(aws("sagemaker").list_endpoints)
    assert isinstance(error, ClientError)
    assert (
        error.response["Error"]["Code"],
        error.response["ResponseMetadata"]["HTTPStatusCode"],
    ) == (code, status)
    assert classify(error) is ErrorKind.RETRYABLE


@pytest.mark.localaws
def test_an_injected_error_never_reaches_moto(
    control: FaultClient, aws: Callable[[str], Any]
) -> None:
    sm = aws("sagemaker")
    control.error(status=503, service="sagemaker", operation="CreateModel")
    assert client_error(lambda: create_model(sm, "m-1")) == ("ServiceUnavailable", 503)
    control.clear()
    assert not model_exists(sm, "m-1")
    create_model(sm, "m-1")  # not "already existing": the first one never happened


# ------------------------------------------------------------------ latency and outages


@pytest.mark.localaws
def test_latency_adds_the_configured_delay_to_matching_calls_only(
    control: FaultClient, aws: Callable[[str], Any]
) -> None:
    sm, cw = aws("sagemaker"), aws("cloudwatch")
    # Long enough that a call it delayed cannot pass for one a loaded machine made slow.
    control.latency(2.0, service="sagemaker", operation="ListEndpoints")
    started = time.monotonic()
    sm.list_endpoints()
    took = time.monotonic() - started
    assert 2.0 <= took < 2.0 + 1.5, took
    for other in (cw.list_metrics, sm.list_models):
        started = time.monotonic()
        other()
        assert time.monotonic() - started < 1.5, other
    assert control.stats().injected == {"latency": 1}


def test_outage_fails_every_call_then_recovers_and_control_stays_reachable(
    control: FaultClient, aws: Callable[[str], Any], local_aws: LocalAws
) -> None:
    sm, sts = aws("sagemaker"), aws("sts")
    control.outage(5.0)  # long enough to make five requests inside it on a loaded machine
    started = time.monotonic()
    for call in (sm.list_endpoints, lambda: create_model(sm, "m-out"), sts.get_caller_identity):
        error = failure(call)
        assert isinstance(error, ConnectionClosedError), repr(error)
        assert classify(error) is ErrorKind.RETRYABLE
    with urllib.request.urlopen(f"{local_aws.url}/moto-api/", timeout=5) as response:
        assert response.status == 200
    stats = control.stats()
    assert stats.injected == {"outage": 3} and 0 < stats.rules[0]["remaining"] <= 5.0
    assert time.monotonic() - started < 5.0, "too slow to observe the outage"
    time.sleep(5.0 - (time.monotonic() - started) + 0.05)
    sm.list_endpoints()
    sts.get_caller_identity()
    assert not model_exists(sm, "m-out")


@pytest.mark.localaws
def test_an_outage_can_answer_503_instead(control: FaultClient, aws: Callable[[str], Any]) -> None:
    control.outage(5, mode="503", service="sagemaker")
    assert client_error(aws("sagemaker").list_endpoints) == ("ServiceUnavailable", 503)
    aws("cloudwatch").list_metrics()  # only SageMaker is out


# ------------------------------------------------------------------ matching


@pytest.mark.localaws
def test_rules_match_by_service_operation_and_content(
    control: FaultClient, aws: Callable[[str], Any]
) -> None:
    sm, cw, apigw = aws("sagemaker"), aws("cloudwatch"), aws("apigateway")
    control.throttle(service="sagemaker", operation="CreateModel", contains="m-noisy")
    control.throttle(service="monitoring", operation="PutMetricAlarm")  # CloudWatch's scope
    control.throttle(service="apigateway", operation="GetRestApis")
    create_model(sm, "m-quiet")
    assert client_error(lambda: create_model(sm, "m-noisy")) == ("ThrottlingException", 400)
    sm.list_endpoints()
    cw.list_metrics()
    assert client_error(
        lambda: cw.put_metric_alarm(
            AlarmName="a",
            MetricName="m",
            Namespace="n",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
    ) == ("Throttling", 400)
    api = apigw.create_rest_api(name="api")["id"]
    apigw.get_rest_api(restApiId=api)
    assert client_error(apigw.get_rest_apis) == ("TooManyRequestsException", 429)
    assert control.stats().by_operation == {
        "sagemaker:CreateModel": {"throttle": 1},
        "cloudwatch:PutMetricAlarm": {"throttle": 1},
        "apigateway:GetRestApis": {"throttle": 1},
    }


@pytest.mark.localaws
def test_rules_match_the_account_that_signed_the_call(
    control: FaultClient, local_aws: LocalAws, aws: Callable[[str], Any]
) -> None:
    sts = aws("sts")
    credentials = sts.assume_role(
        RoleArn="arn:aws:iam::111111111111:role/tenant", RoleSessionName="sm-team-a"
    )["Credentials"]
    tenant = boto3.client(
        "sagemaker",
        endpoint_url=local_aws.url,
        region_name=REGION,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    control.throttle(service="sagemaker", account="111111111111")
    assert client_error(tenant.list_endpoints) == ("ThrottlingException", 400)
    aws("sagemaker").list_endpoints()  # the operator's own account is not throttled
    assert control.stats().rules[0]["account"] == "111111111111"


@pytest.mark.localaws
def test_rules_are_validated(control: FaultClient) -> None:
    for rule in (
        {"fault": "flood"},
        {"fault": "throttle", "rate": 1.5},
        {"fault": "kill", "service": "sagemaker"},
        {"fault": "kill", "pid": 0},
        {"fault": "latency"},
        {"fault": "throttle", "colour": "red"},
    ):
        with pytest.raises(FaultControlError) as caught:
            control.add(rule)
        assert caught.value.status == 400
    assert control.stats().rules == []


# ------------------------------------------------------------------ kill_after


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "60"])
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.mark.localaws
def test_kill_after_signals_right_after_the_nth_successful_call(
    control: FaultClient, aws: Callable[[str], Any], victim: subprocess.Popen[bytes]
) -> None:
    sm = aws("sagemaker")
    control.kill_after("sagemaker", "CreateModel", victim.pid, count=2)
    create_model(sm, "m-1")
    assert victim.poll() is None  # the first call is not the second
    assert client_error(lambda: create_model(sm, "m-1"))[0] == "ValidationException"
    sm.list_models()
    assert victim.poll() is None  # a failed call or another operation does not count
    create_model(sm, "m-2")
    assert victim.wait(timeout=5) == -signal.SIGKILL
    assert model_exists(sm, "m-2")  # moto had done the work before the signal
    create_model(sm, "m-3")  # spent: nothing more happens
    [rule] = control.stats().rules
    assert (rule["successes"], rule["outcome"], rule["injected"]) == (2, "signalled", 1)
    assert control.stats().injected == {"kill": 1}


# On SIGTERM it asks the local AWS for the model: it must exist by the time the signal lands.
WITNESS = """
import signal, sys, time, boto3
sm = boto3.client("sagemaker", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
def witness(*_):
    try:
        sm.describe_model(ModelName=sys.argv[2])
        print("exists", flush=True)
    except Exception as exc:
        print("missing", exc, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, witness)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.localaws
def test_kill_after_sends_the_chosen_signal_once_moto_has_done_the_work(
    control: FaultClient, aws: Callable[[str], Any], local_aws: LocalAws
) -> None:
    witness = subprocess.Popen(
        [sys.executable, "-c", WITNESS, local_aws.url, "m-seen"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert witness.stdout is not None and witness.stdout.readline().strip() == "ready"
        control.kill_after("sagemaker", "CreateModel", witness.pid, signal=signal.SIGTERM)
        create_model(aws("sagemaker"), "m-seen")
        assert witness.stdout.readline().strip() == "exists"
        assert witness.wait(timeout=10) == 0
    finally:
        witness.kill()
        witness.wait()


# ------------------------------------------------------------------ stats and control


@pytest.mark.localaws
def test_stats_count_per_kind_and_operation_and_clear_resets(
    control: FaultClient, aws: Callable[[str], Any], local_aws: LocalAws
) -> None:
    sm = aws("sagemaker")
    control.throttle(service="sagemaker", operation="ListEndpoints")
    control.error(status=500, service="sagemaker", operation="ListModels")
    for _ in range(3):
        client_error(sm.list_endpoints)
    client_error(sm.list_models)
    sm.list_endpoint_configs()
    local_aws.reset()  # moto's reset leaves faults alone
    stats = control.clear()
    assert stats.requests == 5
    assert stats.injected == {"throttle": 3, "error": 1}
    assert stats.by_operation == {
        "sagemaker:ListEndpoints": {"throttle": 3},
        "sagemaker:ListModels": {"error": 1},
    }
    assert [(r["id"], r["matched"], r["injected"]) for r in stats.rules] == [(1, 3, 3), (2, 1, 1)]
    after = control.stats()
    assert (after.requests, after.injected, after.rules) == (0, {}, [])
    sm.list_endpoints()


@pytest.mark.localaws
def test_a_separate_local_aws_process_is_driven_the_same_way() -> None:
    from .test_localaws import _start_server, _stop_server, deploy_config

    process, url = _start_server()
    try:
        control = FaultClient(url)
        sm = boto3.client(
            "sagemaker",
            endpoint_url=url,
            region_name=REGION,
            config=ONE_ATTEMPT,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        sm.create_endpoint(EndpointName="remote", EndpointConfigName=deploy_config(sm, "remote"))
        control.set_endpoint_status("remote", "UpdateRollbackFailed", failure_reason="mixed")
        assert control.endpoint_status("remote")["endpointStatus"] == "UpdateRollbackFailed"
        assert sm.describe_endpoint(EndpointName="remote")["FailureReason"] == "mixed"
        control.throttle(service="sagemaker")
        assert client_error(sm.list_endpoints) == ("ThrottlingException", 400)
        assert control.clear().injected == {"throttle": 1}
        sm.list_endpoints()
    finally:
        assert _stop_server(process) == 0
