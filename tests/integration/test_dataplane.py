"""A ManagedEndpoint's route called over HTTP through the sandbox's local data plane, with the
operator running: the model answers through the route once it is deployed, and a parked
endpoint's route answers 503 saying why while the route stays in place."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from sagemeter_sandbox.dataplane import user_request_url
from sagemeter_sandbox.examples import call_route

from .conftest import Kubectl, Operator, endpoint_object, wait_for
from .test_lifecycle import endpoint_name

pytestmark = pytest.mark.cluster


def post(url: str, key: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    answer = call(url, key, headers)
    return answer[0], answer[1]


def call(
    url: str, key: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST through the local data plane with the API key: status, JSON body, headers."""
    answer = call_route(url, {"inputs": "Hi"}, api_key=key, headers=headers)
    return answer.status, json.loads(answer.body or b"{}"), answer.headers


def test_route_serves_the_endpoint_and_a_parked_one_answers_503(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    operator.start()
    path = f"{namespace}/served"
    kube.apply(endpoint_object("served", api={"path": path, "authorization": "API_KEY"}))
    kube.wait_phase("served", "InService")
    # The key's Secret can be reported before the route's deployment (and its URL).
    status = wait_for(
        "the route and its key",
        lambda: (s := kube.status("served")).get("apiKeySecret") and s.get("invokeUrl") and s,
    )
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


def test_every_kind_of_route_through_the_operator(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    """SigV4 (AWS_IAM), the API key refused when missing, custom attributes both ways, and
    an async route answering with where its result will be."""
    operator.start()
    kube.apply(endpoint_object("signed", api={"path": f"{namespace}/signed"}))
    kube.apply(
        endpoint_object("keyed", api={"path": f"{namespace}/keyed", "authorization": "API_KEY"})
    )
    kube.apply(
        endpoint_object(
            "queued",
            inferenceType="Async",
            **{"async": {"outputS3Uri": "s3://bucket/out"}},
            api={"path": f"{namespace}/queued", "authorization": "API_KEY"},
        )
    )
    urls = {}
    for name in ("signed", "keyed", "queued"):
        kube.wait_phase(name, "InService")
        status = wait_for(f"{name}'s URL", lambda n=name: kube.status(n).get("invokeUrl"))
        api_id = status.split("//")[1].split(".")[0]
        urls[name] = user_request_url(
            sandbox.aws_endpoint_url, api_id, "prod", f"{namespace}/{name}"
        )

    signed = wait_for(
        "the signed call",
        lambda: (
            (
                a := call_route(
                    urls["signed"],
                    {"inputs": "Hi"},
                    sigv4_region="us-east-1",
                    headers={"X-Amzn-SageMaker-Custom-Attributes": "trace=abc"},
                )
            ).status
            == 200
            and a
        ),
    )
    assert json.loads(signed.body)["endpoint"] == endpoint_name(namespace, "signed")
    assert signed.headers.get("X-Amzn-SageMaker-Custom-Attributes") == "trace=abc"
    assert call_route(urls["signed"], {"inputs": "Hi"}).status == 403  # not signed

    secret = wait_for("keyed's Secret", lambda: kube.status("keyed").get("apiKeySecret"))
    found = kube.get(secret, kind="secret")
    assert found is not None
    key = base64.b64decode(found["data"]["apiKey"]).decode()
    assert wait_for(
        "the keyed call",
        lambda: call_route(urls["keyed"], {"inputs": "Hi"}, api_key=key).status == 200,
    )
    assert call_route(urls["keyed"], {"inputs": "Hi"}).status == 403  # no key
    assert call_route(urls["keyed"], {"inputs": "Hi"}, api_key="wrong").status == 403

    queued_secret = wait_for("queued's Secret", lambda: kube.status("queued").get("apiKeySecret"))
    queued_key = kube.get(queued_secret, kind="secret")
    assert queued_key is not None
    accepted = wait_for(
        "the async call",
        lambda: (
            (
                a := call_route(
                    urls["queued"],
                    b"",  # the input is in S3: a body too is refused (one or the other)
                    api_key=base64.b64decode(queued_key["data"]["apiKey"]).decode(),
                    headers={"X-Amzn-SageMaker-InputLocation": "s3://bucket/in/1.json"},
                )
            ).status
            == 202
            and a
        ),
    )
    assert accepted.headers["X-Amzn-SageMaker-OutputLocation"].startswith("s3://")
