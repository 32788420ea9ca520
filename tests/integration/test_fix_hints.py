"""Every Degraded message names a fix that works: each problem is made for real, `kubectl get`
shows its reason, the message names the fix, the test applies exactly that fix, and the condition
clears.

The cases run side by side under one operator (they are independent objects), so the module
costs about as much as its slowest case. Problems the sandbox cannot make for real (a 403 from
IAM, a quota) are injected as AWS's answer and cleared as the permission or quota would be.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from sagemeter.core.endpoint.naming import alarm_name, default_endpoint_name
from sagemeter_sandbox import Sandbox
from sagemeter_sandbox.control import FaultClient

from .conftest import (
    IMAGE,
    ROLE,
    Kubectl,
    Operator,
    endpoint_object,
    foreign_config,
    foreign_endpoint,
    wait_for,
)
from .test_status_story import columns
from .test_tenancy import OTHER_ROLE, TENANT_EXECUTION_ROLE, TENANT_ROLE

pytestmark = pytest.mark.cluster

EXAMPLE_POLICY = Path(__file__).parents[2] / "examples" / "tenancy" / "endpointpolicy-team-a.yaml"
FALCON = "huggingface-llm-falcon-7b-instruct-bf16"
GATED = "meta-textgeneration-llama-3-8b-instruct"


def model(**fields: Any) -> dict[str, Any]:
    return {"container": {"image": IMAGE}, "executionRoleArn": ROLE, **fields}


@dataclass
class World:
    """What the cases share: the sandbox, AWS clients, the module's namespaces and policies."""

    sandbox: Sandbox
    run: str
    tag: tuple[str, str]
    namespaces: dict[str, str] = field(default_factory=dict)
    policies: list[str] = field(default_factory=list)

    def aws(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=self.sandbox.aws_endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def kube(self, space: str = "main") -> Kubectl:
        return Kubectl(self.sandbox, self.namespaces[space])

    def policy(self, name: str, space: str, **spec: Any) -> str:
        full = f"{self.run}-{name}"
        body = {
            "apiVersion": "sagemeter.io/v1alpha1",
            "kind": "EndpointPolicy",
            "metadata": {"name": full},
            "spec": {"namespaceSelector": {"names": [self.namespaces[space]]}, **spec},
        }
        self.sandbox.kubectl_run("apply", "-f", "-", input=json.dumps(body))
        self.policies.append(full)
        return full

    def patch_policy(self, name: str, patch: dict[str, Any]) -> None:
        self.sandbox.kubectl_run(
            "patch", "mepol", name, "--type=merge", "-p", json.dumps({"spec": patch})
        )


@dataclass
class Case:
    """One problem: how to make it, what the message must say, and the fix it names."""

    name: str
    reason: str
    hint: str  # words of the fix, as the message must say them
    make: Callable[[World, Kubectl], None]
    fix: Callable[[World, Kubectl, str], str | None]  # (world, kube, message) -> object to watch
    space: str = "main"


def apply(kube: Kubectl, name: str, **spec: Any) -> None:
    kube.apply(endpoint_object(name, **spec))


def patch(name: str, spec: dict[str, Any]) -> Callable[[World, Kubectl, str], str | None]:
    def fix(world: World, kube: Kubectl, message: str) -> str | None:
        kube.patch(name, {"spec": spec})
        return None

    return fix


def recreate(name: str, **spec: Any) -> Callable[[World, Kubectl, str], str | None]:
    """The fix of what cannot change in place: delete the object, create it again."""

    def fix(world: World, kube: Kubectl, message: str) -> str | None:
        kube.delete(name, wait=True)
        apply(kube, f"{name}-again", **spec)
        return f"{name}-again"

    return fix


def _name_conflict(world: World, kube: Kubectl) -> None:
    foreign_endpoint(world.aws("sagemaker"), f"{world.run}-taken")
    apply(kube, "conflict", model=model(), endpointName=f"{world.run}-taken")


def adopter(kube: Kubectl, name: str, endpoint: str) -> None:
    kube.apply(
        {
            "apiVersion": "sagemeter.io/v1alpha1",
            "kind": "ManagedEndpoint",
            "metadata": {"name": name},
            "spec": {"adopt": True, "endpointName": endpoint},
        }
    )


def _adoption(world: World, kube: Kubectl) -> None:
    foreign_endpoint(world.aws("sagemaker"), f"{world.run}-notebook")
    adopter(kube, "adopt", f"{world.run}-notebook")


def _tag_for_adoption(world: World, kube: Kubectl, message: str) -> None:
    sagemaker = world.aws("sagemaker")
    arn = sagemaker.describe_endpoint(EndpointName=f"{world.run}-notebook")["EndpointArn"]
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": world.tag[0], "Value": world.tag[1]}])


def _adopt_missing(world: World, kube: Kubectl) -> None:
    adopter(kube, "gone", f"{world.run}-later")


def _create_adoptable(world: World, kube: Kubectl, message: str) -> None:
    foreign_endpoint(world.aws("sagemaker"), f"{world.run}-later", tags=dict([world.tag]))


def _alarm(world: World, kube: Kubectl) -> None:
    endpoint = default_endpoint_name(kube.namespace, "alarm")
    world.aws("cloudwatch").put_metric_alarm(
        AlarmName=alarm_name(endpoint),
        Namespace="AWS/SageMaker",
        MetricName="Invocations",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
    )
    apply(kube, "alarm", model=model(), idle={"after": "15m", "gracePeriod": "0s"})


def _delete_alarm(world: World, kube: Kubectl, message: str) -> None:
    endpoint = default_endpoint_name(kube.namespace, "alarm")
    world.aws("cloudwatch").delete_alarms(AlarmNames=[alarm_name(endpoint)])


def _route_conflict(world: World, kube: Kubectl) -> None:
    apply(kube, "route-owner", model=model(), api={"path": f"{world.run}/shared"})
    wait_for("the owner's route", lambda: kube.status("route-owner").get("invokeUrl"), 90)
    apply(kube, "route", model=model(), api={"path": f"{world.run}/shared"})


def _create_authorizer(world: World, kube: Kubectl, message: str) -> None:
    found = re.search(r"REST API (\w+)", message)
    assert found, message
    apigateway = world.aws("apigateway")
    function = "arn:aws:lambda:us-east-1:123456789012:function:authorizer"
    made = apigateway.create_authorizer(
        restApiId=found.group(1),
        name=f"{world.run}-tokens",
        type="TOKEN",
        authorizerUri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function}"
        "/invocations",
        identitySource="method.request.header.Authorization",
    )
    kube.patch("authorizer", {"spec": {"api": {"authorizerId": made["id"]}}})


def _secret(world: World, kube: Kubectl) -> None:
    kube.sandbox.kubectl_run(
        "create", "secret", "generic", "key-api-key", "-n", kube.namespace, "--from-literal=a=b"
    )
    apply(kube, "key", model=model(), api={"path": f"{world.run}/key", "authorization": "API_KEY"})


def _delete_secret(world: World, kube: Kubectl, message: str) -> None:
    kube.sandbox.kubectl_run("delete", "secret", "key-api-key", "-n", kube.namespace)


def _denied(world: World, kube: Kubectl) -> None:
    FaultClient(world.sandbox.aws_endpoint_url).error(
        403,
        service="sagemaker",
        operation="CreateEndpoint",
        code="AccessDeniedException",
        contains=default_endpoint_name(kube.namespace, "denied"),
    )
    apply(kube, "denied", model=model())


def _grant(world: World, kube: Kubectl, message: str) -> None:
    FaultClient(world.sandbox.aws_endpoint_url).clear()  # the permission is granted


def _tenant_route(world: World, kube: Kubectl) -> None:
    world.policy("tenant", "tenant", aws={"roleArn": TENANT_ROLE})
    apply(
        kube,
        "tenant-route",
        model={"container": {"image": IMAGE}, "executionRoleArn": TENANT_EXECUTION_ROLE},
        api={"path": f"{world.run}/tenant"},
    )


def _set_policy_invoke_role(world: World, kube: Kubectl, message: str) -> None:
    policy = f"{world.run}-tenant"
    assert f"EndpointPolicy {policy}" in message
    world.patch_policy(
        policy, {"aws": {"apiInvokeRoleArn": "arn:aws:iam::111111111111:role/sagemeter-apigw"}}
    )


def _policy_conflict(world: World, kube: Kubectl) -> None:
    world.policy("one", "conflict", aws={"roleArn": TENANT_ROLE})
    world.policy("two", "conflict", aws={"roleArn": OTHER_ROLE})
    apply(kube, "conflict", model=model())


def _drop_second_policy(world: World, kube: Kubectl, message: str) -> None:
    world.sandbox.kubectl_run("delete", "mepol", f"{world.run}-two")


def _violation(world: World, kube: Kubectl) -> None:
    policy = world.policy("guard", "violation", instanceTypes=["ml.m5.*"])
    apply(kube, "violation", model=model(), instanceType="ml.m5.xlarge")
    kube.wait_phase("violation", "InService")
    world.patch_policy(policy, {"instanceTypes": ["ml.m5.large"]})


def _moved(world: World, kube: Kubectl) -> None:
    policy = world.policy("home", "moved", aws={"roleArn": TENANT_ROLE})
    apply(
        kube,
        "moved",
        model={"container": {"image": IMAGE}, "executionRoleArn": TENANT_EXECUTION_ROLE},
    )
    kube.wait_phase("moved", "InService")
    world.patch_policy(policy, {"aws": {"roleArn": OTHER_ROLE}})


def _over_budget_update(world: World, kube: Kubectl) -> None:
    # ml.m5.large 0.115 USD/h runs; during an update to ml.m5.xlarge (0.23) both fleets run.
    world.policy("budget", "budget", budget={"usdPerHour": "0.30"})
    apply(kube, "grow", model=model())
    kube.wait_phase("grow", "InService")
    kube.patch("grow", {"spec": {"instanceType": "ml.m5.xlarge"}})


def _raise_budget(world: World, kube: Kubectl, message: str) -> None:
    world.patch_policy(f"{world.run}-budget", {"budget": {"usdPerHour": "1.00"}})


CASES = [
    Case(
        "execrole",
        "ExecutionRoleMissing",
        "set spec.model.executionRoleArn",
        lambda w, k: apply(k, "execrole", model={"container": {"image": IMAGE}}),
        patch("execrole", {"model": {"executionRoleArn": ROLE}}),
    ),
    Case(
        "conflict",
        "EndpointNameConflict",
        "delete this object and create it again with another spec.endpointName",
        _name_conflict,
        lambda w, k, m: recreate("conflict", model=model(), endpointName=f"{w.run}-free")(w, k, m),
    ),
    Case("adopt", "AdoptionNotAllowed", "tag the endpoint", _adoption, _tag_for_adoption),
    Case("gone", "EndpointNotFound", "create the endpoint", _adopt_missing, _create_adoptable),
    Case(
        "noconfig",
        "EndpointConfigNotFound",
        "create it",
        lambda w, k: apply(
            k, "noconfig", model={"endpointConfigName": f"{w.run}-late-config"}, instanceType=None
        ),
        lambda w, k, m: foreign_config(w.aws("sagemaker"), f"{w.run}-late") and None,
    ),
    Case(
        "jumpstart",
        "ModelNotFound",
        "set spec.model.jumpStart.modelId",
        lambda w, k: apply(
            k,
            "jumpstart",
            model={"jumpStart": {"modelId": "huggingface-llm-nothing"}, "executionRoleArn": ROLE},
            instanceType="ml.g5.2xlarge",
        ),
        patch("jumpstart", {"model": {"jumpStart": {"modelId": FALCON}}}),
    ),
    Case(
        "eula",
        "EulaNotAccepted",
        "set spec.model.jumpStart.acceptEula: true",
        lambda w, k: apply(
            k,
            "eula",
            model={"jumpStart": {"modelId": GATED}, "executionRoleArn": ROLE},
            instanceType="ml.g5.2xlarge",
        ),
        patch("eula", {"model": {"jumpStart": {"acceptEula": True}}}),
    ),
    Case("alarm", "AlarmConflict", "delete or rename that alarm", _alarm, _delete_alarm),
    Case(
        "route",
        "RouteConflict",
        "set spec.api.path to another path",
        _route_conflict,
        lambda w, k, m: patch("route", {"api": {"path": f"{w.run}/own"}})(w, k, m),
    ),
    Case(
        "open",
        "UnauthenticatedRouteRefused",
        "set spec.api.authorization to AWS_IAM",
        lambda w, k: apply(
            k, "open", model=model(), api={"path": f"{w.run}/open", "authorization": "NONE"}
        ),
        patch("open", {"api": {"authorization": "AWS_IAM"}}),
    ),
    Case(
        "authorizer",
        "AuthorizerNotFound",
        "set spec.api.authorizerId to an authorizer of that REST API",
        lambda w, k: apply(
            k,
            "authorizer",
            model=model(),
            api={"path": f"{w.run}/custom", "authorization": "CUSTOM", "authorizerId": "nope12"},
        ),
        _create_authorizer,
    ),
    Case(
        "lambda",
        "LambdaNotFound",
        "remove spec.api.lambdaArn",
        lambda w, k: apply(
            k,
            "lambda",
            model=model(),
            api={
                "path": f"{w.run}/proxy",
                "lambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:nothing",
            },
        ),
        patch("lambda", {"api": {"lambdaArn": None}}),
    ),
    Case("key", "SecretConflict", "delete or rename that Secret", _secret, _delete_secret),
    Case(
        "schedule",
        "InvalidSchedule",
        "name an IANA time zone",
        lambda w, k: apply(
            k, "schedule", model=model(), schedule={"uptime": ["Mon-Sun 00:00-23:59 Mars/Base"]}
        ),
        patch("schedule", {"schedule": {"uptime": ["Mon-Sun 00:00-23:59 UTC"]}}),
    ),
    Case(
        "failed",
        "EndpointFailed",
        "a change of the model or capacity in the spec creates it again",
        lambda w, k: apply(k, "failed", model=model(container={"image": f"{IMAGE[:-2]}:fail"})),
        patch("failed", {"model": {"container": {"image": IMAGE}}}),
    ),
    Case("denied", "AccessDenied", "grant that action to the operator's IAM role", _denied, _grant),
    Case(
        "tenant-route",
        "InvokeRoleNotConfigured",
        "set aws.apiInvokeRoleArn in EndpointPolicy",
        _tenant_route,
        _set_policy_invoke_role,
        space="tenant",
    ),
    Case(
        "conflict",
        "PolicyConflict",
        "change their namespaceSelector so that only one selects",
        _policy_conflict,
        _drop_second_policy,
        space="conflict",
    ),
    Case(
        "violation",
        "PolicyViolation",
        "change the spec to fit",
        _violation,
        patch("violation", {"instanceType": "ml.m5.large"}),
        space="violation",
    ),
    Case(
        "grow",
        "OverBudget",
        "raise the budget",
        _over_budget_update,
        _raise_budget,
        space="budget",
    ),
    Case(
        "moved",
        "AccountChanged",
        "delete this object and create it again",
        _moved,
        recreate(
            "moved",
            model={
                "container": {"image": IMAGE},
                "executionRoleArn": "arn:aws:iam::222222222222:role/sm",
            },
        ),
        space="moved",
    ),
]


@pytest.fixture(scope="module")
def world(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    run = f"hint-{secrets.token_hex(3)}"
    world = World(sandbox, run, ("sagemeter-hints", run))
    spaces = {case.space for case in CASES} | {"example"}
    for space in sorted(spaces):
        world.namespaces[space] = f"{run}-{space}"
        sandbox.kubectl_run("create", "namespace", world.namespaces[space])
    operator = Operator(sandbox, world.namespaces["main"], tmp_path_factory.mktemp("hints") / "log")
    operator.namespaces = sorted(world.namespaces.values())
    # No default execution role: objects name theirs, and one shows what happens without.
    del operator.env["SAGEMETER_EXECUTION_ROLE_ARN"]
    operator.start(SAGEMETER_ADOPT_TAG="=".join(world.tag))
    try:
        yield world
    finally:
        operator.stop()
        FaultClient(sandbox.aws_endpoint_url).clear()
        for name in world.policies:
            sandbox.kubectl_run("delete", "mepol", name, "--wait=false", check=False)
        for namespace in world.namespaces.values():
            sandbox.kubectl_run("delete", "namespace", namespace, "--wait=false", check=False)


def degraded(kube: Kubectl, name: str) -> dict[str, Any]:
    return kube.condition(name, "Degraded")


def test_every_hint_is_a_fix_that_clears_the_condition(world: World) -> None:
    for case in CASES:
        case.make(world, world.kube(case.space))
    messages: dict[str, str] = {}
    for case in CASES:
        kube = world.kube(case.space)
        condition = wait_for(
            f"{case.name}: Degraded {case.reason}",
            lambda k=kube, c=case: (d := degraded(k, c.name)).get("reason") == c.reason and d,
            timeout=90,
        )
        assert condition["status"] == "True"
        assert case.hint in condition["message"], (case.reason, condition["message"])
        assert columns(kube)[case.name]["REASON"] == case.reason
        messages[case.name + case.space] = condition["message"]
    watched = {}
    for case in CASES:
        kube = world.kube(case.space)
        watched[case.name + case.space] = (
            kube,
            case.fix(world, kube, messages[case.name + case.space]) or case.name,
        )
    for case in CASES:
        kube, name = watched[case.name + case.space]
        wait_for(
            f"{case.reason} to clear on {name} after the fix",
            lambda k=kube, n=name: degraded(k, n).get("status") == "False",
            timeout=90,
        )
        assert columns(kube)[name]["REASON"] in ("", "Schedule"), case.reason


def test_the_tenancy_example_routes_without_degrading(world: World) -> None:
    """examples/tenancy's policy names its account's invoke role: a routed object in a namespace
    it selects is served, not InvokeRoleNotConfigured."""
    policy = yaml.safe_load(EXAMPLE_POLICY.read_text())
    policy["metadata"]["name"] = f"{world.run}-example"
    policy["spec"]["namespaceSelector"] = {"names": [world.namespaces["example"]]}
    world.sandbox.kubectl_run("apply", "-f", "-", input=json.dumps(policy))
    world.policies.append(policy["metadata"]["name"])
    kube = world.kube("example")
    apply(
        kube,
        "falcon",
        model={"container": {"image": IMAGE}},
        api={"path": f"team-a/{world.run}", "authorization": "API_KEY"},
    )
    # The route is written while the endpoint is still Creating (it answers 503 until then).
    status = wait_for(
        "the example's route, serving",
        lambda: (s := kube.status("falcon")).get("invokeUrl") and s["phase"] == "InService" and s,
        timeout=90,
    )
    assert status["invokeUrl"].endswith(f"/team-a/{world.run}"), status
    assert degraded(kube, "falcon")["status"] == "False", degraded(kube, "falcon")


def test_operator_settings_hints_work(
    operator: Operator, kube: Kubectl, namespace: str, policies: Callable[..., str]
) -> None:
    """The hints that name the operator's own settings or the platform team's policy:
    NoPolicy clears once a policy selects the namespace, and InvokeRoleNotConfigured (no
    role in the policy, none in the operator) clears once the operator has the setting."""
    invoke_role = operator.env.pop("SAGEMETER_API_INVOKE_ROLE_ARN")
    operator.start(SAGEMETER_REQUIRE_POLICY="true")
    apply(kube, "falcon", api={"path": f"{namespace}/falcon"})
    condition = wait_for(
        "NoPolicy", lambda: (d := degraded(kube, "falcon")).get("reason") == "NoPolicy" and d
    )
    assert "an EndpointPolicy must select it" in condition["message"]
    policies(f"{namespace}-any", [namespace])
    condition = wait_for(
        "InvokeRoleNotConfigured",
        lambda: (d := degraded(kube, "falcon")).get("reason") == "InvokeRoleNotConfigured" and d,
    )
    assert "set the operator's SAGEMETER_API_INVOKE_ROLE_ARN" in condition["message"]
    assert columns(kube)["falcon"]["REASON"] == "InvokeRoleNotConfigured"
    operator.stop()
    operator.start(SAGEMETER_REQUIRE_POLICY="true", SAGEMETER_API_INVOKE_ROLE_ARN=invoke_role)
    wait_for("the route", lambda: kube.status("falcon").get("invokeUrl"))
    assert degraded(kube, "falcon")["status"] == "False"
