"""Routes moving between REST APIs, and the pace of deployments.

An operator upgraded from sagemeter's one shared REST API per account and region finds its
`API_KEY` routes there: each moves to its namespace's REST API without one failed request (the
new route serves, with the same key, before the old one goes), the status shows the new URL
and an Event says so, and the shared REST API goes once it is empty. CreateDeployment, which
API Gateway allows once per 5 s per account and region, is never sent faster, whichever REST
API it is for: the local AWS refuses it sooner, and its request log shows the gaps.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import boto3
import pytest

from sagemeter.api.models import Authorization
from sagemeter.aws.apigateway import ApiGatewayGateway
from sagemeter.core.endpoint.ownership import MANAGED_BY, OPERATOR, Owner
from sagemeter.core.route_methods import build_method_config
from sagemeter.core.routes import RouteSpec, resource_path
from sagemeter.routes.tree import ResourceTree
from sagemeter_sandbox.control import FaultClient
from sagemeter_sandbox.dataplane import user_request_url

from .conftest import Kubectl, Operator, endpoint_object, wait_for
from .test_dataplane import post
from .test_lifecycle import endpoint_name

pytestmark = pytest.mark.cluster

INVOKE_ROLE = "arn:aws:iam::123456789012:role/sagemeter-apigateway"


def apigateway(sandbox: Any) -> Any:
    return boto3.client(
        "apigateway",
        region_name="us-east-1",
        endpoint_url=sandbox.aws_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def api_of(url: str) -> str:
    return url.split("//")[1].split(".")[0]


def as_before_namespace_apis(sandbox: Any, kube: Kubectl, name: str, path: str) -> tuple[str, str]:
    """Puts the object's route back where sagemeter kept it before namespace REST APIs: in one
    REST API tagged only as sagemeter's, with a usage plan of the object's own bound to its
    stage, and status pointing there. Returns (that REST API, the key)."""
    client = apigateway(sandbox)
    obj = kube.get(name)
    assert obj is not None
    status, uid = obj["status"], obj["metadata"]["uid"]
    owner = Owner(kube.namespace, name, uid)
    current = api_of(status["invokeUrl"])
    key = client.get_api_keys(nameQuery=f"sagemeter/{kube.namespace}/{name}", includeValues=True)
    [key_item] = key["items"]
    legacy = client.create_rest_api(name="sagemeter", tags={MANAGED_BY: OPERATOR})["id"]
    route = RouteSpec(
        path=path,
        endpoint_name=endpoint_name(kube.namespace, name),
        owner=owner,
        authorization=Authorization.API_KEY,
    )
    gateway = ApiGatewayGateway("us-east-1", client=client)
    tree = ResourceTree(gateway, legacy, time.monotonic)
    tree.load()
    tree.write_route(
        resource_path(path), build_method_config(route, "us-east-1", INVOKE_ROLE), gateway
    )
    time.sleep(5)  # CreateDeployment: once per 5 s per account
    client.create_deployment(restApiId=legacy, stageName="prod")
    plan = client.create_usage_plan(
        name=f"sagemeter/{kube.namespace}/{name}",
        apiStages=[{"apiId": legacy, "stage": "prod"}],
        tags=owner.tags(),
    )["id"]
    client.create_usage_plan_key(usagePlanId=plan, keyId=key_item["id"], keyType="API_KEY")
    # Nothing of the namespace's REST API existed then.
    for each in client.get_usage_plans(limit=500)["items"]:
        if any(s["apiId"] == current for s in each.get("apiStages") or []):
            client.update_usage_plan(
                usagePlanId=each["id"],
                patchOperations=[
                    {"op": "remove", "path": "/apiStages", "value": f"{current}:prod"}
                ],
            )
            client.delete_usage_plan(usagePlanId=each["id"])
    client.delete_rest_api(restApiId=current)
    url = f"https://{legacy}.execute-api.us-east-1.amazonaws.com/prod/{path}"
    sandbox.kubectl_run(
        "patch",
        "mep",
        name,
        "-n",
        kube.namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"invokeUrl": url}}),
    )
    return legacy, str(key_item["value"])


def test_api_key_routes_move_to_their_namespaces_api_without_a_failed_request(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    path = f"{namespace}/keyed"
    operator.start()
    kube.apply(endpoint_object("keyed", api={"path": path, "authorization": "API_KEY"}))
    kube.wait_phase("keyed", "InService")
    wait_for("the route", lambda: kube.status("keyed").get("invokeUrl"), timeout=90)
    operator.stop()
    legacy, key = as_before_namespace_apis(sandbox, kube, "keyed", path)
    old_url = user_request_url(sandbox.aws_endpoint_url, legacy, "prod", path)
    assert post(old_url, key)[0] == 200

    answers: list[tuple[str, int]] = []
    stop = threading.Event()

    def client() -> None:  # a user who follows status.invokeUrl
        while not stop.is_set():
            api = api_of(kube.status("keyed")["invokeUrl"])
            url = user_request_url(sandbox.aws_endpoint_url, api, "prod", path)
            answers.append((api, post(url, key)[0]))

    calling = threading.Thread(target=client, daemon=True)
    calling.start()
    client_api = apigateway(sandbox)
    try:
        operator.start()
        moved = wait_for(
            "the move", lambda: (a := api_of(kube.status("keyed")["invokeUrl"])) != legacy and a
        )

        def legacy_gone() -> bool:
            return legacy not in {a["id"] for a in client_api.get_rest_apis(limit=500)["items"]}

        wait_for("the shared REST API of old to go", legacy_gone, timeout=120)
        time.sleep(1)
    finally:
        stop.set()
        calling.join(30)
    assert [a for a in answers if a[1] != 200] == [], "a request failed during the move"
    apis = [api for api, _ in answers]
    assert legacy in apis and moved in apis and apis.index(moved) > apis.index(legacy)
    events = [e["message"] for e in kube.events("keyed") if e["reason"] == "RouteMoved"]
    assert events and legacy in events[-1] and moved in events[-1]
    # The key is bound to the namespace's REST API only; the per-object plan of old is gone.
    plans = client_api.get_usage_plans(limit=500)["items"]
    mine = [p for p in plans if p["name"].startswith(f"sagemeter/{namespace}")]
    assert [(p["name"], p["apiStages"]) for p in mine] == [
        (f"sagemeter/{namespace}", [{"apiId": moved, "stage": "prod"}])
    ]
    print(f"\nmoved with {len(answers)} requests, all 200")


def test_deployments_are_paced_per_account_and_region_across_rest_apis(
    operator: Operator, sandbox: Any, namespace: str
) -> None:
    faults = FaultClient(sandbox.aws_endpoint_url)
    teams = [namespace, *(f"{namespace}-{i}" for i in (1, 2))]
    for team in teams[1:]:
        sandbox.kubectl_run("create", "namespace", team)
    try:
        operator.namespaces.extend(teams[1:])
        since = time.time()
        operator.start()
        for team in teams:
            Kubectl(sandbox, team).apply(endpoint_object("m", api={"path": f"{team}/m"}))
        for team in teams:
            wait_for(
                f"{team}'s route",
                lambda t=team: Kubectl(sandbox, t).status("m").get("invokeUrl"),
                timeout=120,
            )
        deployments = faults.requests("apigateway:CreateDeployment", since=since)
        assert [d["status"] for d in deployments if d["status"] != 201] == []  # none refused
        times = [d["ts"] for d in deployments]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert len({d["name"].split("/")[2] for d in deployments}) >= 3  # three REST APIs
        assert all(gap >= 5.0 for gap in gaps), gaps
        lag = operator.metrics().get("sagemeter_route_deployment_lag_seconds_count", 0)
        assert lag >= 3
        print(
            f"\n{len(times)} deployments over {len(teams)} REST APIs,"
            f" gaps {[round(g, 2) for g in gaps]} s"
        )
    finally:
        for team in teams[1:]:
            sandbox.kubectl_run("delete", "namespace", team, "--wait=false", check=False)
