"""RouteManager and the API Gateway / Lambda gateways against the local AWS: each
authorization mode as API Gateway stores it, header pass-through, Lambda proxy and its
permission, ownership conflicts, path moves, removal and pruning, API keys with usage plans,
a REST API per namespace, a restarted manager finding its REST API, and coalesced deployments
under a concurrent burst. Moving routes out of other REST APIs and pacing are in
``test_route_moves``."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sagemeter.api.models import Authorization
from sagemeter.aws.apigateway import ApiGatewayGateway, LambdaGateway
from sagemeter.aws.backoff import BACKOFFS
from sagemeter.aws.calls import CALLS
from sagemeter.aws.errors import AwsError
from sagemeter.core.endpoint.ownership import Owner
from sagemeter.core.route_homes import namespace_api_tags
from sagemeter.core.routes import (
    ASYNC_REQUEST_HEADERS,
    REALTIME_REQUEST_HEADERS,
    RouteError,
    RouteSpec,
    lambda_integration_uri,
    lambda_statement_id,
    parse_route_record,
    sagemaker_integration_uri,
)
from sagemeter.routes.manager import RouteManager, RouteResult
from sagemeter.runtime.metrics import REST_APIS
from sagemeter.runtime.settings import Settings
from sagemeter_sandbox.control import FaultClient

from .conftest import REGION, client, ensure_deployed, flush, site

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("aws_env")]

ROLE = "arn:aws:iam::123456789012:role/apigw-invokes-sagemaker"
ALICE = Owner("team-a", "falcon", "uid-alice")
BOB = Owner("team-a", "llama", "uid-bob")  # the same namespace: the same REST API
CAROL = Owner("team-c", "mistral", "uid-carol")  # another namespace
SITE = site(invoke_role=ROLE, lambda_globs=())
AUTHORIZER_LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:auth"


def settings(**changes: Any) -> Settings:
    values: dict[str, Any] = {"region": REGION, "api_invoke_role_arn": ROLE, "api_stage": "prod"}
    values.update(changes)
    return Settings(**values)


def spec(path: str, owner: Owner = ALICE, **changes: Any) -> RouteSpec:
    return RouteSpec(path=path, endpoint_name=f"{owner.name}-dev", owner=owner, **changes)


@pytest.fixture
def managers() -> Iterator[Callable[..., RouteManager]]:
    """Makes RouteManagers that are all closed when the test ends, so no deployment thread
    outlives its test and writes into the next one's AWS."""
    made: list[RouteManager] = []

    def make(routes_settings: Settings | None = None, **timing: float) -> RouteManager:
        made.append(RouteManager(routes_settings or settings(), **timing))
        return made[-1]

    yield make
    for routes in made:
        routes.close()


@pytest.fixture
def manager(managers: Callable[..., RouteManager]) -> RouteManager:
    return managers(quiet_seconds=0.3, max_delay_seconds=2.0)


@pytest.fixture
def apigw() -> Any:
    return client("apigateway", REGION)


def resources(apigw: Any, api_id: str) -> dict[str, dict[str, Any]]:
    items = apigw.get_resources(restApiId=api_id, embed=["methods"])["items"]
    return {item["path"]: item for item in items}


def post(apigw: Any, api_id: str, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """GetMethod and GetIntegration of the route at ``path``."""
    resource_id = resources(apigw, api_id)[path]["id"]
    method = apigw.get_method(restApiId=api_id, resourceId=resource_id, httpMethod="POST")
    integration = apigw.get_integration(restApiId=api_id, resourceId=resource_id, httpMethod="POST")
    method.pop("ResponseMetadata")
    integration.pop("ResponseMetadata")
    return method, integration


def calls(operation: str) -> int:
    return CALLS.snapshot().get(f"apigateway:{operation}", 0)


def policy_statements(function_arn: str) -> list[dict[str, Any]]:
    """The function's resource policy statements ([] when it has none)."""
    lambda_ = client("lambda", REGION)
    try:
        policy = lambda_.get_policy(FunctionName=function_arn)["Policy"]
    except lambda_.exceptions.ResourceNotFoundException:
        return []
    statements: list[dict[str, Any]] = json.loads(policy).get("Statement", [])
    return statements


def wait_deployed(manager: RouteManager, routes: list[RouteSpec], seconds: float = 20) -> None:
    """Until the stage serves every route (``ensure`` of a route already made changes nothing)."""
    deadline = time.monotonic() + seconds
    while not all(manager.ensure(route, SITE).deployed for route in routes):
        assert time.monotonic() < deadline, "routes not deployed in time"
        time.sleep(0.05)


# --------------------------------------------------------------------------- modes


def test_iam_route_direct_integration_with_header_pass_through(
    manager: RouteManager, apigw: Any
) -> None:
    result = manager.ensure(spec("team-a/falcon"), SITE)
    api_id = result.rest_api_id
    assert result.invoke_url == (
        f"https://{api_id}.execute-api.{REGION}.amazonaws.com/prod/team-a/falcon"
    )
    assert result.api_key is None and not result.deployed
    method, integration = post(apigw, api_id, "/team-a/falcon")
    assert method["authorizationType"] == "AWS_IAM"
    assert method["apiKeyRequired"] is False
    assert method["requestParameters"] == {
        f"method.request.header.{h}": False for h in REALTIME_REQUEST_HEADERS
    }
    record = parse_route_record(method["operationName"])
    assert record is not None and record.uid == ALICE.uid
    assert integration["type"] == "AWS"
    assert integration["httpMethod"] == "POST"
    assert integration["uri"] == sagemaker_integration_uri(REGION, "falcon-dev")
    assert integration["credentials"] == ROLE
    assert integration["passthroughBehavior"] == "WHEN_NO_MATCH"
    assert (
        integration["requestParameters"][
            "integration.request.header.X-Amzn-SageMaker-Custom-Attributes"
        ]
        == "method.request.header.X-Amzn-SageMaker-Custom-Attributes"
    )
    assert set(integration["integrationResponses"]) == {"200", "400", "500"}
    assert set(method["methodResponses"]) == {"200", "400", "500"}

    flush(manager)
    assert manager.ensure(spec("team-a/falcon"), SITE).deployed
    apis = apigw.get_rest_apis()["items"]
    assert [api["id"] for api in apis] == [api_id]
    assert apis[0]["name"] == "sagemeter-team-a"
    assert apis[0]["tags"] == namespace_api_tags("team-a")
    assert apis[0]["endpointConfiguration"]["types"] == ["REGIONAL"]


def test_async_route_passes_input_location(manager: RouteManager, apigw: Any) -> None:
    result = manager.ensure(spec("falcon-async", async_=True), SITE)
    method, integration = post(apigw, result.rest_api_id, "/falcon-async")
    assert integration["uri"].endswith("/endpoints/falcon-dev/async-invocations")
    assert integration["requestParameters"] == {
        f"integration.request.header.{h}": f"method.request.header.{h}"
        for h in ASYNC_REQUEST_HEADERS
    }
    assert "method.request.header.X-Amzn-SageMaker-InputLocation" in method["requestParameters"]
    assert set(method["methodResponses"]) == {"202", "400", "500"}


def test_custom_authorizer_must_exist(manager: RouteManager, apigw: Any) -> None:
    api_id = manager.ensure(spec("first"), SITE).rest_api_id
    with pytest.raises(RouteError) as missing:
        manager.ensure(
            spec("guarded", BOB, authorization=Authorization.CUSTOM, authorizer_id="nope12"), SITE
        )
    assert missing.value.reason == "AuthorizerNotFound"
    assert "/guarded" not in resources(apigw, api_id)  # nothing half-made

    authorizer = apigw.create_authorizer(
        restApiId=api_id,
        name="token",
        type="TOKEN",
        authorizerUri=lambda_integration_uri(REGION, AUTHORIZER_LAMBDA),
        identitySource="method.request.header.Authorization",
    )["id"]
    manager.ensure(
        spec("guarded", BOB, authorization=Authorization.CUSTOM, authorizer_id=authorizer), SITE
    )
    method, _ = post(apigw, api_id, "/guarded")
    assert method["authorizationType"] == "CUSTOM"
    assert method["authorizerId"] == authorizer


def test_none_is_refused_unless_allowed(managers: Callable[..., RouteManager], apigw: Any) -> None:
    strict = managers()
    open_ = managers(settings(allow_unauthenticated_routes=True))
    with pytest.raises(RouteError) as refused:
        strict.ensure(spec("open", authorization=Authorization.NONE), SITE)
    assert refused.value.reason == "UnauthenticatedRouteRefused"
    assert apigw.get_rest_apis()["items"] == []  # refused before any AWS call
    api_id = open_.ensure(spec("open", authorization=Authorization.NONE), SITE).rest_api_id
    method, _ = post(apigw, api_id, "/open")
    assert (method["authorizationType"], method["apiKeyRequired"]) == ("NONE", False)


# --------------------------------------------------------------------------- API keys


def test_api_key_route_creates_key_and_usage_plan_and_removal_deletes_them(
    managers: Callable[..., RouteManager], manager: RouteManager, apigw: Any
) -> None:
    first = manager.ensure(spec("keyed", authorization=Authorization.API_KEY), SITE)
    # The plan names the stage, which the first deployment makes: not served yet.
    assert first.api_key and not first.deployed
    assert apigw.get_usage_plans()["items"] == []
    result = ensure_deployed(manager, spec("keyed", authorization=Authorization.API_KEY), SITE)
    api_id = result.rest_api_id
    method, _ = post(apigw, api_id, "/keyed")
    assert (method["authorizationType"], method["apiKeyRequired"]) == ("NONE", True)
    assert result.api_key_id == first.api_key_id and result.api_key
    assert "api_key=" not in repr(result) and result.api_key not in repr(result)
    key = apigw.get_api_key(apiKey=result.api_key_id, includeValue=True)
    assert key["value"] == result.api_key
    assert key["name"] == "sagemeter/team-a/falcon"
    assert ALICE.owns(key["tags"])
    # The namespace's plan, bound to its own REST API's stage and nothing else.
    [plan] = apigw.get_usage_plans()["items"]
    assert plan["name"] == "sagemeter/team-a" and plan["tags"] == namespace_api_tags("team-a")
    assert plan["apiStages"] == [{"apiId": api_id, "stage": "prod"}]
    assert apigw.get_stage(restApiId=api_id, stageName="prod")["stageName"] == "prod"
    keys = apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
    assert [k["id"] for k in keys] == [result.api_key_id]

    other = managers()  # another process, which then stops: its deployments never run
    again = other.ensure(spec("keyed", authorization=Authorization.API_KEY), SITE)
    other.close()
    assert (again.api_key_id, again.api_key) == (result.api_key_id, result.api_key)
    assert len(apigw.get_api_keys()["items"]) == 1

    assert manager.remove(ALICE, SITE)
    assert apigw.get_api_keys()["items"] == []
    assert apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"] == []
    assert "/keyed" not in resources(apigw, api_id)
    # The emptied REST API goes, and its plan before it (unbound first: AWS requires it).
    flush(manager)
    assert apigw.get_usage_plans()["items"] == [] and apigw.get_rest_apis()["items"] == []


def test_a_key_made_after_the_namespace_was_listed_is_found_not_made_twice_nor_left(
    managers: Callable[..., RouteManager], manager: RouteManager, apigw: Any
) -> None:
    """The namespace's keys are listed once per manager. A key another process made after that
    (an operator killed before it recorded the key, whose successor listed the namespace
    first) is still its owner's: ensured again it is reused, and the deletion removes it."""
    keyed = {"authorization": Authorization.API_KEY}
    ensure_deployed(manager, spec("falcon", ALICE, **keyed), SITE)  # team-a's keys listed now
    made = managers().ensure(spec("llama", BOB, **keyed), SITE)  # another process, afterwards
    assert made.api_key_id
    again = manager.ensure(spec("llama", BOB, **keyed), SITE)
    assert again.api_key_id == made.api_key_id
    assert sorted(k["name"] for k in apigw.get_api_keys()["items"]) == [
        "sagemeter/team-a/falcon",
        "sagemeter/team-a/llama",
    ]
    fresh = managers()
    ensure_deployed(fresh, spec("falcon", ALICE, **keyed), SITE)  # lists before the next key
    late = managers().ensure(spec("mistral", Owner("team-a", "mistral", "uid-m"), **keyed), SITE)
    assert fresh.remove(Owner("team-a", "mistral", "uid-m"), SITE)
    ids = [k["id"] for k in apigw.get_api_keys()["items"]]
    assert late.api_key_id not in ids and len(ids) == 2


def test_each_namespace_has_its_own_rest_api_and_its_keys_bind_only_there(
    manager: RouteManager, apigw: Any
) -> None:
    keyed = {"authorization": Authorization.API_KEY}
    mine = ensure_deployed(manager, spec("falcon", ALICE, **keyed), SITE)
    also_mine = ensure_deployed(manager, spec("llama", BOB, **keyed), SITE)
    theirs = ensure_deployed(manager, spec("mistral", CAROL, **keyed), SITE)
    assert mine.rest_api_id == also_mine.rest_api_id != theirs.rest_api_id
    by_id = {api["id"]: api for api in apigw.get_rest_apis()["items"]}
    assert by_id[mine.rest_api_id]["tags"] == namespace_api_tags("team-a")
    assert by_id[theirs.rest_api_id]["tags"] == namespace_api_tags("team-c")
    plans = {plan["name"]: plan for plan in apigw.get_usage_plans()["items"]}
    assert {name: plan["apiStages"] for name, plan in plans.items()} == {
        "sagemeter/team-a": [{"apiId": mine.rest_api_id, "stage": "prod"}],
        "sagemeter/team-c": [{"apiId": theirs.rest_api_id, "stage": "prod"}],
    }
    members = {
        name: sorted(k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=p["id"])["items"])
        for name, p in plans.items()
    }
    assert members == {
        "sagemeter/team-a": sorted([mine.api_key_id, also_mine.api_key_id]),
        "sagemeter/team-c": [theirs.api_key_id],
    }


def test_switching_away_from_api_key_deletes_the_key(manager: RouteManager, apigw: Any) -> None:
    ensure_deployed(manager, spec("keyed", authorization=Authorization.API_KEY), SITE)
    result = manager.ensure(spec("keyed"), SITE)
    assert result.api_key is None
    assert apigw.get_api_keys()["items"] == []
    [plan] = apigw.get_usage_plans()["items"]
    assert apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"] == []
    method, _ = post(apigw, result.rest_api_id, "/keyed")
    assert (method["authorizationType"], method["apiKeyRequired"]) == ("AWS_IAM", False)


def test_a_plan_deletion_interrupted_after_unbinding_finishes_on_retry(
    manager: RouteManager, apigw: Any, control: FaultClient
) -> None:
    ensure_deployed(manager, spec("keyed", authorization=Authorization.API_KEY), SITE)
    assert manager.remove(ALICE, SITE)
    control.throttle("apigateway", "DeleteUsagePlan")
    with pytest.raises(AwsError):
        flush(manager)  # the emptied API's plan goes first, and its delete is refused
    [plan] = apigw.get_usage_plans()["items"]
    assert plan.get("apiStages", []) == []  # unbound before the refused delete
    control.clear()
    BACKOFFS.reset()  # the throttle opened the account's backoff
    # The retry knows the plan is unbound already and goes straight to the delete.
    flush(manager)
    assert apigw.get_usage_plans()["items"] == [] and apigw.get_rest_apis()["items"] == []
    assert [r["call"] for r in control.requests("apigateway:UpdateUsagePlan")] == [
        "apigateway:UpdateUsagePlan"
    ]


def test_a_removal_refused_half_way_is_finished_by_the_retry(
    manager: RouteManager, apigw: Any, control: FaultClient
) -> None:
    """The object's deletion retries a removal AWS refused: the retry finds the route still
    there and deletes it. (The cached tree had dropped the method before the refused
    DeleteResource; the retry trusted it, found nothing of the owner's, and the object went
    with its route, and the namespace's usage plan, left in API Gateway.)"""
    result = ensure_deployed(manager, spec("keyed", authorization=Authorization.API_KEY), SITE)
    api_id = result.rest_api_id
    control.throttle("apigateway", "DeleteResource")
    with pytest.raises(AwsError):
        manager.remove(ALICE, SITE)
    assert "POST" in resources(apigw, api_id)["/keyed"]["resourceMethods"]
    control.clear()
    BACKOFFS.reset()  # the throttle opened the account's backoff
    assert manager.remove(ALICE, SITE)
    assert "/keyed" not in resources(apigw, api_id)
    assert apigw.get_api_keys()["items"] == []
    flush(manager)
    assert apigw.get_usage_plans()["items"] == [] and apigw.get_rest_apis()["items"] == []


def test_a_write_refused_half_way_is_still_removed(
    manager: RouteManager, apigw: Any, control: FaultClient
) -> None:
    """A rewrite AWS refused after its PutMethod leaves a POST with the owner's record that
    the cached tree never learnt of; the removal that follows still deletes it."""
    api_id = manager.ensure(spec("falcon"), SITE).rest_api_id
    manager.ensure(spec("team-a/sibling", BOB), SITE)
    control.throttle("apigateway", "PutIntegration")
    with pytest.raises(AwsError):
        manager.ensure(spec("falcon-moved"), SITE)  # a path change: a new POST, then the old
    control.clear()
    BACKOFFS.reset()
    assert "/falcon-moved" in resources(apigw, api_id)
    assert manager.remove(ALICE, SITE)
    left = resources(apigw, api_id)
    assert "/falcon-moved" not in left and "/falcon" not in left
    assert "POST" in left["/team-a/sibling"]["resourceMethods"]


# --------------------------------------------------------------------------- Lambda proxy


def lambda_function(name: str, tags: dict[str, str] | None = None) -> str:
    """A function in the local AWS (created only: invoking would need Docker)."""
    role = client("iam", REGION).create_role(
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
        archive.writestr("handler.py", "def handle(event, context):\n    return {}\n")
    return str(
        client("lambda", REGION).create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="handler.handle",
            Code={"ZipFile": code.getvalue()},
            Tags=tags or {},
        )["FunctionArn"]
    )


def test_lambda_proxy_route_and_permission(manager: RouteManager, apigw: Any) -> None:
    function = lambda_function("front", {"sagemeter.io/namespace": "team-a"})
    result = manager.ensure(spec("via-lambda", lambda_arn=function), SITE)
    api_id = result.rest_api_id
    _, integration = post(apigw, api_id, "/via-lambda")
    assert integration["type"] == "AWS_PROXY"
    assert integration["uri"] == lambda_integration_uri(REGION, function)
    assert not integration.get("credentials")
    statements = policy_statements(function)
    assert len(statements) == 1
    statement = statements[0]
    assert statement["Sid"] == lambda_statement_id(api_id, "via-lambda")
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == (
        f"arn:aws:execute-api:{REGION}:123456789012:{api_id}/*/POST/via-lambda"
    )
    # An existing statement id is fine (the real Lambda answers ResourceConflictException).
    gateway = LambdaGateway(REGION)
    sid = lambda_statement_id(api_id, "via-lambda")
    gateway.add_permission(function, sid, statement["Condition"]["ArnLike"]["AWS:SourceArn"])

    assert manager.remove(ALICE, SITE)
    remaining = [s for s in policy_statements(function) if s["Sid"] == sid]
    assert len(remaining) < 2  # moto keeps duplicates, the real Lambda refuses them


@pytest.mark.parametrize(
    ("tags", "globs", "allowed"),
    [
        ({}, (), False),
        ({"sagemeter.io/namespace": "team-c"}, (), False),  # another namespace's function
        ({"sagemeter.io/namespace": "team-a"}, (), True),
        ({}, ("arn:aws:lambda:us-east-1:123456789012:function:shared-*",), True),
    ],
    ids=["untagged", "other-namespace", "tagged", "operator-glob"],
)
def test_a_lambda_is_proxied_to_only_by_entitlement(
    manager: RouteManager,
    apigw: Any,
    tags: dict[str, str],
    globs: tuple[str, ...],
    allowed: bool,
) -> None:
    function = lambda_function("shared-fn", tags)
    where = site(invoke_role=ROLE, lambda_globs=globs)
    if allowed:
        manager.ensure(spec("via-lambda", lambda_arn=function), where)
        assert len(policy_statements(function)) == 1
        return
    with pytest.raises(RouteError) as refused:
        manager.ensure(spec("via-lambda", lambda_arn=function), where)
    assert refused.value.reason == "LambdaNotAllowed"
    assert "sagemeter.io/namespace=team-a" in refused.value.message
    assert policy_statements(function) == []  # no permission
    for api in apigw.get_rest_apis()["items"]:
        assert "/via-lambda" not in resources(apigw, api["id"])  # no route
    # Where an EndpointPolicy's routes.lambdaArns decides, its guardrail has already allowed it.
    manager.ensure(spec("via-lambda", lambda_arn=function), replace(where, lambda_policed=True))


def test_missing_lambda_is_reported(manager: RouteManager, apigw: Any) -> None:
    missing = "arn:aws:lambda:us-east-1:123456789012:function:gone"
    with pytest.raises(RouteError) as error:
        manager.ensure(spec("via-lambda", lambda_arn=missing), SITE)
    assert error.value.reason == "LambdaNotFound"
    api_id = apigw.get_rest_apis()["items"][0]["id"]
    assert "/via-lambda" not in resources(apigw, api_id)


# --------------------------------------------------------------------------- ownership


def test_route_conflict_leaves_the_owner_untouched(
    managers: Callable[..., RouteManager], manager: RouteManager, apigw: Any
) -> None:
    api_id = manager.ensure(spec("shared"), SITE).rest_api_id
    before, before_integration = post(apigw, api_id, "/shared")
    with pytest.raises(RouteError) as conflict:
        manager.ensure(spec("shared", BOB, authorization=Authorization.API_KEY), SITE)
    assert conflict.value.reason == "RouteConflict"
    assert "team-a/falcon" in conflict.value.message
    # A fresh manager (no cache) refuses too, and removing Bob's routes leaves Alice's.
    other = managers()
    with pytest.raises(RouteError):
        other.ensure(spec("shared", BOB), SITE)
    assert not other.remove(BOB, SITE, path="shared")
    assert post(apigw, api_id, "/shared") == (before, before_integration)
    assert apigw.get_api_keys()["items"] == []


def test_method_not_made_by_sagemeter_is_a_conflict(manager: RouteManager, apigw: Any) -> None:
    api_id = manager.ensure(spec("mine"), SITE).rest_api_id
    root = resources(apigw, api_id)["/"]["id"]
    theirs = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="theirs")["id"]
    apigw.put_method(
        restApiId=api_id,
        resourceId=theirs,
        httpMethod="POST",
        authorizationType="NONE",
        operationName="CreatePet",
    )
    with pytest.raises(RouteError, match="not managed by sagemeter"):
        manager.ensure(spec("theirs", BOB), SITE)


def test_path_move_and_pruning(manager: RouteManager, apigw: Any) -> None:
    api_id = manager.ensure(spec("team-a/old"), SITE).rest_api_id
    manager.ensure(spec("team-a/sibling", BOB), SITE)
    manager.ensure(spec("team-x/deep/new"), SITE)
    paths = set(resources(apigw, api_id))
    assert "/team-a/old" not in paths
    assert {"/team-a", "/team-a/sibling", "/team-x/deep/new"} <= paths
    # Removing the last route under /team-x prunes the resources it needed.
    manager.remove(ALICE, SITE, path="team-x/deep/new")
    assert not any(p.startswith("/team-x") for p in resources(apigw, api_id))
    assert "/team-a/sibling" in resources(apigw, api_id)


def test_route_above_another_route_keeps_the_resource(manager: RouteManager, apigw: Any) -> None:
    api_id = manager.ensure(spec("team-a"), SITE).rest_api_id
    manager.ensure(spec("team-a/falcon", BOB), SITE)
    manager.remove(ALICE, SITE)
    tree = resources(apigw, api_id)
    assert "POST" not in (tree["/team-a"].get("resourceMethods") or {})
    assert "POST" in tree["/team-a/falcon"]["resourceMethods"]


def test_changed_spec_rewrites_the_route(manager: RouteManager, apigw: Any) -> None:
    api_id = manager.ensure(spec("falcon"), SITE).rest_api_id
    manager.ensure(RouteSpec("falcon", "falcon-v2", ALICE), SITE)
    _, integration = post(apigw, api_id, "/falcon")
    assert integration["uri"] == sagemaker_integration_uri(REGION, "falcon-v2")


# --------------------------------------------------------------------------- restarts and drift


def test_restart_finds_the_same_api_and_changes_nothing(
    managers: Callable[..., RouteManager], apigw: Any
) -> None:
    first = managers()
    api_id = ensure_deployed(first, spec("falcon"), SITE).rest_api_id
    first.close()
    CALLS.reset()
    restarted = managers()
    result = restarted.ensure(spec("falcon"), SITE)
    assert result.rest_api_id == api_id
    assert len(apigw.get_rest_apis()["items"]) == 1
    writes = {k: v for k, v in CALLS.snapshot().items() if ":Put" in k or ":Create" in k}
    assert writes == {}  # found complete from one GetResources
    assert calls("GetResources") == 1
    # One deployment heals a change the previous process may not have deployed.
    flush(restarted)
    assert calls("CreateDeployment") == 1
    CALLS.reset()
    restarted.ensure(spec("falcon"), SITE)
    assert CALLS.total() == 0  # steady state: no call at all


def test_configured_rest_api_is_used_except_for_api_keys(
    managers: Callable[..., RouteManager], apigw: Any
) -> None:
    api_id = apigw.create_rest_api(name="company-api")["id"]
    routes = managers()
    where = site(invoke_role=ROLE, configured=api_id)
    assert routes.ensure(spec("falcon"), where).rest_api_id == api_id
    assert len(apigw.get_rest_apis()["items"]) == 1
    keyed = routes.ensure(spec("keyed", BOB, authorization=Authorization.API_KEY), where)
    assert keyed.rest_api_id != api_id  # API_KEY routes live in their namespace's own
    with pytest.raises(RouteError) as missing:
        managers().ensure(spec("falcon"), site(invoke_role=ROLE, configured="nope"))
    assert missing.value.reason == "RestApiNotFound"


def test_route_deleted_behind_our_back_is_recreated(
    managers: Callable[..., RouteManager], apigw: Any
) -> None:
    routes = managers(verify_seconds=0)
    api_id = routes.ensure(spec("falcon"), SITE).rest_api_id
    apigw.delete_resource(restApiId=api_id, resourceId=resources(apigw, api_id)["/falcon"]["id"])
    routes.ensure(spec("falcon"), SITE)
    assert "POST" in resources(apigw, api_id)["/falcon"]["resourceMethods"]


def test_last_route_removed_deletes_the_stage_and_the_namespace_api(
    manager: RouteManager, apigw: Any
) -> None:
    api_id = ensure_deployed(manager, spec("falcon"), SITE).rest_api_id
    manager.remove(ALICE, SITE)
    flush(manager)
    assert apigw.get_rest_apis()["items"] == []
    assert REST_APIS.labels("self", REGION, "sagemeter")._value.get() == 0
    # The next route of the namespace gets a new one.
    assert manager.ensure(spec("falcon"), SITE).rest_api_id != api_id


def test_the_platforms_rest_api_keeps_existing_when_its_last_route_goes(
    manager: RouteManager, apigw: Any
) -> None:
    api_id = apigw.create_rest_api(name="company-api")["id"]
    where = site(invoke_role=ROLE, configured=api_id)
    ensure_deployed(manager, spec("falcon"), where)
    manager.remove(ALICE, where)
    flush(manager)
    assert apigw.get_stages(restApiId=api_id)["item"] == []
    assert [api["id"] for api in apigw.get_rest_apis()["items"]] == [api_id]


# --------------------------------------------------------------------------- deployments


def test_burst_of_30_routes_from_8_threads_is_deployed_a_few_times(
    managers: Callable[..., RouteManager],
) -> None:
    routes = managers(quiet_seconds=0.5, max_delay_seconds=3.0)
    owners = [Owner("team-a", f"model-{i}", f"uid-{i}") for i in range(30)]
    specs = [spec(f"group-{i % 5}/{o.name}", o) for i, o in enumerate(owners)]
    results: list[RouteResult] = []
    lock = threading.Lock()

    def make(route: RouteSpec) -> None:
        result = routes.ensure(route, SITE)
        with lock:
            results.append(result)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(make, specs))
    wait_deployed(routes, specs)
    elapsed = time.monotonic() - started
    deployments = calls("CreateDeployment")
    print(f"30 routes from 8 threads: {deployments} deployments in {elapsed:.1f}s")
    assert 1 <= deployments <= 3
    assert len({r.rest_api_id for r in results}) == 1
    assert calls("CreateRestApi") == 1
    assert all(routes.ensure(route, SITE).deployed for route in specs)


class PagedClient:
    """A stand-in boto3 client: moto ignores ``limit``/``position``, real API Gateway pages."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def get_rest_apis(self, **params: Any) -> dict[str, Any]:
        self.requests.append(params)
        pages: dict[str | None, dict[str, Any]] = {
            None: {"items": [{"id": "a"}], "position": "p2"},
            "p2": {"items": [{"id": "b"}], "position": "p3"},
            "p3": {"items": [{"id": "c"}]},
        }
        return pages[params.get("position")]


def test_gateway_follows_position_through_every_page() -> None:
    fake = PagedClient()
    gateway = ApiGatewayGateway(REGION, client=fake, page_size=1)
    assert [api["id"] for api in gateway.rest_apis()] == ["a", "b", "c"]
    assert [r.get("position") for r in fake.requests] == [None, "p2", "p3"]
    assert all(r["limit"] == 1 for r in fake.requests)


class ConflictingLambda:
    def add_permission(self, **params: Any) -> None:
        raise ClientError(
            {
                "Error": {
                    "Code": "ResourceConflictException",
                    "Message": "The statement id (x) provided already exists.",
                },
                "ResponseMetadata": {"HTTPStatusCode": 409},
            },
            "AddPermission",
        )


def test_add_permission_is_idempotent_on_resource_conflict() -> None:
    gateway = LambdaGateway(REGION, client=ConflictingLambda(), sts_client=object())
    assert gateway.add_permission("arn:aws:lambda:us-east-1:1:function:f", "sid", "arn") is False
