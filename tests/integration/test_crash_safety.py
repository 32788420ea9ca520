"""Kill the operator at exact points and prove that a restart converges with no
duplicate and no leaked AWS resource.

The local AWS does the killing (``FaultClient.kill_after``): it sends SIGKILL to the
operator's pid right after the N-th successful matching call, once moto has done the work
and before the response is written, so the operator dies without acting on the answer. The
rules match on the test's namespace, which every name and owner tag sagemeter sends carries.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest

from sagemeter_sandbox import Sandbox
from sagemeter_sandbox.control import FaultClient

from .conftest import Kubectl, Operator, endpoint_object, wait_for
from .test_lifecycle import describe, endpoint_name, owned_names

pytestmark = pytest.mark.cluster


@pytest.fixture
def faults(sandbox: Sandbox) -> Iterator[FaultClient]:
    client = FaultClient(sandbox.aws_endpoint_url)
    try:
        yield client
    finally:
        client.clear()


def kill_operator_after(faults: FaultClient, operator: Operator, call: str, namespace: str) -> None:
    """Arms a SIGKILL of the running operator after ``call`` ("service:Operation") succeeds."""
    assert operator.process is not None
    service, operation = call.split(":")
    faults.kill_after(service, operation, operator.process.pid, contains=namespace)


def assert_killed_by_rule(operator: Operator, faults: FaultClient) -> None:
    assert operator.wait_exit(timeout=60) == -signal.SIGKILL
    assert [rule["outcome"] for rule in faults.stats().rules] == ["signalled"]


@pytest.mark.parametrize(
    "crash_after",
    ["sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint"],
)
def test_crash_during_create_converges_without_duplicates(
    operator: Operator,
    kube: Kubectl,
    sagemaker: Any,
    namespace: str,
    faults: FaultClient,
    crash_after: str,
) -> None:
    operator.start()
    kill_operator_after(faults, operator, crash_after, namespace)
    kube.apply(endpoint_object("crashy"))
    assert_killed_by_rule(operator, faults)
    assert kube.status("crashy").get("phase") != "InService"
    faults.clear()

    operator.start()
    status = kube.wait_phase("crashy", "InService", timeout=90)
    name = endpoint_name(namespace, "crashy")
    models, configs = owned_names(sagemaker, name)
    assert models == [status["modelName"]]
    assert configs == [status["endpointConfigName"]]
    endpoint = describe(sagemaker, name)
    assert endpoint is not None and endpoint["EndpointConfigName"] == status["endpointConfigName"]
    created_again = operator.aws_calls().get("sagemaker:CreateEndpoint", 0)
    assert created_again == (0 if crash_after == "sagemaker:CreateEndpoint" else 1)


def test_crash_right_after_update_converges(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str, faults: FaultClient
) -> None:
    operator.start()
    kube.apply(endpoint_object("crashupdate"))
    kube.wait_phase("crashupdate", "InService")

    kill_operator_after(faults, operator, "sagemaker:UpdateEndpoint", namespace)
    kube.patch("crashupdate", {"spec": {"instanceType": "ml.m5.xlarge"}})
    assert_killed_by_rule(operator, faults)
    faults.clear()

    operator.start()
    status = wait_for(
        "the update to land",
        lambda: (
            (s := kube.status("crashupdate")).get("phase") == "InService"
            and s.get("observedGeneration") == 2
            and s
        ),
        timeout=90,
    )
    assert operator.aws_calls().get("sagemaker:UpdateEndpoint", 0) == 0  # not re-sent
    name = endpoint_name(namespace, "crashupdate")
    endpoint = describe(sagemaker, name)
    assert endpoint is not None and endpoint["EndpointConfigName"] == status["endpointConfigName"]
    _, configs = wait_for(
        "the old config to be cleaned up",
        lambda: len((found := owned_names(sagemaker, name))[1]) == 1 and found,
    )
    assert configs == [status["endpointConfigName"]]


def test_crash_during_delete_still_releases_everything(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str, faults: FaultClient
) -> None:
    operator.start()
    kube.apply(endpoint_object("crashdelete"))
    kube.wait_phase("crashdelete", "InService")

    kill_operator_after(faults, operator, "sagemaker:DeleteEndpoint", namespace)
    kube.delete("crashdelete")
    assert_killed_by_rule(operator, faults)
    assert kube.get("crashdelete") is not None  # the finalizer holds it
    faults.clear()

    operator.start()
    wait_for("the object to be released", lambda: kube.get("crashdelete") is None, timeout=60)
    name = endpoint_name(namespace, "crashdelete")
    assert describe(sagemaker, name) is None
    assert owned_names(sagemaker, name) == ([], [])
    assert operator.aws_calls().get("sagemaker:DeleteEndpoint", 0) == 0  # already gone


def test_sigkill_while_creating_resumes(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    operator.start()
    kube.apply(endpoint_object("killed"))
    kube.wait_phase("killed", "Creating", timeout=30)
    operator.kill()
    wait_for(
        "SageMaker to finish creating while nobody watches",
        lambda: (
            (describe(sagemaker, endpoint_name(namespace, "killed")) or {}).get("EndpointStatus")
            == "InService"
        ),
    )

    operator.start()
    status = kube.wait_phase("killed", "InService", timeout=60)
    assert operator.aws_calls().get("sagemaker:CreateEndpoint", 0) == 0
    models, configs = owned_names(sagemaker, endpoint_name(namespace, "killed"))
    assert (models, configs) == ([status["modelName"]], [status["endpointConfigName"]])
