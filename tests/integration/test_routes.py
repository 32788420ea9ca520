"""API routes through the operator: every authorization mode, Lambda proxy, header
pass-through, conflicts, moves, removal, parking, restarts and a burst of 30."""

from __future__ import annotations

import base64
import io
import json
import sys
import time
import zipfile
from typing import Any

import boto3
import pytest

from sagemeter.core.endpoint.ownership import CLUSTER
from sagemeter.core.route_homes import namespace_api_tags

from .conftest import Kubectl, Operator, endpoint_object, wait_for
from .test_lifecycle import endpoint_name

pytestmark = pytest.mark.cluster


@pytest.fixture
def apigw(sandbox: Any) -> Any:
    return boto3.client(
        "apigateway",
        region_name="us-east-1",
        endpoint_url=sandbox.aws_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def rest_api(apigw: Any, namespace: str) -> str:
    """The namespace's own REST API (SPEC §2: one per namespace, account and region)."""
    apis = [
        a
        for a in apigw.get_rest_apis(limit=500)["items"]
        if {k: v for k, v in (a.get("tags") or {}).items() if k != CLUSTER}
        == namespace_api_tags(namespace)
    ]
    assert len(apis) == 1, apis  # never duplicated
    return str(apis[0]["id"])


def resource(apigw: Any, api_id: str, path: str) -> dict[str, Any] | None:
    for item in apigw.get_resources(restApiId=api_id, limit=500)["items"]:
        if item["path"] == f"/{path}":
            return dict(item)
    return None


def method(apigw: Any, api_id: str, path: str) -> dict[str, Any]:
    found = resource(apigw, api_id, path)
    assert found is not None, path
    return dict(apigw.get_method(restApiId=api_id, resourceId=found["id"], httpMethod="POST"))


def routed(kube: Kubectl, name: str) -> dict[str, Any]:
    return wait_for(f"{name}'s invoke URL", lambda: (s := kube.status(name)).get("invokeUrl") and s)


def test_iam_route_integrates_sagemaker_and_passes_headers(
    operator: Operator, kube: Kubectl, apigw: Any, namespace: str
) -> None:
    operator.start()
    kube.apply(endpoint_object("iam", api={"path": f"{namespace}/iam"}))
    kube.apply(
        endpoint_object(
            "queued",
            inferenceType="Async",
            api={"path": f"{namespace}/queued"},
            **{"async": {"outputS3Uri": "s3://results-bucket/out"}},
        )
    )
    status = routed(kube, "iam")
    api_id = rest_api(apigw, namespace)
    assert status["invokeUrl"] == (
        f"https://{api_id}.execute-api.us-east-1.amazonaws.com/prod/{namespace}/iam"
    )
    post = method(apigw, api_id, f"{namespace}/iam")
    assert post["authorizationType"] == "AWS_IAM"
    integration = post["methodIntegration"]
    assert integration["type"] == "AWS"
    assert integration["uri"] == (
        "arn:aws:apigateway:us-east-1:runtime.sagemaker:path//endpoints/"
        f"{endpoint_name(namespace, 'iam')}/invocations"
    )
    assert integration["credentials"].endswith("role/sagemeter-apigateway")
    mapped = integration["requestParameters"]
    for header in ("Content-Type", "Accept", "X-Amzn-SageMaker-Custom-Attributes"):
        assert mapped[f"integration.request.header.{header}"] == f"method.request.header.{header}"

    routed(kube, "queued")
    queued = method(apigw, api_id, f"{namespace}/queued")["methodIntegration"]
    assert queued["uri"].endswith(
        f"/endpoints/{endpoint_name(namespace, 'queued')}/async-invocations"
    )
    assert (
        "integration.request.header.X-Amzn-SageMaker-InputLocation" in (queued["requestParameters"])
    )


def test_api_key_route_keeps_the_key_in_an_owned_secret(
    operator: Operator, kube: Kubectl, apigw: Any, namespace: str
) -> None:
    operator.start()
    kube.apply(
        endpoint_object("keyed", api={"path": f"{namespace}/keyed", "authorization": "API_KEY"})
    )
    status = routed(kube, "keyed")
    assert status["apiKeySecret"] == "keyed-api-key"
    secret = kube.get("keyed-api-key", kind="secret")
    assert secret is not None
    owner = secret["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("ManagedEndpoint", "keyed")
    key_value = base64.b64decode(secret["data"]["apiKey"]).decode()
    api_id = rest_api(apigw, namespace)
    assert method(apigw, api_id, f"{namespace}/keyed")["apiKeyRequired"] is True
    keys = [k for k in apigw.get_api_keys(includeValues=True)["items"] if k["value"] == key_value]
    assert len(keys) == 1
    plans = apigw.get_usage_plans(keyId=keys[0]["id"])["items"]
    assert {"apiId": api_id, "stage": "prod"} in [
        {"apiId": s["apiId"], "stage": s["stage"]} for s in plans[0]["apiStages"]
    ]
    assert key_value not in json.dumps(kube.get("keyed")) and key_value not in operator.logs()

    kube.delete("keyed")
    wait_for("the object to go", lambda: kube.get("keyed") is None)
    assert resource(apigw, api_id, f"{namespace}/keyed") is None
    assert not [k for k in apigw.get_api_keys()["items"] if k["id"] == keys[0]["id"]]
    wait_for("the Secret to follow its owner", lambda: kube.get("keyed-api-key", "secret") is None)


def test_refused_routes_are_degraded_and_the_endpoint_still_runs(
    operator: Operator, kube: Kubectl, namespace: str
) -> None:
    operator.start()
    kube.apply(endpoint_object("open", api={"path": f"{namespace}/open", "authorization": "NONE"}))
    kube.apply(
        endpoint_object(
            "custom",
            api={
                "path": f"{namespace}/custom",
                "authorization": "CUSTOM",
                "authorizerId": "nosuch1",
            },
        )
    )
    for name, reason in (("open", "UnauthenticatedRouteRefused"), ("custom", "AuthorizerNotFound")):
        wait_for(
            f"{name}: {reason}",
            lambda n=name, r=reason: kube.condition(n, "Degraded").get("reason") == r,
        )
        assert kube.wait_phase(name, "InService")  # the endpoint is not held hostage
        assert "invokeUrl" not in kube.status(name)


def test_unauthenticated_routes_when_the_operator_allows_them(
    operator: Operator, kube: Kubectl, apigw: Any, namespace: str
) -> None:
    operator.start(SAGEMETER_ALLOW_UNAUTHENTICATED_ROUTES="true")
    kube.apply(
        endpoint_object("public", api={"path": f"{namespace}/public", "authorization": "NONE"})
    )
    routed(kube, "public")
    assert (
        method(apigw, rest_api(apigw, namespace), f"{namespace}/public")["authorizationType"]
        == "NONE"
    )


def test_lambda_proxy_route(
    operator: Operator, kube: Kubectl, apigw: Any, sandbox: Any, namespace: str
) -> None:
    def aws(service: str) -> Any:
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=sandbox.aws_endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    awslambda = aws("lambda")
    role = aws("iam").create_role(
        RoleName=f"{namespace}-proxy-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    function = awslambda.create_function(
        FunctionName=f"{namespace}-proxy",
        Runtime="python3.12",
        Handler="handler.handler",
        Role=role,
        Code={"ZipFile": code.getvalue()},
        # Where no policy says, a route proxies only to its namespace's functions (SPEC §5).
        Tags={"sagemeter.io/namespace": namespace},
    )["FunctionArn"]
    operator.start()
    kube.apply(
        endpoint_object("proxied", api={"path": f"{namespace}/proxied", "lambdaArn": function})
    )
    routed(kube, "proxied")
    integration = method(apigw, rest_api(apigw, namespace), f"{namespace}/proxied")[
        "methodIntegration"
    ]
    assert integration["type"] == "AWS_PROXY"
    assert integration["uri"] == (
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function}/invocations"
    )
    policy = json.loads(awslambda.get_policy(FunctionName=function)["Policy"])
    principals = [s["Principal"] for s in policy["Statement"]]
    assert {"Service": "apigateway.amazonaws.com"} in principals


def test_conflict_move_park_and_removal(
    operator: Operator, kube: Kubectl, apigw: Any, namespace: str
) -> None:
    operator.start()
    path = f"{namespace}/shared"
    kube.apply(endpoint_object("first", api={"path": path}))
    first = routed(kube, "first")
    kube.apply(endpoint_object("second", api={"path": path}))
    wait_for(
        "the conflict",
        lambda: kube.condition("second", "Degraded").get("reason") == "RouteConflict",
    )
    api_id = rest_api(apigw, namespace)
    integration = method(apigw, api_id, path)["methodIntegration"]
    assert endpoint_name(namespace, "first") in integration["uri"]  # the owner is untouched
    assert kube.status("first")["invokeUrl"] == first["invokeUrl"]

    kube.patch("first", {"spec": {"api": {"path": f"{namespace}/moved"}}})
    wait_for("the move", lambda: kube.status("first").get("invokeUrl", "").endswith("/moved"))
    assert resource(apigw, api_id, f"{namespace}/moved") is not None
    # The old path is free now, so the second object gets it.
    wait_for(
        "the freed path",
        lambda: (
            kube.condition("second", "Degraded").get("status") == "False"
            and kube.status("second").get("invokeUrl", "").endswith("/shared")
        ),
    )

    kube.patch("first", {"spec": {"suspend": True}})
    kube.wait_phase("first", "Parked")
    assert kube.status("first")["invokeUrl"].endswith("/moved")  # parking keeps the route
    assert resource(apigw, api_id, f"{namespace}/moved") is not None

    kube.patch("first", {"spec": {"api": None}})
    wait_for("the removal", lambda: "invokeUrl" not in kube.status("first"))
    assert resource(apigw, api_id, f"{namespace}/moved") is None


def test_a_restart_reuses_the_rest_api(
    operator: Operator, kube: Kubectl, apigw: Any, namespace: str
) -> None:
    operator.start()
    kube.apply(endpoint_object("before", api={"path": f"{namespace}/before"}))
    routed(kube, "before")
    api_id = rest_api(apigw, namespace)
    operator.stop()
    operator.start()
    kube.apply(endpoint_object("after", api={"path": f"{namespace}/after"}))
    routed(kube, "after")
    assert rest_api(apigw, namespace) == api_id
    assert kube.status("before")["invokeUrl"].startswith(f"https://{api_id}.")


def test_a_burst_of_thirty_routes_coalesces_deployments(
    operator: Operator, kube: Kubectl, namespace: str
) -> None:
    operator.start()
    count = 30
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                endpoint_object(f"route-{i:02d}", api={"path": f"{namespace}/r{i:02d}"})
                for i in range(count)
            ],
        }
    )
    started = time.monotonic()

    def all_routed() -> bool:
        listing = kube.sandbox.kubectl_run("get", "mep", "-n", namespace, "-o", "json")
        items = json.loads(listing.stdout)["items"]
        return len(items) == count and all((i.get("status") or {}).get("invokeUrl") for i in items)

    wait_for("30 routes", all_routed, timeout=180)
    deployments = operator.aws_calls().get("apigateway:CreateDeployment", 0)
    print(
        f"\nroutes: {count} routes in {time.monotonic() - started:.1f}s with "
        f"{deployments} deployments",
        file=sys.stderr,
    )
    # Coalesced: at most one deployment per 5 s per account, so their number follows how long
    # the routes took to arrive, not how many there are (one each would be 30).
    assert 1 <= deployments <= count // 3
