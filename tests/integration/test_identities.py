"""As whom, and at whose pace, AWS is called for each tenant: every call an object causes is
made as its own namespace's session (or its policy's, for what serves the whole account), and
AWS throttling one tenant's account holds no other tenant back.

The local AWS records who signed each call (account, session name, session tags), so these
tests judge the operator from what AWS saw, not from what the operator says it did.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sagemeter.core.endpoint import naming
from sagemeter_sandbox.control import FaultClient
from sagemeter_sandbox.dataplane import user_request_url

from .conftest import Kubectl, Operator, endpoint_object, wait_for
from .test_dataplane import post
from .test_lifecycle import endpoint_name
from .test_tenancy import aws_as

pytestmark = pytest.mark.cluster

NOISY, QUIET = "111111111111", "222222222222"
IDLE = {"after": "30m", "gracePeriod": "0s"}

# What serves a whole account, made as the policy's session (SPEC §5 "Shared readers").
SHARED = {
    "sagemaker:ListEndpoints",
    "cloudwatch:GetMetricData",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessageBatch",
    "sqs:GetQueueUrl",
    "sqs:CreateQueue",
    "sqs:GetQueueAttributes",
    "sqs:SetQueueAttributes",
    "events:PutRule",
    "events:PutTargets",
    "apigateway:GetRestApis",
}
# An idle batch names the alarms of every namespace; an object's own alarm check names one.
# The orphan sweep reads the tags of every endpoint of the account (SPEC §5 "Orphans and
# Retain"); an object's own pass reads its endpoint's.
SHARED_OR_OWN = {"cloudwatch:DescribeAlarms", "sagemaker:ListTags"}
# A namespace's listing of its keys and plans names no single object.
NAMESPACE_LISTINGS = {"apigateway:GetUsagePlans"}
# What API Gateway itself calls for a route (the local data plane, signed by nobody).
INTEGRATIONS = {"sagemaker:InvokeEndpoint", "sqs:SendMessage"}


def role(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def tenant_object(name: str, account: str, **spec: Any) -> dict[str, Any]:
    return endpoint_object(
        name,
        model={
            "container": {"image": "repo/m:1"},
            "executionRoleArn": role(account, "sm-tenant"),
        },
        **spec,
    )


def served(kube: Kubectl, sandbox: Any, name: str, path: str) -> tuple[str, str, str]:
    """The route's data-plane URL, API key and REST API, once it serves."""
    status = wait_for(
        f"{name}'s route",
        lambda: (s := kube.status(name)).get("apiKeySecret") and s.get("invokeUrl") and s,
        timeout=90,
    )
    secret = kube.get(status["apiKeySecret"], kind="secret")
    assert secret is not None
    key = base64.b64decode(secret["data"]["apiKey"]).decode()
    api_id = status["invokeUrl"].split("//")[1].split(".")[0]
    url = user_request_url(sandbox.aws_endpoint_url, api_id, "prod", path)
    wait_for(f"{name}'s route to serve", lambda: post(url, key)[0] == 200, timeout=90)
    return url, key, api_id


def test_every_call_an_object_causes_is_made_as_its_own_session(
    operator: Operator,
    sandbox: Any,
    policies: Callable[..., str],
    namespace: str,
    other_namespace: str,
) -> None:
    """Two namespaces share one policy's role and account. Route managers, queue listeners,
    sweeps and idle batches once kept the first object's identity: namespace B's PutMethod,
    CreateApiKey and more ran as A's session."""
    policy = policies(
        f"{namespace}-shared",
        [namespace, other_namespace],
        aws={"roleArn": role(NOISY, "sagemeter-tenants"), "apiInvokeRoleArn": role(NOISY, "apigw")},
    )
    faults = FaultClient(sandbox.aws_endpoint_url)
    since = time.time()
    operator.namespaces.append(other_namespace)
    operator.start()
    teams = {
        namespace: Kubectl(sandbox, namespace),
        other_namespace: Kubectl(sandbox, other_namespace),
    }
    for team, kube in teams.items():
        api = {"path": f"{team}/model", "authorization": "API_KEY", "wakeOnRequest": True}
        kube.apply(tenant_object("model", NOISY, idle=IDLE, api=api))
    known: dict[str, set[str]] = {}
    urls: dict[str, tuple[str, str]] = {}
    for team, kube in teams.items():
        kube.wait_phase("model", "InService", timeout=90)
        url, key, api_id = served(kube, sandbox, "model", f"{team}/model")
        urls[team] = (url, key)
        known[team] = {
            endpoint_name(team, "model"),
            api_id,
            f"sagemeter/{team}",
            f"sagemeter-{team}",
        }
    apigateway = aws_as(sandbox, "apigateway", role(NOISY, "reader"))
    for plan in apigateway.get_usage_plans(limit=500)["items"]:
        for team in teams:
            if plan["name"] == f"sagemeter/{team}":
                known[team].add(plan["id"])
                keys = apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
                known[team].update(k["id"] for k in keys)

    # The first team's endpoint idles, parks, and a request through its route wakes it.
    kube = teams[namespace]
    cloudwatch = aws_as(sandbox, "cloudwatch", role(NOISY, "reader"))
    alarm = naming.alarm_name(endpoint_name(namespace, "model"))
    wait_for("the alarm", lambda: cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"])
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test: idle")
    assert kube.wait_phase("model", "Parked", timeout=60)["parkedReason"] == "Idle"
    wait_for(
        "the route to wake it",
        lambda: post(*urls[namespace])[0] == 503 and kube.status("model").get("phase") != "Parked",
        timeout=60,
    )
    kube.wait_phase("model", "InService", timeout=60)
    for each in teams.values():
        each.delete("model", wait=True)
    wait_for(
        "both namespaces' REST APIs to go",
        lambda: (
            not [
                a
                for a in apigateway.get_rest_apis(limit=500)["items"]
                if a["name"] in {f"sagemeter-{t}" for t in teams}
            ]
        ),
        timeout=90,
    )

    # The test's own reads (aws_as: session "test") are not the operator's.
    entries = [e for e in faults.requests(since=since, account=NOISY) if e["session"] != "test"]
    sessions = {team: f"sm-{team}" for team in teams}
    reader = f"sm-policy-{policy}"
    wrong: list[tuple[str, str, str | None]] = []
    for entry in entries:
        call, name, session = entry["call"], entry["name"], entry["session"]
        owners = [team for team, marks in known.items() if any(mark in name for mark in marks)]
        if session is None:
            ok = call in INTEGRATIONS
        elif call in SHARED:
            ok = session == reader
        elif call in SHARED_OR_OWN:
            ok = session == reader or (len(owners) == 1 and session == sessions[owners[0]])
        elif call in NAMESPACE_LISTINGS:
            ok = session in sessions.values()
        else:
            ok = len(owners) == 1 and session == sessions[owners[0]]
        if not ok:
            wrong.append((call, name, session))
        if session is not None:
            tag = "sagemeter.io/policy" if session == reader else "sagemeter.io/namespace"
            assert set(entry["sessionTags"]) == {tag}, entry
    assert wrong == [], wrong
    by_session = Counter(str(e["session"]) for e in entries)
    print(
        f"\n{len(entries)} calls in account {NOISY}, by session: {dict(sorted(by_session.items()))}"
    )
    seen = {(e["call"], e["session"]) for e in entries}
    for team in teams:  # each namespace made its own route, key and alarm
        for call in (
            "apigateway:PutMethod",
            "apigateway:CreateApiKey",
            "cloudwatch:PutMetricAlarm",
        ):
            assert (call, sessions[team]) in seen, (call, team)
    assert ("sagemaker:ListEndpoints", reader) in seen and ("sqs:ReceiveMessage", reader) in seen


# --------------------------------------------------------------------------- throttling


def deleted_at(faults: FaultClient, endpoint: str, account: str, since: float) -> float | None:
    found = [
        e["ts"]
        for e in faults.requests("sagemaker:DeleteEndpoint", since=since, account=account)
        if e["name"] == endpoint and e["status"] == 200
    ]
    return min(found) if found else None


def lags(kube: Kubectl, sandbox: Any, faults: FaultClient, label: str) -> tuple[float, float]:
    """How late an expiry and an idle park of the quiet tenant are: (expiry's DeleteEndpoint
    after expiresAt, idle park's DeleteEndpoint after the alarm went to ALARM), both read from
    the local AWS's request log."""
    since = time.time()
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=25)
    kube.apply(
        tenant_object(
            f"{label}-expiry",
            QUIET,
            expiry={"expiresAt": expires.isoformat().replace("+00:00", "Z")},
        )
    )
    kube.apply(tenant_object(f"{label}-idle", QUIET, idle=IDLE))
    for name in (f"{label}-expiry", f"{label}-idle"):
        kube.wait_phase(name, "InService", timeout=60)
    cloudwatch = aws_as(sandbox, "cloudwatch", role(QUIET, "reader"))
    idle_endpoint = endpoint_name(kube.namespace, f"{label}-idle")
    alarm = naming.alarm_name(idle_endpoint)
    wait_for("the alarm", lambda: cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"])
    fired = time.time()
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test: idle")
    parked = wait_for(
        "the idle park", lambda: deleted_at(faults, idle_endpoint, QUIET, since), timeout=90
    )
    expiry_endpoint = endpoint_name(kube.namespace, f"{label}-expiry")
    expired = wait_for(
        "the expiry", lambda: deleted_at(faults, expiry_endpoint, QUIET, since), timeout=90
    )
    return expired - expires.timestamp(), parked - fired


def test_throttling_in_one_tenants_account_holds_no_other_tenant_back(
    operator: Operator,
    sandbox: Any,
    policies: Callable[..., str],
    namespace: str,
    other_namespace: str,
) -> None:
    """AWS throttles accounts. Idle monitors once shared the operator's own backoff, so a
    throttled tenant refused every other tenant's CloudWatch calls ("calls resume in N s")."""
    noisy, quiet = Kubectl(sandbox, namespace), Kubectl(sandbox, other_namespace)
    policies(f"{namespace}-noisy", [namespace], aws={"roleArn": role(NOISY, "sagemeter-a")})
    policies(f"{namespace}-quiet", [other_namespace], aws={"roleArn": role(QUIET, "sagemeter-b")})
    faults = FaultClient(sandbox.aws_endpoint_url)
    operator.namespaces.append(other_namespace)
    operator.start()
    for i in range(4):  # the noisy tenant's fleet, idle-policed: CloudWatch and SageMaker calls
        noisy.apply(tenant_object(f"busy-{i}", NOISY, idle=IDLE))
    for i in range(4):
        noisy.wait_phase(f"busy-{i}", "InService", timeout=90)

    baseline = lags(quiet, sandbox, faults, "calm")
    # CloudWatch throttles the noisy tenant's account: its passes still get that far, so it
    # keeps asking (an account's backoff refuses calls locally once AWS has said no).
    faults.throttle(service="monitoring", account=NOISY)
    stop = threading.Event()

    def churn() -> None:  # and it keeps asking: every tag edit re-puts the idle alarms
        round_ = 0
        while not stop.is_set():
            round_ += 1
            noisy.patch(f"busy-{round_ % 4}", {"spec": {"tags": {"round": str(round_)}}})

    churning = threading.Thread(target=churn, daemon=True)
    churning.start()
    try:
        throttled = lags(quiet, sandbox, faults, "storm")
    finally:
        stop.set()
        churning.join(30)
    refused = faults.stats().injected.get("throttle", 0)
    faults.clear()
    # Not one of the quiet tenant's passes was refused for the other account's trouble.
    for name in ("storm-expiry", "storm-idle"):
        reasons = [e["reason"] for e in quiet.events(name)]
        assert "AWSUnavailable" not in reasons, reasons
    print(
        f"\nquiet tenant, expiry lag: {baseline[0]:.2f} s calm, {throttled[0]:.2f} s while the"
        f" other account is throttled; idle park lag: {baseline[1]:.2f} s and"
        f" {throttled[1]:.2f} s; {refused} calls throttled"
    )
    assert refused > 0
    # Held back by the other account's backoff, a pass would wait for it (up to 60 s); the
    # slack is the churning thread's share of a 2-core machine, not a backoff.
    assert throttled[0] <= baseline[0] + 5.0
    assert throttled[1] <= baseline[1] + 5.0
