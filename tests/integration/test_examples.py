"""Every file in examples/ reconciled, not only admitted: applied into a fresh namespace with
the operator running, each reaches the phase it promises (InService, or Parked with the
reason its meter or schedule gives at this moment), with no Degraded condition, and its
route answers through the local data plane.

What the examples expect from outside sagemeter (a pipeline's EndpointConfig, a notebook's
endpoint carrying the adopt tag, the platform team's REST API with a token authorizer) is
made by ``sagemeter_sandbox.examples.prepare``, as ``make demo`` does. One operator, set up
as those examples need (``SAGEMETER_ADOPT_TAG``, ``SAGEMETER_API_REST_API_ID``), watches a
namespace per example.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagemeter.core.meter.times import parse_time
from sagemeter_sandbox import Sandbox
from sagemeter_sandbox.examples import (
    TOKEN,
    Prerequisites,
    call_route,
    expected_state,
    local_url,
    prepare,
)

from .conftest import Kubectl, Operator, wait_for

pytestmark = pytest.mark.cluster

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))
QUESTION = {"inputs": "What is a parking meter?"}


@dataclass
class Setup:
    prerequisites: Prerequisites
    operator: Operator
    namespaces: dict[str, str]  # example file stem -> its namespace


@pytest.fixture(scope="module")
def setup(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    run = secrets.token_hex(3)
    # A tag of this module's own: no other test's operator may adopt the notebook endpoint.
    prerequisites = prepare(sandbox.aws_endpoint_url, adopt_tag=f"sagemeter-examples={run}")
    namespaces = {path.stem: f"ex-{run}-{path.stem}"[:63] for path in EXAMPLES}
    # Tag discovery puts what it finds in a namespace nobody watches here: the examples
    # adopt explicitly, and a discovered twin must not race them for the endpoint.
    discovered = f"ex-{run}-discovered"
    for name in (*namespaces.values(), discovered):
        sandbox.kubectl_run("create", "namespace", name)
    operator = Operator(
        sandbox, namespaces[EXAMPLES[0].stem], tmp_path_factory.mktemp("examples") / "operator.log"
    )
    operator.namespaces = list(namespaces.values())
    operator.start(**prerequisites.operator_env(), SAGEMETER_ADOPT_NAMESPACE=discovered)
    try:
        yield Setup(prerequisites, operator, namespaces)
        # Deleting every example cleans AWS up for the tests that follow (Retain excepted).
        for namespace in namespaces.values():
            sandbox.kubectl_run("delete", "mep", "--all", "-n", namespace, "--wait=false")
        for namespace in namespaces.values():
            kube = Kubectl(sandbox, namespace)
            wait_for(f"the objects in {namespace} to go", lambda k=kube: not _items(k))
    finally:
        operator.stop()
        for name in (*namespaces.values(), discovered):
            sandbox.kubectl_run("delete", "namespace", name, "--wait=false", check=False)


def _items(kube: Kubectl) -> list[dict[str, Any]]:
    listing = kube.sandbox.kubectl_run("get", "mep", "-n", kube.namespace, "-o", "json")
    return list(json.loads(listing.stdout)["items"])


def settled(kube: Kubectl, name: str) -> dict[str, Any] | None:
    """The object once it is where its spec says it should be right now (recomputed at each
    look, so a schedule edge or an expiry passing during the test is followed)."""
    obj = kube.get(name)
    if obj is None:
        return None
    status = obj.get("status") or {}
    expected = expected_state(
        obj["spec"], parse_time(obj["metadata"]["creationTimestamp"]), datetime.now(UTC)
    )
    done = (
        status.get("phase") == expected.phase
        and status.get("parkedReason") == expected.reason
        and status.get("observedGeneration") == obj["metadata"]["generation"]
    )
    return obj if done else None


def _credentials(authorization: str, status: dict[str, Any], kube: Kubectl) -> dict[str, Any]:
    """How a user of the route authenticates (docs/calling-endpoints.md)."""
    if authorization == "API_KEY":
        secret = wait_for("the API key Secret", lambda: kube.get(status["apiKeySecret"], "secret"))
        return {"api_key": base64.b64decode(secret["data"]["apiKey"]).decode()}
    if authorization == "CUSTOM":
        return {"token": TOKEN}  # what the platform's Lambda authorizer accepts
    return {"sigv4_region": "us-east-1"}


# Calls the route must refuse, and with what.
REFUSED: dict[str, list[tuple[dict[str, Any], int]]] = {
    "AWS_IAM": [({}, 403)],
    "API_KEY": [({}, 403), ({"api_key": "not-the-key"}, 403)],
    "CUSTOM": [({}, 401), ({"token": "guess"}, 401)],  # the authorizer Lambda really runs
}


def check_route(kube: Kubectl, obj: dict[str, Any], serving: bool) -> None:
    """The example's route, called as its users would: the model answers while the endpoint
    serves; while it is parked the route stays and its authorization still holds."""
    api = obj["spec"]["api"]
    status = wait_for(
        "the route", lambda: (s := kube.status(obj["metadata"]["name"])).get("invokeUrl") and s
    )
    assert status["invokeUrl"].endswith(f"/prod/{api['path']}")
    url = local_url(kube.sandbox.aws_endpoint_url, status["invokeUrl"])
    credentials = _credentials(api["authorization"], status, kube)
    # Served once the operator's coalesced deployment includes the route.
    if serving:
        answer = wait_for(
            "the model's answer",
            lambda: (a := call_route(url, QUESTION, **credentials)).status == 200 and a,
        )
        assert answer.json() == {"endpoint": status["endpointName"], "input": QUESTION}
    else:
        answer = wait_for(
            "the deployed route",
            lambda: (a := call_route(url, QUESTION, **credentials)).status not in (401, 403) and a,
        )
        assert answer.status >= 400, answer  # nothing serves a parked endpoint
    for attempt, refused in REFUSED[api["authorization"]]:
        assert call_route(url, QUESTION, **attempt).status == refused, attempt


def check_aws(name: str, status: dict[str, Any], sagemaker: Any) -> None:
    """What each example promises in SageMaker."""
    endpoint = status.get("endpointName")
    if status["phase"] != "InService":
        assert endpoint is None or _missing(sagemaker, endpoint), f"{endpoint} runs while parked"
        return
    config = sagemaker.describe_endpoint_config(EndpointConfigName=status["endpointConfigName"])
    tags = {
        t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=status["endpointArn"])["Tags"]
    }
    assert tags["sagemeter.io/name"] == name
    if name == "fraud-scorer":  # the pipeline's config, used as is
        assert status["endpointConfigName"] == "fraud-scorer-config-v7"
        assert "modelName" not in status
    if name == "notebook-endpoint":
        assert tags["sagemeter.io/adopted"] == "true"
        assert status["endpointConfigName"] == "notebook-config"
    if name == "whisper-batch":
        output = config["AsyncInferenceConfig"]["OutputConfig"]
        assert output["S3OutputPath"] == "s3://sagemeter-results/whisper/out"
    if name == "sentiment":
        serverless = config["ProductionVariants"][0]["ServerlessConfig"]
        assert serverless == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    if name == "falcon":
        model = sagemaker.describe_model(ModelName=status["modelName"])["PrimaryContainer"]
        assert "huggingface-pytorch-tgi-inference" in model["Image"]


def _missing(sagemaker: Any, endpoint: str) -> bool:
    try:
        sagemaker.describe_endpoint(EndpointName=endpoint)
    except sagemaker.exceptions.ClientError:
        return True
    return False


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_reaches_the_phase_it_promises(
    setup: Setup, sandbox: Sandbox, sagemaker: Any, example: Path
) -> None:
    kube = Kubectl(sandbox, setup.namespaces[example.stem])
    name = yaml.safe_load(example.read_text())["metadata"]["name"]
    sandbox.kubectl_run(
        "apply", "-n", kube.namespace, "-f", "-", input=setup.prerequisites.manifest(example)
    )
    obj = wait_for(f"{name} to settle", lambda: settled(kube, name), timeout=60)
    status = obj["status"]
    conditions = {c["type"]: c for c in status.get("conditions", [])}
    degraded = conditions.get("Degraded", {})
    assert degraded.get("status", "False") == "False", degraded
    if status["phase"] == "InService":
        assert conditions["Ready"]["status"] == "True"
    else:
        parked = conditions["Parked"]
        assert (parked["status"], parked["reason"]) == ("True", status["parkedReason"])
    warnings = [e for e in kube.events(name) if e["type"] == "Warning"]
    assert not warnings, warnings
    check_aws(name, status, sagemaker)
    if obj["spec"].get("api"):
        check_route(kube, obj, serving=status["phase"] == "InService")
