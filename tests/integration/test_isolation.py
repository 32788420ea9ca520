"""Attacks between tenants on what they share beyond endpoints: API keys and REST APIs, Lambda
functions, the events of an endpoint, the identity AWS calls are made as, and routes left in a
REST API the operator no longer uses. Each runs against the operator as a process and asserts
that the victim's state in AWS and Kubernetes is what it was, and that the attacker's object
says why it got nothing.

The tenants are two namespaces of one cluster: the victim's and the attacker's (who may create,
patch and delete ManagedEndpoints, their status included, in its own namespace only).
"""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from typing import Any

import pytest

from sagemeter.core.endpoint import naming
from sagemeter.core.endpoint.ownership import CLUSTER
from sagemeter.core.route_homes import namespace_api_tags
from sagemeter_sandbox.control import FaultClient
from sagemeter_sandbox.dataplane import user_request_url

from .conftest import Kubectl, Operator, endpoint_object, wait_for
from .test_dataplane import post
from .test_lifecycle import endpoint_name
from .test_ownership import Aws, reason, wait_reason
from .test_tenancy import aws_as

pytestmark = pytest.mark.cluster

TENANT = "111111111111"
TENANT_ROLE = f"arn:aws:iam::{TENANT}:role/sagemeter-tenants"
TENANT_INVOKE_ROLE = f"arn:aws:iam::{TENANT}:role/sagemeter-apigateway"
TENANT_EXECUTION_ROLE = f"arn:aws:iam::{TENANT}:role/sm-tenants"


@pytest.fixture
def aws(sandbox: Any) -> Aws:
    return Aws(sandbox)


@pytest.fixture
def attacker(sandbox: Any, other_namespace: str) -> Kubectl:
    return Kubectl(sandbox, other_namespace)


def keyed_route(kube: Kubectl, sandbox: Any, name: str, path: str) -> tuple[str, str, str]:
    """The object's data-plane URL, its API key and its REST API, once its route serves."""
    status = wait_for(
        f"{name}'s route and key",
        lambda: (s := kube.status(name)).get("apiKeySecret") and s.get("invokeUrl") and s,
        timeout=90,
    )
    secret = kube.get(status["apiKeySecret"], kind="secret")
    assert secret is not None
    api_id = status["invokeUrl"].split("//")[1].split(".")[0]
    url = user_request_url(sandbox.aws_endpoint_url, api_id, "prod", path)
    key = base64.b64decode(secret["data"]["apiKey"]).decode()
    wait_for(f"{name}'s route to serve", lambda: post(url, key)[0] == 200, timeout=90)
    return url, key, api_id


def plans_and_keys(apigateway: Any) -> list[tuple[str, list[dict[str, str]], list[str]]]:
    return sorted(
        (
            plan["name"],
            plan.get("apiStages") or [],
            sorted(
                k["id"] for k in apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
            ),
        )
        for plan in apigateway.get_usage_plans(limit=500)["items"]
    )


def test_an_api_key_opens_only_routes_of_its_own_namespace(
    operator: Operator,
    kube: Kubectl,
    attacker: Kubectl,
    aws: Aws,
    sandbox: Any,
    namespace: str,
    other_namespace: str,
) -> None:
    """Team B took the key from its own Secret and called team A's API_KEY route: it must get
    403, because B's key is bound to B's REST API only (SPEC §2 "API route")."""
    operator.namespaces.append(other_namespace)
    operator.start()
    victim_path, thief_path = f"{namespace}/model", f"{other_namespace}/model"
    kube.apply(endpoint_object("model", api={"path": victim_path, "authorization": "API_KEY"}))
    attacker.apply(endpoint_object("model", api={"path": thief_path, "authorization": "API_KEY"}))
    victim_url, victim_key, victim_api = keyed_route(kube, sandbox, "model", victim_path)
    thief_url, thief_key, thief_api = keyed_route(attacker, sandbox, "model", thief_path)
    assert victim_api != thief_api
    before = (
        aws.state(endpoint_name(namespace, "model"), victim_path),
        plans_and_keys(aws.apigateway),
    )

    assert post(victim_url, thief_key)[0] == 403
    # Not at another path either: nothing of the victim's REST API accepts the thief's key.
    assert (
        post(user_request_url(sandbox.aws_endpoint_url, victim_api, "prod", thief_path), thief_key)[
            0
        ]
        == 403
    )
    assert post(thief_url, victim_key)[0] == 403
    assert post(victim_url, victim_key)[0] == 200 and post(thief_url, thief_key)[0] == 200
    after = (
        aws.state(endpoint_name(namespace, "model"), victim_path),
        plans_and_keys(aws.apigateway),
    )
    assert after == before
    by_id = {api["id"]: api for api in aws.apigateway.get_rest_apis(limit=500)["items"]}
    # Each its namespace's, and of this cluster (the operator's SAGEMETER_CLUSTER_ID).
    for api_id, owner in ((victim_api, namespace), (thief_api, other_namespace)):
        tags = dict(by_id[api_id]["tags"])
        assert tags.pop(CLUSTER) and tags == namespace_api_tags(owner)
    # The number of REST APIs per region is reported (AWS allows 600 per region).
    ours = operator.metrics()
    assert any(k.startswith("sagemeter_rest_apis{") and 'owner="sagemeter"' in k for k in ours)


def function(sandbox: Any, name: str, tags: dict[str, str]) -> str:
    iam, awslambda = aws_as(sandbox, "iam"), aws_as(sandbox, "lambda")
    role = iam.create_role(
        RoleName=f"{name}-role",
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
    return str(
        awslambda.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Handler="handler.handler",
            Role=role,
            Code={"ZipFile": code.getvalue()},
            Tags=tags,
        )["FunctionArn"]
    )


def statements(sandbox: Any, arn: str) -> list[tuple[str, str]]:
    """Who may invoke the function: (statement id, source ARN), each once (moto keeps a
    repeated AddPermission twice; Lambda refuses the second with ResourceConflictException)."""
    awslambda = aws_as(sandbox, "lambda")
    try:
        policy = awslambda.get_policy(FunctionName=arn)["Policy"]
    except awslambda.exceptions.ResourceNotFoundException:
        return []
    return sorted(
        {
            (s["Sid"], json.dumps(s.get("Condition"), sort_keys=True))
            for s in json.loads(policy)["Statement"]
        }
    )


def test_a_route_proxies_only_to_a_lambda_its_namespace_is_entitled_to(
    operator: Operator,
    kube: Kubectl,
    attacker: Kubectl,
    aws: Aws,
    sandbox: Any,
    namespace: str,
    other_namespace: str,
) -> None:
    """Where no EndpointPolicy sets routes.lambdaArns, the attacker points its route at the
    victim's function (and at an untagged one): no permission, no route, LambdaNotAllowed."""
    victims = function(sandbox, f"{namespace}-fn", {"sagemeter.io/namespace": namespace})
    stray = function(sandbox, f"{namespace}-stray", {})
    operator.namespaces.append(other_namespace)
    operator.start()
    kube.apply(endpoint_object("front", api={"path": f"{namespace}/front", "lambdaArn": victims}))
    wait_for("the victim's route", lambda: kube.status("front").get("invokeUrl"), timeout=90)
    before = (
        statements(sandbox, victims),
        aws.state(endpoint_name(namespace, "front"), f"{namespace}/front"),
    )
    assert len(before[0]) == 1  # the victim's own route may invoke it

    for name, target in (("steal", victims), ("stray", stray)):
        attacker.apply(
            endpoint_object(name, api={"path": f"{other_namespace}/{name}", "lambdaArn": target})
        )
        wait_reason(attacker, name, "LambdaNotAllowed")
        message = attacker.condition(name, "Degraded")["message"]
        assert f"sagemeter.io/namespace={other_namespace}" in message
        assert aws.route(f"{other_namespace}/{name}") is None
        assert not attacker.status(name).get("invokeUrl")
    assert statements(sandbox, stray) == []
    after = (
        statements(sandbox, victims),
        aws.state(endpoint_name(namespace, "front"), f"{namespace}/front"),
    )
    assert after == before
    assert kube.condition("front", "Degraded").get("status") != "True"


EVENT_PATH = 60.0  # seconds: far below the 5-minute sync interval, far above an event's path


def test_a_conflicting_object_never_takes_the_victims_events(
    operator: Operator,
    kube: Kubectl,
    attacker: Kubectl,
    aws: Aws,
    sandbox: Any,
    namespace: str,
    other_namespace: str,
) -> None:
    """An EndpointNameConflict object once took the victim's events (last writer won): the
        victim's idle park came at its next sync, minutes late. Deleting the conflicting object then
        dropped the routing altogether. Here the victim parks through its events both times, long
    before the sync."""
    shared = f"{namespace}-evented"
    operator.namespaces.append(other_namespace)
    # The safety net far away: what happens within seconds came through the event queue.
    # (Polls only follow SageMaker's transitions: Deleting to gone, Creating to InService.)
    operator.start(SAGEMETER_SYNC_INTERVAL="5m", SAGEMETER_POLL_INTERVAL="2s")
    idle = {"after": "30m", "gracePeriod": "0s"}
    kube.apply(endpoint_object("victim", endpointName=shared, idle=idle))
    kube.wait_phase("victim", "InService", timeout=60)
    attacker.apply(endpoint_object("thief", endpointName=shared, idle=idle))
    wait_reason(attacker, "thief", "EndpointNameConflict")
    alarm = naming.alarm_name(shared)
    wait_for(
        "the idle alarm", lambda: aws.cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    )

    def park_within_seconds() -> float:
        deletes = operator.aws_calls().get("sagemaker:DeleteEndpoint", 0)
        fired = time.monotonic()
        aws.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test")
        wait_for(
            "the victim's park",
            lambda: operator.aws_calls().get("sagemaker:DeleteEndpoint", 0) > deletes,
            timeout=EVENT_PATH,
        )
        return time.monotonic() - fired

    first = park_within_seconds()
    assert kube.wait_phase("victim", "Parked")["parkedReason"] == "Idle"
    # Woken again, the victim owns the new incarnation; then the conflicting object goes.
    kube.sandbox.kubectl_run(
        "annotate", "mep", "victim", "-n", namespace, "sagemeter.io/wake=again", "--overwrite"
    )
    kube.wait_phase("victim", "InService", timeout=60)
    wait_for(
        "the new alarm", lambda: aws.cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    )
    attacker.delete("thief", wait=True)
    second = park_within_seconds()
    print(
        f"\nidle park with a conflicting object: {first:.2f} s;"
        f" after it was deleted: {second:.2f} s"
    )
    # Both parks came through the event queue: the sync that would otherwise find the alarm
    # is 5 minutes away (seconds on a quiet machine; the bound leaves room for a loaded one).
    assert 0 < first < EVENT_PATH and 0 < second < EVENT_PATH
    assert reason(kube, "victim") in (None, "AsExpected")


def test_routes_written_under_another_rest_api_id_are_removed_from_it(
    operator: Operator, kube: Kubectl, aws: Aws, sandbox: Any, namespace: str
) -> None:
    """SAGEMETER_API_REST_API_ID changed: the route left in the old REST API once stayed there
    after every object was gone, and status kept the old URL."""
    first = aws.apigateway.create_rest_api(name=f"{namespace}-platform-1")["id"]
    second = aws.apigateway.create_rest_api(name=f"{namespace}-platform-2")["id"]
    path = f"{namespace}/iam"
    operator.start(SAGEMETER_API_REST_API_ID=first)
    kube.apply(endpoint_object("iam", api={"path": path}))
    wait_for("the route in the first API", lambda: first in kube.status("iam").get("invokeUrl", ""))
    operator.stop()
    operator.start(SAGEMETER_API_REST_API_ID=second)
    wait_for(
        "the route to move", lambda: second in kube.status("iam").get("invokeUrl", ""), timeout=90
    )
    moved = [e for e in kube.wait_event("iam", "RouteMoved") if e["reason"] == "RouteMoved"]
    assert moved and first in moved[-1]["message"] and second in moved[-1]["message"]

    def has_route(api_id: str) -> bool:
        items = aws.apigateway.get_resources(restApiId=api_id, limit=500)["items"]
        return any(i["path"] == f"/{path}" for i in items)

    assert not has_route(first) and has_route(second)
    # Unset now: the route goes to the namespace's own REST API, and leaves the second.
    operator.stop()
    operator.start()
    wait_for(
        "the route to leave the platform's API",
        lambda: not has_route(second) and kube.status("iam").get("invokeUrl", "").find(second) < 0,
        timeout=90,
    )
    kube.delete("iam", wait=True)
    assert aws.route(path) is None  # nowhere at all


def test_a_forged_status_url_points_the_removal_at_nothing_of_the_victims(
    operator: Operator,
    kube: Kubectl,
    attacker: Kubectl,
    aws: Aws,
    sandbox: Any,
    namespace: str,
    other_namespace: str,
) -> None:
    """Status is a cache, never a credential: the attacker writes the victim's REST API into its
    own status.invokeUrl (at the victim's very path) and then deletes its object."""
    operator.namespaces.append(other_namespace)
    operator.start()
    path = f"{namespace}/shared-path"
    kube.apply(endpoint_object("model", api={"path": path, "authorization": "API_KEY"}))
    _, _, victim_api = keyed_route(kube, sandbox, "model", path)
    attacker.apply(endpoint_object("model", api={"path": path, "authorization": "API_KEY"}))
    keyed_route(attacker, sandbox, "model", path)  # its own REST API: no conflict
    operator.stop()
    forged = f"https://{victim_api}.execute-api.us-east-1.amazonaws.com/prod/{path}"
    sandbox.kubectl_run(
        "patch",
        "mep",
        "model",
        "-n",
        other_namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"invokeUrl": forged}}),
    )

    def victim_state() -> tuple[Any, Any]:
        resources = aws.apigateway.get_resources(restApiId=victim_api, limit=500, embed=["methods"])
        return (
            sorted(
                (r["path"], json.dumps(r.get("resourceMethods"), sort_keys=True, default=str))
                for r in resources["items"]
            ),
            [p for p in plans_and_keys(aws.apigateway) if p[0] == f"sagemeter/{namespace}"],
        )

    before = victim_state()
    faults = FaultClient(sandbox.aws_endpoint_url)
    since = time.time()
    operator.start()
    attacker.delete("model", wait=True)
    assert victim_state() == before
    touched = [
        e
        for e in faults.requests(since=since, contains=f"/restapis/{victim_api}/")
        if not e["call"].split(":")[1].startswith(("Get", "CreateDeployment"))
    ]
    assert touched == []
    assert kube.status("model")["invokeUrl"].startswith(f"https://{victim_api}.")
