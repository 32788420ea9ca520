"""Attacks on ownership: each one is run against the operator as a process, and each asserts
that the victim's state in AWS (endpoint, tags, alarm, models, configs, route, key) and in
Kubernetes is exactly what it was before.

Two teams share a cluster and an AWS account: the victim's namespace and the attacker's.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from sagemeter.core.endpoint import naming
from sagemeter_sandbox.control import FaultClient

from .conftest import Kubectl, Operator, endpoint_object, foreign_endpoint, wait_for
from .test_lifecycle import describe, tags_of

pytestmark = pytest.mark.cluster

MUTATIONS = (
    "sagemaker:CreateEndpoint",
    "sagemaker:UpdateEndpoint",
    "sagemaker:DeleteEndpoint",
    "sagemaker:AddTags",
    "sagemaker:DeleteTags",
    "sagemaker:DeleteModel",
    "sagemaker:DeleteEndpointConfig",
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:DeleteAlarms",
)


def client(sandbox: Any, service: str) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=sandbox.aws_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


class Aws:
    """What the victim has in AWS, read directly (never through sagemeter's code)."""

    def __init__(self, sandbox: Any) -> None:
        self.sagemaker = client(sandbox, "sagemaker")
        self.cloudwatch = client(sandbox, "cloudwatch")
        self.apigateway = client(sandbox, "apigateway")
        self.sqs = client(sandbox, "sqs")

    def queue_policy(self, name: str = "sagemeter-events") -> Any:
        """Who may send to the operator's event queue (None: no queue, or no policy yet)."""
        try:
            url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except self.sqs.exceptions.QueueDoesNotExist:
            return None
        found = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
        policy = found.get("Attributes", {}).get("Policy")
        return json.loads(policy) if policy else None

    def state(
        self, endpoint: str, path: str | None = None, owner: str | None = None
    ) -> dict[str, Any]:
        """The endpoint, its tags and alarm, the models and configs under its name (only those
        tagged for `owner`'s uid, when given), its route at `path`, and every API key."""
        described = describe(self.sagemaker, endpoint)
        state: dict[str, Any] = {"endpoint": None, "tags": None}
        if described is not None:
            state["endpoint"] = {
                k: described.get(k)
                for k in (
                    "EndpointArn",
                    "EndpointConfigName",
                    "EndpointStatus",
                    "CreationTime",
                    "LastModifiedTime",
                )
            }
            state["tags"] = tags_of(self.sagemaker, described["EndpointArn"])
        alarms = self.cloudwatch.describe_alarms(AlarmNames=[naming.alarm_name(endpoint)])
        state["alarm"] = [
            (
                a["AlarmName"],
                a["EvaluationPeriods"],
                self.cloudwatch.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"],
            )
            for a in alarms["MetricAlarms"]
        ]
        prefix = naming.resource_prefix(endpoint)
        models = self.sagemaker.list_models(NameContains=prefix, MaxResults=100)["Models"]
        configs = self.sagemaker.list_endpoint_configs(NameContains=prefix, MaxResults=100)
        state["models"] = self._owned([(m["ModelName"], m["ModelArn"]) for m in models], owner)
        state["configs"] = self._owned(
            [(c["EndpointConfigName"], c["EndpointConfigArn"]) for c in configs["EndpointConfigs"]],
            owner,
        )
        state["route"] = self.route(path) if path else None
        state["keys"] = sorted(
            (k["name"], k["id"]) for k in self.apigateway.get_api_keys(limit=500)["items"]
        )
        return state

    def _owned(self, found: list[tuple[str, str]], owner: str | None) -> list[tuple[str, str]]:
        named = [(name, tags_of(self.sagemaker, arn)) for name, arn in found]
        return sorted(
            (name, json.dumps(tags, sort_keys=True))
            for name, tags in named
            if owner is None or tags.get("sagemeter.io/uid") == owner
        )

    def route(self, path: str) -> Any:
        for api in self.apigateway.get_rest_apis()["items"]:
            for item in self.apigateway.get_resources(restApiId=api["id"], limit=500)["items"]:
                if item["path"] == f"/{path}" and "POST" in (item.get("resourceMethods") or {}):
                    method = self.apigateway.get_method(
                        restApiId=api["id"], resourceId=item["id"], httpMethod="POST"
                    )
                    return (method.get("operationName"), method["methodIntegration"].get("uri"))
        return None


@pytest.fixture
def aws(sandbox: Any) -> Aws:
    return Aws(sandbox)


@pytest.fixture
def attacker(sandbox: Any, other_namespace: str) -> Kubectl:
    return Kubectl(sandbox, other_namespace)


def reason(kube: Kubectl, name: str) -> str | None:
    return kube.condition(name, "Degraded").get("reason")


def wait_reason(kube: Kubectl, name: str, expected: str) -> None:
    wait_for(f"{name}: Degraded {expected}", lambda: reason(kube, name) == expected)


def no_mutations(
    calls: dict[str, int], before: dict[str, int], allowed: tuple[str, ...] = ()
) -> dict[str, int]:
    return {
        m: calls.get(m, 0) - before.get(m, 0)
        for m in MUTATIONS
        if m not in allowed and calls.get(m, 0) != before.get(m, 0)
    }


def leave_untouched(
    leaver: Kubectl,
    name: str,
    victim_state: Callable[[], dict[str, Any]],
    before: dict[str, Any],
    operator: Operator,
    calls: dict[str, int],
) -> None:
    """`name` is deleted and gone; the victim's AWS state is still `before`, and no call that
    changes anything was made since `calls`."""
    leaver.delete(name, wait=True)
    assert leaver.get(name) is None
    assert victim_state() == before
    assert no_mutations(operator.aws_calls(), calls) == {}


def victim(kube: Kubectl, name: str, endpoint: str, **spec: Any) -> dict[str, Any]:
    kube.apply(endpoint_object(name, endpointName=endpoint, **spec))
    return kube.wait_phase(name, "InService")


def test_name_reuse_after_a_park_never_reaches_the_new_owner(
    operator: Operator,
    kube: Kubectl,
    attacker: Kubectl,
    aws: Aws,
    namespace: str,
    other_namespace: str,
) -> None:
    """A parks (its endpoint is deleted, its status keeps the ARN); B creates the same name,
    so the same ARN. Waking A must not update, retag or later delete B's endpoint."""
    shared = f"{namespace}-shared"
    operator.namespaces.append(other_namespace)
    operator.start()
    victim(attacker, "a", shared, idle={"after": "30m", "gracePeriod": "0s"})
    attacker_uid = attacker.get("a")["metadata"]["uid"]  # type: ignore[index]
    attacker.patch("a", {"spec": {"suspend": True}})
    attacker.wait_phase("a", "Parked")
    assert attacker.status("a").get("endpointArn")  # the stale ARN stays in status
    victim(kube, "b", shared, idle={"after": "30m", "gracePeriod": "0s"})
    wait_for("B's alarm", lambda: aws.state(shared)["alarm"])
    b_uid = kube.get("b")["metadata"]["uid"]  # type: ignore[index]
    before, calls = aws.state(shared, owner=b_uid), operator.aws_calls()
    assert before["models"] and before["configs"]
    attacker.patch("a", {"spec": {"suspend": False}})
    wait_reason(attacker, "a", "EndpointNameConflict")
    # A is parked again by hand: that must not delete B's endpoint either.
    attacker.patch("a", {"spec": {"suspend": True}})
    wait_for("A to settle", lambda: attacker.status("a").get("observedGeneration") == 4)
    attacker.delete("a")
    wait_for("A to go", lambda: attacker.get("a") is None)
    assert aws.state(shared, owner=b_uid) == before
    assert kube.status("b")["phase"] == "InService"
    # A collected its own model and config (tagged A; B's are proven unchanged above).
    own_cleanup = ("sagemaker:DeleteModel", "sagemaker:DeleteEndpointConfig")
    assert no_mutations(operator.aws_calls(), calls, allowed=own_cleanup) == {}
    assert aws.state(shared, owner=attacker_uid)["models"] == []


def test_adoption_is_a_privilege(
    operator: Operator,
    attacker: Kubectl,
    aws: Aws,
    sagemaker: Any,
    namespace: str,
    other_namespace: str,
) -> None:
    """Any namespace could once adopt a production endpoint made elsewhere and then delete it.
    Living in the adopt namespace is not enough: only the adopt tag (or a policy) is."""
    prod = f"{namespace}-prod"
    foreign_endpoint(sagemaker, prod, tags={"team": "prod"})
    wait_for("prod InService", lambda: aws.state(prod)["endpoint"]["EndpointStatus"] == "InService")
    operator.namespaces.append(other_namespace)
    operator.start(
        SAGEMETER_ADOPT_TAG="auto-maintain=true", SAGEMETER_ADOPT_NAMESPACE=other_namespace
    )
    before, calls = aws.state(prod), operator.aws_calls()
    attacker.apply(
        {
            "apiVersion": "sagemeter.io/v1alpha1",
            "kind": "ManagedEndpoint",
            "metadata": {"name": "grab"},
            "spec": {"adopt": True, "endpointName": prod},
        }
    )
    wait_reason(attacker, "grab", "AdoptionNotAllowed")
    attacker.wait_event("grab", "AdoptionNotAllowed")
    attacker.patch("grab", {"spec": {"suspend": True}})
    wait_for(
        "the suspend to be seen", lambda: attacker.status("grab").get("observedGeneration") == 2
    )
    leave_untouched(attacker, "grab", lambda: aws.state(prod), before, operator, calls)


def test_a_conflicting_object_causes_no_side_effect(
    operator: Operator,
    kube: Kubectl,
    attacker: Kubectl,
    aws: Aws,
    sandbox: Any,
    namespace: str,
    other_namespace: str,
) -> None:
    """The attacker names the victim's endpoint with an API_KEY route that wakes on request and
    an idle policy: no route to the victim, no key in the attacker's Secret, the event queue's
    policy unchanged (no invoke role added for the attacker's wakes), and deleting the attacker
    leaves the victim's alarm, models and configs alone."""
    shared = f"{namespace}-victim"
    operator.namespaces.append(other_namespace)
    operator.start()
    victim(
        kube,
        "victim",
        shared,
        idle={"after": "30m", "gracePeriod": "0s"},
        api={"path": f"{namespace}/victim", "authorization": "API_KEY"},
    )
    wait_for(
        "the victim's alarm and route",
        lambda: (s := aws.state(shared, f"{namespace}/victim"))["alarm"] and s["route"],
    )
    victim_uid = kube.get("victim")["metadata"]["uid"]  # type: ignore[index]
    before, calls = aws.state(shared, f"{namespace}/victim", victim_uid), operator.aws_calls()
    assert before["models"] and before["configs"] and before["alarm"] and before["keys"]
    queue_policy = aws.queue_policy()
    attacker.apply(
        endpoint_object(
            "thief",
            endpointName=shared,
            idle={"after": "1m", "gracePeriod": "0s"},
            api={
                "path": f"{other_namespace}/thief",
                "authorization": "API_KEY",
                "wakeOnRequest": True,
            },
        )
    )
    wait_reason(attacker, "thief", "EndpointNameConflict")
    wait_for(
        "a few passes of the attacker",
        lambda: (
            operator.aws_calls().get("sagemaker:ListTags", 0)
            >= calls.get("sagemaker:ListTags", 0) + 2
        ),
    )
    assert aws.route(f"{other_namespace}/thief") is None
    assert aws.queue_policy() == queue_policy
    secrets = sandbox.kubectl_run("get", "secrets", "-n", other_namespace, "-o", "name").stdout
    assert "thief-api-key" not in secrets
    assert not attacker.status("thief").get("invokeUrl")
    leave_untouched(
        attacker,
        "thief",
        lambda: aws.state(shared, f"{namespace}/victim", victim_uid),
        before,
        operator,
        calls,
    )
    assert kube.status("victim")["phase"] == "InService"


def test_tags_other_systems_set_are_kept_and_owner_tags_cannot_be_posed(
    operator: Operator, kube: Kubectl, aws: Aws, sandbox: Any, namespace: str
) -> None:
    spoof = endpoint_object("spoof", tags={"sagemeter.io/uid": "victim-uid"})
    spoof["metadata"]["namespace"] = namespace
    refused = sandbox.kubectl_run("apply", "-f", "-", input=json.dumps(spoof), check=False)
    assert refused.returncode != 0 and "spec.tags" in refused.stderr
    operator.start()
    kube.apply(endpoint_object("tagged", tags={"team": "a", "old": "x"}))
    status = kube.wait_phase("tagged", "InService")
    arn = status["endpointArn"]
    # A cost-allocation tool tags the endpoint behind sagemeter's back.
    aws.sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "CostCenter", "Value": "42"}])
    kube.patch("tagged", {"spec": {"tags": {"team": "b", "old": None}}})
    wait_for("the tag edit", lambda: tags_of(aws.sagemaker, arn).get("team") == "b")
    wait_for("the removal", lambda: "old" not in tags_of(aws.sagemaker, arn))
    tags = tags_of(aws.sagemaker, arn)
    assert tags["CostCenter"] == "42"
    assert tags["sagemeter.io/uid"] == kube.get("tagged")["metadata"]["uid"]  # type: ignore[index]
    assert kube.status("tagged")["appliedTagKeys"] == ["team"]


def test_an_api_key_secret_that_is_not_ours_is_never_overwritten(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    sandbox.kubectl_run(
        "create",
        "secret",
        "generic",
        "keyed-api-key",
        "-n",
        namespace,
        "--from-literal=apiKey=the-teams-own-value",
    )
    operator.start()
    kube.apply(
        endpoint_object("keyed", api={"path": f"{namespace}/keyed", "authorization": "API_KEY"})
    )
    wait_reason(kube, "keyed", "SecretConflict")
    kube.wait_phase("keyed", "InService")  # the endpoint itself is fine
    secret = json.loads(
        sandbox.kubectl_run("get", "secret", "keyed-api-key", "-n", namespace, "-o", "json").stdout
    )
    assert base64.b64decode(secret["data"]["apiKey"]).decode() == "the-teams-own-value"
    assert "ownerReferences" not in secret["metadata"]
    kube.delete("keyed")
    wait_for("the object to go", lambda: kube.get("keyed") is None)
    assert sandbox.kubectl_run("get", "secret", "keyed-api-key", "-n", namespace).returncode == 0


def test_two_objects_racing_for_one_name_leave_one_owner(
    operator: Operator,
    kube: Kubectl,
    attacker: Kubectl,
    aws: Aws,
    namespace: str,
    other_namespace: str,
) -> None:
    shared = f"{namespace}-race"
    operator.namespaces.append(other_namespace)
    operator.start()
    applies = [
        threading.Thread(target=k.apply, args=(endpoint_object("racer", endpointName=shared),))
        for k in (kube, attacker)
    ]
    for thread in applies:
        thread.start()
    for thread in applies:
        thread.join()

    def settled() -> tuple[str, str] | None:
        reasons = sorted(str(reason(k, "racer")) for k in (kube, attacker))
        phases = sorted(str(k.status("racer").get("phase")) for k in (kube, attacker))
        return (
            (reasons[0], phases[1])
            if reasons == ["AsExpected", "EndpointNameConflict"] and "InService" in phases
            else None
        )

    wait_for("one winner, one conflict", settled, timeout=90)
    winner, loser = (kube, attacker) if reason(kube, "racer") == "AsExpected" else (attacker, kube)
    loser_uid_before = loser.get("racer")["metadata"]["uid"]  # type: ignore[index]
    winner_uid = winner.get("racer")["metadata"]["uid"]  # type: ignore[index]
    state = aws.state(shared, owner=winner_uid)
    assert state["tags"]["sagemeter.io/uid"] == winner_uid
    # The same verdict after a restart: the proof in status is the winner's alone.
    operator.stop()
    operator.start()
    wait_for(
        "the loser to be judged again",
        lambda: operator.aws_calls().get("sagemaker:ListTags", 0) >= 1,
    )
    wait_reason(loser, "racer", "EndpointNameConflict")
    assert reason(winner, "racer") == "AsExpected"
    loser.delete("racer")
    wait_for("the loser to go", lambda: loser.get("racer") is None)
    assert aws.state(shared, owner=winner_uid) == state
    loser_uid = loser_uid_before
    assert aws.state(shared, owner=loser_uid)["configs"] == []  # the loser's own were collected


@pytest.mark.parametrize("same_namespace", [True, False], ids=["recreated", "other-team"])
def test_a_retained_endpoint_is_not_taken_over(
    operator: Operator,
    kube: Kubectl,
    attacker: Kubectl,
    aws: Aws,
    namespace: str,
    other_namespace: str,
    same_namespace: bool,
) -> None:
    """`deletionPolicy: Retain` leaves the endpoint with its old owner's tags. An object
    re-created with the same namespace and name (a new uid), or another team's object with the
    same endpointName, must not silently take it over."""
    kept = f"{namespace}-kept"
    operator.namespaces.append(other_namespace)
    operator.start()
    victim(kube, "kept", kept, deletionPolicy="Retain")
    kube.delete("kept")
    wait_for("the object to go", lambda: kube.get("kept") is None)
    before, calls = aws.state(kept), operator.aws_calls()
    newcomer = kube if same_namespace else attacker
    newcomer.apply(endpoint_object("kept", endpointName=kept))
    wait_reason(newcomer, "kept", "EndpointNameConflict")
    leave_untouched(newcomer, "kept", lambda: aws.state(kept), before, operator, calls)


def test_deleting_a_conflicting_object_while_the_victim_is_creating(
    operator: Operator,
    kube: Kubectl,
    attacker: Kubectl,
    aws: Aws,
    sandbox: Any,
    namespace: str,
    other_namespace: str,
) -> None:
    shared = f"{namespace}-busy"
    operator.namespaces.append(other_namespace)
    operator.start()
    kube.apply(endpoint_object("victim", endpointName=shared, idle={"after": "30m"}))
    # Creating lasts 2 s here: forced back to it if that is over already.
    kube.wait_phase("victim", ("Creating", "InService"))
    # Held in Creating for as long as the attack takes (SageMaker refuses deletes meanwhile).
    faults = FaultClient(sandbox.aws_endpoint_url)
    faults.set_endpoint_status(shared, "Creating")
    victim_uid = kube.get("victim")["metadata"]["uid"]  # type: ignore[index]
    before, calls = aws.state(shared, owner=victim_uid), operator.aws_calls()
    attacker.apply(endpoint_object("thief", endpointName=shared))
    wait_reason(attacker, "thief", "EndpointNameConflict")
    leave_untouched(
        attacker, "thief", lambda: aws.state(shared, owner=victim_uid), before, operator, calls
    )
    faults.set_endpoint_status(shared, "InService")
    kube.wait_phase("victim", "InService")
