"""A ManagedEndpoint's route called over HTTP through the sandbox's local data plane, with the
operator running: the model answers through the route once it is deployed, and a parked
endpoint's route answers 503 saying why while the route stays in place."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from sagemeter.sandbox.dataplane import user_request_url

from .conftest import Kubectl, Operator, endpoint_object, wait_for
from .test_lifecycle import endpoint_name

pytestmark = pytest.mark.cluster


def post(url: str, key: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    answer = call(url, key, headers)
    return answer[0], answer[1]


def call(
    url: str, key: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST through the local data plane: status, JSON body, response headers."""
    request = urllib.request.Request(
        url, data=b'{"inputs": "Hi"}', method="POST",
        headers={"x-api-key": key, "Content-Type": "application/json", **(headers or {})},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def test_route_serves_the_endpoint_and_a_parked_one_answers_503(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    operator.start()
    path = f"{namespace}/served"
    kube.apply(endpoint_object("served", api={"path": path, "authorization": "API_KEY"}))
    kube.wait_phase("served", "InService")
    # The key's Secret can be reported before the route's deployment (and its URL).
    status = wait_for("the route and its key", lambda: (s := kube.status("served"))
                      .get("apiKeySecret") and s.get("invokeUrl") and s)  # fmt: skip
    secret = kube.get(status["apiKeySecret"], kind="secret")
    assert secret is not None
    key = base64.b64decode(secret["data"]["apiKey"]).decode()
    api_id = status["invokeUrl"].split("//")[1].split(".")[0]
    url = user_request_url(sandbox.aws_endpoint_url, api_id, "prod", path)
    name = endpoint_name(namespace, "served")

    # Served once the operator's coalesced deployment includes the route.
    served = wait_for("the deployed route", lambda: (a := post(url, key))[0] == 200 and a)
    assert served[1] == {"endpoint": name, "input": {"inputs": "Hi"}}

    kube.patch("served", {"spec": {"suspend": True}})
    kube.wait_phase("served", "Parked")
    # Once the route's switch is deployed it says why, and never reaches SageMaker.
    parked = wait_for("the parked answer", lambda: (a := call(url, key))[0] == 503 and a)
    assert parked[1] == {"state": "parked", "reason": "Suspended"}
    assert parked[2].get("Sagemeter-State") == "parked"
    assert "Retry-After" not in parked[2]
    assert kube.status("served")["invokeUrl"] == status["invokeUrl"]  # the route stays
