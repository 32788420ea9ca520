"""Self-service through the route (SPEC §7), end to end: HTTP to the local API Gateway data
plane, the operator as a process, SSM and the event queue in the local AWS.

`GET <path>/_meter` answers from the SSM parameter the operator mirrors (no call reaches the
cluster, no deployment per change); a throttled read answers 429 with Retry-After; the
parameter is tagged and goes with the object."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sagemeter_sandbox import AWS_CREDENTIALS
from sagemeter_sandbox.control import FaultClient
from sagemeter_sandbox.dataplane import user_request_url
from sagemeter_sandbox.examples import TOKEN, token_authorizer

from ..aws.cognito import make_pool, sign_in
from .conftest import Kubectl, Operator, endpoint_object, wait_for
from .test_notifications import Inbox
from .test_tenancy import TENANT, TENANT_ROLE, aws_as, m5
from .test_wake import aws, routed

pytestmark = pytest.mark.cluster

DOC = Path(__file__).parents[2] / "docs" / "self-service.md"
CALLING = DOC.with_name("calling-endpoints.md")


def docs_curl(method: str) -> str:
    """The docs' `curl` block for `_meter` with (POST) or without (GET) a body."""
    blocks = re.findall(r"^```bash\n(.*?)^```", DOC.read_text(), re.S | re.M)
    return next(b for b in blocks if "_meter" in b and (" -d " in b) == (method == "POST"))


def run_docs(block: str, url: str, key: str) -> Any:
    done = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{block}"],
        env={**os.environ, "URL": url, "API_KEY": key},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def run_notebook(url: str, key: str) -> list[str]:
    """calling-endpoints.md's Python snippet for `_meter`, with the test's URL and key in place
    of the page's: what it prints."""
    section = CALLING.read_text().split("## The meter: time left, and extend\n", 1)[1]
    (snippet,) = re.findall(r"^```python\n(.*?)^```", section.split("\n## ", 1)[0], re.S | re.M)
    snippet, urls = re.subn(r"^URL = .*$", f"URL = {url!r}", snippet, flags=re.M)
    snippet, keys = re.subn(r"^API_KEY = .*$", f"API_KEY = {key!r}", snippet, flags=re.M)
    assert (urls, keys) == (1, 1), "the snippet sets URL and API_KEY once each"
    done = subprocess.run(
        [sys.executable, "-c", snippet], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return done.stdout.splitlines()


def meter(url: str, key: str, body: Any = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """GET (or, with a body, POST) `<route>/_meter` with the API key."""
    return meter_as(url, {"x-api-key": key}, body)


def meter_as(
    url: str, headers: dict[str, str], body: Any = None, *, sigv4: bool = False
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """GET (or, with a body, POST) `<route>/_meter` with these headers, or signed with SigV4
    for `execute-api` as the sandbox's credentials."""
    data = None if body is None else json.dumps(body).encode()
    method = "GET" if body is None else "POST"
    headers = {**headers, "Content-Type": "application/json"}
    if sigv4:
        signed = AWSRequest(method, f"{url}/_meter", data=data, headers=headers)
        credentials = Credentials(
            AWS_CREDENTIALS["AWS_ACCESS_KEY_ID"], AWS_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
        )
        SigV4Auth(credentials, "execute-api", "us-east-1").add_auth(signed)
        headers = dict(signed.headers)
    request = urllib.request.Request(f"{url}/_meter", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)


def self_served(kube: Kubectl, sandbox: Any, namespace: str, name: str) -> tuple[str, str]:
    path = f"{namespace}/{name}"
    kube.apply(
        endpoint_object(
            name,
            expiry={"ttl": "2h"},
            api={"path": path, "authorization": "API_KEY", "selfService": True},
        )
    )
    kube.wait_phase(name, "InService")
    return routed(kube, sandbox, name, path)


def test_get_meter_answers_from_the_parameter_and_follows_changes_without_a_deployment(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    operator.start()
    url, key = self_served(kube, sandbox, namespace, "metered")
    answer = wait_for(
        "the meter", lambda: (a := meter(url, key))[0] == 200 and a[1]["phase"] == "InService" and a
    )
    status = kube.status("metered")
    assert answer[1] == {
        "namespace": namespace,
        "name": "metered",
        "phase": "InService",
        "parkedReason": None,
        "expiresAt": status["expiresAt"],
        "maxExpiresAt": status.get("maxExpiresAt"),
        "hourlyCostUSD": status["hourlyCostUSD"],
    }
    # The docs' curl line, as written.
    assert run_docs(docs_curl("GET"), url, key) == answer[1]
    # The caller cannot pick the parameter: the request's body and query reach no template.
    request = urllib.request.Request(
        f"{url}/_meter?Name=/sagemeter/other/victim",
        data=json.dumps({"Name": "/sagemeter/other/victim"}).encode(),
        headers={"x-api-key": key, "Content-Type": "application/json"},
        method="GET",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read()) == answer[1]
    parameter = f"/sagemeter/{namespace}/metered"
    assert status["meterParameter"] == parameter
    ssm = aws(sandbox, "ssm")
    found = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [parameter]}])[
        "Parameters"
    ]
    assert found[0]["Tier"] == "Standard"
    tags = {
        t["Key"]: t["Value"]
        for t in ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=parameter)[
            "TagList"
        ]
    }
    assert tags["sagemeter.io/managed-by"] == "sagemeter"
    assert tags["sagemeter.io/namespace"] == namespace

    # A change that leaves the route alone: visible to GET within 5 s, with no deployment.
    deployments = operator.aws_calls().get("apigateway:CreateDeployment", 0)
    puts = operator.aws_calls().get("ssm:PutParameter", 0)
    later = "2099-01-01T00:00:00Z"
    kube.patch("metered", {"spec": {"expiry": {"expiresAt": later, "ttl": None}}})
    wait_for("the status", lambda: kube.status("metered").get("expiresAt") == later, timeout=30)
    seen = time.monotonic()
    wait_for(
        "GET showing the change",
        lambda: meter(url, key)[1].get("expiresAt") == later,
        timeout=5,
    )
    fresh = time.monotonic() - seen
    print(f"\nstatus -> GET _meter: {fresh:.2f} s")
    assert operator.aws_calls().get("apigateway:CreateDeployment", 0) == deployments
    print(f"PutParameter per change: {operator.aws_calls().get('ssm:PutParameter', 0) - puts}")

    # Parameter Store throttles GetParameter (40/s per account and region by default): 429.
    faults = FaultClient(sandbox.aws_endpoint_url)
    faults.throttle("ssm", "GetParameter")
    try:
        throttled = meter(url, key)
    finally:
        faults.clear()
    assert throttled[0] == 429 and throttled[2].get("Retry-After") == "1"
    assert throttled[1] == {"state": "throttled", "reason": "ParameterStoreThrottled"}

    # Removed with the object.
    kube.delete("metered", wait=True)
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=parameter)


def events_of(kube: Kubectl, name: str, reason: str) -> list[str]:
    return [e["message"] for e in kube.events(name) if e["reason"] == reason]


def spec_expiry(kube: Kubectl, name: str) -> str | None:
    obj = kube.get(name)
    assert obj is not None
    return ((obj["spec"].get("expiry") or {}).get("expiresAt")) or None


def test_post_meter_extends_up_to_the_cap_and_refuses_what_it_must(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    # A 3 h maximum lifetime: a 2 h ttl extended by 90 m is cut at the cap.
    operator.start(SAGEMETER_MAX_LIFETIME="3h")
    path = f"{namespace}/topped"
    kube.apply(
        endpoint_object(
            "topped",
            expiry={"ttl": "2h"},
            api={
                "path": path,
                "authorization": "API_KEY",
                "selfService": True,
                "maxExtendsPerDay": 1,
            },
        )
    )
    kube.wait_phase("topped", "InService")
    url, key = routed(kube, sandbox, "topped", path)
    wait_for("the meter", lambda: meter(url, key)[0] == 200)
    cap = kube.status("topped")["maxExpiresAt"]

    # Refused, with nothing changed: a bad duration, an unknown field, a non-object.
    for body in ({"extend": "1x"}, {"extend": "1h", "expiresAt": "2099-01-01T00:00:00Z"}, ["1h"]):
        assert meter(url, key, body)[:2] == (202, {"state": "extending"})
    wait_for("three refusals", lambda: len(events_of(kube, "topped", "ExtendRefused")) == 3)
    assert spec_expiry(kube, "topped") is None
    refusals = " ".join(events_of(kube, "topped", "ExtendRefused"))
    assert "invalid duration" in refusals and "unknown fields" in refusals

    # The docs' curl line, as written: 202, and the expiry is extended, cut at the cap.
    sent = time.monotonic()
    assert run_docs(docs_curl("POST"), url, key) == {"state": "extending"}
    wait_for("the extension", lambda: spec_expiry(kube, "topped") == cap, timeout=30)
    took = time.monotonic() - sent
    print(f"\nPOST _meter -> spec.expiry.expiresAt: {took:.2f} s")
    shown = sandbox.kubectl_run(
        "get", "mep", "topped", "-n", namespace, "-o", "json", "--show-managed-fields"
    )
    managers = {f["manager"] for f in json.loads(shown.stdout)["metadata"]["managedFields"]}
    assert "sagemeter-self-service" in managers
    said = wait_for("the Event", lambda: events_of(kube, "topped", "ExtendedByRequest"))
    assert "cut at maxExpiresAt" in said[0] and " by " in said[0]
    assert wait_for("the count", lambda: kube.status("topped").get("extends"))["count"] == 1
    wait_for("GET showing it", lambda: meter(url, key)[1]["expiresAt"] == cap, timeout=5)

    # The daily limit (maxExtendsPerDay: 1): refused, nothing changed.
    assert meter(url, key, {"extend": "1m"})[0] == 202
    wait_for(
        "the daily limit",
        lambda: any("maxExtendsPerDay" in m for m in events_of(kube, "topped", "ExtendRefused")),
    )
    assert spec_expiry(kube, "topped") == cap
    assert kube.status("topped")["extends"]["count"] == 1
    assert len(events_of(kube, "topped", "ExtendedByRequest")) == 1


def test_an_extend_resumes_an_expired_endpoint(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    operator.start()
    path = f"{namespace}/lapsed"
    kube.apply(
        endpoint_object(
            "lapsed",
            expiry={"expiresAt": "2020-01-01T00:00:00Z"},
            api={"path": path, "authorization": "API_KEY", "selfService": True},
        )
    )
    assert kube.wait_phase("lapsed", "Parked")["parkedReason"] == "Expired"
    url, key = routed(kube, sandbox, "lapsed", path)
    wait_for("the meter", lambda: meter(url, key)[1].get("parkedReason") == "Expired")
    # calling-endpoints.md's notebook snippet, as written: the time left (past), then extend 2h.
    left, queued = run_notebook(url, key)
    assert left.startswith("Parked - time left: -")
    assert queued == "{'state': 'extending'}"
    kube.wait_phase("lapsed", "InService", timeout=60)
    expires = kube.status("lapsed")["expiresAt"]
    assert expires > "2026"  # from now, not from the old expiry
    wait_for("GET showing it", lambda: meter(url, key)[1].get("phase") == "InService")


def test_another_namespace_cannot_extend_this_object(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str, other_namespace: str
) -> None:
    """Attacks: another namespace's API key on the victim's _meter, and messages forged into
    the queue naming the victim but not matching its route. The victim stays as it was."""
    operator.namespaces.append(other_namespace)
    operator.start()
    attacker = Kubectl(sandbox, other_namespace)
    url, key = self_served(kube, sandbox, namespace, "victim")
    _, other_key = self_served(attacker, sandbox, other_namespace, "attacker")
    wait_for("the meter", lambda: meter(url, key)[0] == 200)
    before = kube.get("victim")
    assert before is not None

    # The attacker's key opens its own namespace's routes only.
    assert meter(url, other_key, {"extend": "24h"})[0] == 403
    assert meter(url, other_key)[0] == 403
    # Forged messages: another object's name on the victim's uid, another path.
    sqs = aws(sandbox, "sqs")
    queue = sqs.get_queue_url(QueueName="sagemeter-events")["QueueUrl"]
    uid = before["metadata"]["uid"]
    body = base64.b64encode(b'{"extend": "24h"}').decode()
    forged = {
        "kind": "sagemeter.extend",
        "uid": uid,
        "requestId": "forged-1",
        "caller": base64.b64encode(b"mallory").decode(),
        "body": body,
    }
    for fields in (
        {"namespace": other_namespace, "name": "victim", "path": f"{namespace}/victim"},
        {"namespace": namespace, "name": "victim", "path": f"{other_namespace}/attacker"},
    ):
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({**forged, **fields}))
    wait_for(
        "the forged messages refused",
        lambda: len(events_of(kube, "victim", "ExtendRefused")) == 2,
    )
    after = kube.get("victim")
    assert after is not None
    assert after["spec"] == before["spec"]
    assert "sagemeter.io/extends" not in (after["metadata"].get("annotations") or {})
    assert not events_of(kube, "victim", "ExtendedByRequest")


def test_an_extend_waiting_in_the_queue_across_a_restart_is_applied_once(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    operator.start()
    url, key = self_served(kube, sandbox, namespace, "patient")
    wait_for("the meter", lambda: meter(url, key)[0] == 200)
    before = kube.status("patient")["expiresAt"]
    operator.stop()
    assert meter(url, key, {"extend": "1h"})[0] == 202  # waits in the queue meanwhile
    operator.start()
    extended = wait_for("the extension", lambda: spec_expiry(kube, "patient"), timeout=30)
    assert extended == (
        datetime.fromisoformat(before.replace("Z", "+00:00")) + timedelta(hours=1)
    ).strftime("%Y-%m-%dT%H:%M:%SZ")
    operator.wait_passes(3)
    assert spec_expiry(kube, "patient") == extended
    assert kube.status("patient")["extends"]["count"] == 1
    assert len(events_of(kube, "patient", "ExtendedByRequest")) == 1


def test_meter_under_iam_cognito_and_custom_names_the_caller(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    """`_meter` under AWS_IAM (SigV4), COGNITO_USER_POOLS (a user's ID token) and CUSTOM (a
    TOKEN authorizer whose Lambda really runs): GET and POST pass with the route's credentials,
    and are refused without them (403 unsigned, 401 without a token or with a wrong one) with
    nothing changed; ExtendedByRequest names the IAM caller, the user's sub and the
    authorizer's principalId."""
    operator.start()
    urls = {}

    def self_served_as(name: str, **auth: Any) -> str:
        path = f"{namespace}/{name}"
        kube.apply(
            endpoint_object(
                name, expiry={"ttl": "2h"}, api={"path": path, "selfService": True, **auth}
            )
        )
        kube.wait_phase(name, "InService")
        invoke = wait_for(f"{name}'s URL", lambda: kube.status(name).get("invokeUrl"))
        api_id = invoke.split("//")[1].split(".")[0]
        urls[name] = user_request_url(sandbox.aws_endpoint_url, api_id, "prod", path)
        return str(api_id)

    api_id = self_served_as("signed", authorization="AWS_IAM")
    # The user pool's authorizer, in the namespace's REST API the IAM route lives in.
    cognito = aws(sandbox, "cognito-idp")
    pool = make_pool(cognito, namespace)
    user = sign_in(cognito, pool, "ada")
    authorizer = aws(sandbox, "apigateway").create_authorizer(
        restApiId=api_id,
        name="users",
        type="COGNITO_USER_POOLS",
        providerARNs=[pool.arn],
        identitySource="method.request.header.Authorization",
    )["id"]
    assert (
        self_served_as("pooled", authorization="COGNITO_USER_POOLS", authorizerId=authorizer)
        == api_id
    )

    # The platform's TOKEN authorizer (a Lambda), in the same REST API.
    custom = token_authorizer(partial(aws, sandbox), "us-east-1", api_id, f"{namespace}-auth")
    assert self_served_as("custom", authorization="CUSTOM", authorizerId=custom) == api_id

    token = {"Authorization": user["IdToken"]}
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    ways: dict[str, tuple[dict[str, str], bool]] = {
        "signed": ({}, True),
        "pooled": (token, False),
        "custom": (bearer, False),
    }
    for name, (headers, sigv4) in ways.items():
        read = partial(meter_as, urls[name], headers, sigv4=sigv4)
        answer = wait_for(f"{name}'s meter", lambda: (a := read())[0] == 200 and a)  # noqa: B023
        assert answer[1]["name"] == name and answer[1]["phase"] == "InService"
    # Without credentials: refused by the route, nothing queued.
    assert meter_as(urls["signed"], {})[0] == 403
    assert meter_as(urls["signed"], {}, {"extend": "24h"})[0] == 403
    unauthorized = (401, {"message": "Unauthorized"})
    assert meter_as(urls["pooled"], {})[:2] == unauthorized
    assert meter_as(urls["pooled"], {}, {"extend": "24h"})[:2] == unauthorized
    assert meter_as(urls["pooled"], {"Authorization": user["AccessToken"]})[:2] == unauthorized
    assert meter_as(urls["custom"], {})[:2] == unauthorized
    assert meter_as(urls["custom"], {"Authorization": "Bearer guess"}, {"extend": "24h"})[:2] == (
        unauthorized
    )

    for name, (headers, sigv4) in ways.items():
        before = kube.status(name)["expiresAt"]
        assert meter_as(urls[name], headers, {"extend": "1h"}, sigv4=sigv4)[:2] == (
            202,
            {"state": "extending"},
        )
        extended = wait_for(f"{name} extended", partial(spec_expiry, kube, name), timeout=30)
        assert extended == (
            datetime.fromisoformat(before.replace("Z", "+00:00")) + timedelta(hours=1)
        ).strftime("%Y-%m-%dT%H:%M:%SZ")
    signed_said = wait_for("signed's Event", lambda: events_of(kube, "signed", "ExtendedByRequest"))
    pooled_said = wait_for("pooled's Event", lambda: events_of(kube, "pooled", "ExtendedByRequest"))
    # The IAM caller ($context.identity.caller: for the sandbox's root credentials, the account).
    assert " by 123456789012 (request " in signed_said[0], signed_said
    assert f" by {user['sub']} (request " in pooled_said[0], pooled_said
    custom_said = wait_for("custom's Event", lambda: events_of(kube, "custom", "ExtendedByRequest"))
    assert " by support-team (request " in custom_said[0], custom_said  # the principalId
    for name in ways:
        assert kube.status(name)["extends"]["count"] == 1


def test_an_extend_older_than_60_s_is_refused_and_changes_nothing(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    """A real request through the route, read after the operator was down for more than 60 s
    (its SentTimestamp aged in the local SQS rather than waited for): ExtendRefused, and the
    spec, the annotations and the count stay as they were."""
    operator.start()
    url, key = self_served(kube, sandbox, namespace, "late")
    wait_for("the meter", lambda: meter(url, key)[0] == 200)
    operator.stop()
    before = kube.get("late")
    assert before is not None
    assert meter(url, key, {"extend": "1h"})[:2] == (202, {"state": "extending"})
    assert FaultClient(sandbox.aws_endpoint_url).age_messages("sagemeter-events", 61) >= 1
    operator.start()
    refused = wait_for("the refusal", lambda: events_of(kube, "late", "ExtendRefused"), timeout=30)
    assert "older than 60 s" in refused[0], refused
    operator.wait_passes(2)
    after = kube.get("late")
    assert after is not None
    assert after["spec"] == before["spec"]
    assert "sagemeter.io/extends" not in (after["metadata"].get("annotations") or {})
    assert not kube.status("late").get("extends")
    assert not events_of(kube, "late", "ExtendedByRequest")


def test_under_a_policy_role_the_meter_lives_in_the_tenants_account(
    operator: Operator,
    kube: Kubectl,
    sandbox: Any,
    namespace: str,
    policies: Callable[..., str],
) -> None:
    """A tenant in account 111111111111 (an EndpointPolicy role): the SSM parameter, the
    extend's trip through the event queue and the ExtendedByRequest SNS message (with the
    `curl` line for `_meter`) all stay in the tenant's account; the operator's has none."""
    inbox = Inbox(sandbox, role=TENANT_ROLE)
    policies(
        f"{namespace}-a",
        [namespace],
        aws={
            "roleArn": TENANT_ROLE,
            "apiInvokeRoleArn": f"arn:aws:iam::{TENANT}:role/sagemeter-apigateway",
        },
        notifications={"snsTopicArn": inbox.topic},
    )
    started = time.time()
    operator.start()
    path = f"{namespace}/tenant"
    kube.apply(
        m5(
            "tenant",
            expiry={"ttl": "2h"},
            api={"path": path, "authorization": "API_KEY", "selfService": True},
        )
    )
    kube.wait_phase("tenant", "InService")
    url, key = routed(kube, sandbox, "tenant", path)
    wait_for("the meter", lambda: meter(url, key)[0] == 200)
    parameter = f"/sagemeter/{namespace}/tenant"
    assert aws_as(sandbox, "ssm", TENANT_ROLE).get_parameter(Name=parameter)["Parameter"]
    own_ssm = aws(sandbox, "ssm")
    with pytest.raises(own_ssm.exceptions.ParameterNotFound):
        own_ssm.get_parameter(Name=parameter)

    before = kube.status("tenant")["expiresAt"]
    assert meter(url, key, {"extend": "1h"})[:2] == (202, {"state": "extending"})
    (extended,) = inbox.wait_reason("ExtendedByRequest")
    assert extended["TopicArn"] == inbox.topic and f":{TENANT}:" in inbox.topic
    hint = extended["Message"]["extend"]
    assert hint["curl"].startswith(f"curl -sS -X POST {kube.status('tenant')['invokeUrl']}/_meter")
    assert '-d \'{"extend": "1h"}\'' in hint["curl"] and "x-api-key" in hint["curl"]
    assert spec_expiry(kube, "tenant") == (
        datetime.fromisoformat(before.replace("Z", "+00:00")) + timedelta(hours=1)
    ).strftime("%Y-%m-%dT%H:%M:%SZ")

    # Who did what, as the local AWS saw it: the parameter's writes, the message's send (by
    # the route's integration) and receive (by the operator) on the events queue, and the
    # publish, all in the tenant's account; none of them in the operator's.
    faults = FaultClient(sandbox.aws_endpoint_url)
    calls = faults.requests("ssm:PutParameter,sns:Publish", since=started) + faults.requests(
        "sqs:SendMessage,sqs:ReceiveMessage", since=started, contains="sagemeter-events"
    )
    seen = {(r["call"], r["account"]) for r in calls}
    for call in ("ssm:PutParameter", "sqs:SendMessage", "sqs:ReceiveMessage", "sns:Publish"):
        assert (call, TENANT) in seen, (call, seen)
    tenants = {r["account"] for r in calls if r["call"] != "sqs:ReceiveMessage"}
    assert tenants == {TENANT}, seen
    sent = [r for r in calls if r["call"] == "sqs:SendMessage"]
    assert all(f"/{TENANT}/sagemeter-events" in r["name"] for r in sent), sent
