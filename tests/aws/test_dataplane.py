"""The local API Gateway data plane (``sagemeter_sandbox.dataplane``) serving routes that
sagemeter's own ``RouteManager`` writes, called over real HTTP: API keys, IAM signatures,
custom attributes, async invocations, parked endpoints, unknown routes and undeployed
changes, and the request log.

The SageMaker endpoints behind the routes are the local AWS's (InvokeEndpoint answers a JSON
echo of the request). Lambda, custom authorizer, MOCK and SQS integrations are in
``test_dataplane_integrations.py``; the docs' commands in ``test_dataplane_usage.py``.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest

from sagemeter.api.models import Authorization
from sagemeter.core.endpoint.ownership import Owner
from sagemeter.core.routes import RouteSpec
from sagemeter.routes.manager import RouteManager, RouteResult
from sagemeter.runtime.settings import Settings
from sagemeter_sandbox.control import FaultClient
from sagemeter_sandbox.dataplane import user_request_url

from .conftest import REGION, LocalAws, client, ensure_deployed, flush, site
from .dataplane_calls import ROLE, requests_seen, send, signed

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("aws_env")]

EXECUTION_ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1"
OWNER = Owner("team-a", "falcon", "uid-falcon")
MISSING_TOKEN = {"message": "Missing Authentication Token"}


def create_endpoint(name: str, async_: bool = False, wait: bool = True) -> None:
    sm = client("sagemaker", REGION)
    sm.create_model(
        ModelName=f"{name}-model",
        ExecutionRoleArn=EXECUTION_ROLE,
        PrimaryContainer={"Image": IMAGE},
    )
    extra: dict[str, Any] = {}
    if async_:
        extra["AsyncInferenceConfig"] = {"OutputConfig": {"S3OutputPath": "s3://out/falcon"}}
    sm.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{name}-model",
                "InstanceType": "ml.g5.2xlarge",
                "InitialInstanceCount": 1,
            }
        ],
        **extra,
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
    if wait:
        wait_for_status(name, "InService")


def wait_for_status(name: str, status: str | None) -> None:
    sm = client("sagemaker", REGION)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [
            e
            for e in sm.list_endpoints(NameContains=name)["Endpoints"]
            if e["EndpointName"] == name
        ]
        if (found[0]["EndpointStatus"] if found else None) == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never reached {status}")


def route(
    manager: RouteManager, local_aws: LocalAws, endpoint: str, path: str, **changes: Any
) -> tuple[RouteResult, str]:
    """Writes and deploys the route; its result and its local data-plane URL."""
    result = ensure_deployed(
        manager, RouteSpec(path=path, endpoint_name=endpoint, owner=OWNER, **changes)
    )
    return result, user_request_url(local_aws.url, result.rest_api_id, "prod", path)


# --------------------------------------------------------------------------- authorization


def test_api_key_route_serves_the_model_only_with_its_key(
    manager: RouteManager, local_aws: LocalAws
) -> None:
    create_endpoint("falcon")
    result, url = route(
        manager, local_aws, "falcon", "team-a/falcon", authorization=Authorization.API_KEY
    )
    assert result.api_key
    body = b'{"inputs": "What is a parking meter?"}'

    answer = send(url, body, {"x-api-key": result.api_key, "Content-Type": "application/json"})
    assert answer.status == 200, answer.body
    assert answer.json() == {"endpoint": "falcon", "input": {"inputs": "What is a parking meter?"}}
    assert answer.header("Content-Type") == "application/json"
    assert answer.header("X-Amzn-Invoked-Production-Variant") == "AllTraffic"
    assert answer.header("x-amzn-RequestId")

    for headers in ({}, {"x-api-key": "not-the-key"}, {"x-api-key": result.api_key.upper()}):
        refused = send(url, body, headers)
        assert (refused.status, refused.json()) == (403, {"message": "Forbidden"}), headers
        assert refused.header("x-amzn-ErrorType") == "ForbiddenException"

    apigw = client("apigateway", REGION)
    apigw.update_api_key(
        apiKey=result.api_key_id,
        patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}],
    )
    assert send(url, body, {"x-api-key": result.api_key}).status == 403


def test_iam_route_checks_signatures_and_permissions(
    manager: RouteManager, local_aws: LocalAws
) -> None:
    create_endpoint("llama")
    _, url = route(manager, local_aws, "llama", "team-a/llama")
    body = b'{"inputs": "Hello"}'

    assert signed(url, body).json() == {"endpoint": "llama", "input": {"inputs": "Hello"}}
    unsigned = send(url, body, {"Content-Type": "application/json"})
    assert (unsigned.status, unsigned.json()) == (403, MISSING_TOKEN)
    wrong = signed(url, body, secret="not-testing")
    assert wrong.status == 403
    assert wrong.json()["message"].startswith(
        "The request signature we calculated does not match the signature you provided."
    )
    assert wrong.header("x-amzn-ErrorType") == "InvalidSignatureException"
    assert signed(url, body, service="sagemaker").json() == {
        "message": "Credential should be scoped to correct service: 'execute-api'. "
    }
    assert signed(url, body, region="eu-west-1").status == 403
    unknown = signed(url, body, key="AKIAUNKNOWNKEY000000")
    assert unknown.json() == {"message": "The security token included in the request is invalid."}

    # An IAM user's key: the signature is checked against its secret, then its policies.
    iam = client("iam", REGION)
    iam.create_user(UserName="caller")
    key = iam.create_access_key(UserName="caller")["AccessKey"]
    denied = signed(url, body, key["AccessKeyId"], key["SecretAccessKey"])
    assert denied.status == 403
    assert denied.json()["Message"].startswith(
        "User: arn:aws:iam::123456789012:user/caller is not authorized to perform: "
        "execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:123456789012:"
    )
    assert denied.json()["Message"].endswith("/prod/POST/team-a/llama")
    iam.put_user_policy(
        UserName="caller",
        PolicyName="invoke",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "execute-api:Invoke",
                        "Resource": f"arn:aws:execute-api:{REGION}:*:*/prod/POST/team-a/*",
                    }
                ],
            }
        ),
    )
    assert signed(url, body, key["AccessKeyId"], key["SecretAccessKey"]).status == 200
    assert signed(url, body, key["AccessKeyId"], "wrong").status == 403

    # Temporary credentials of an assumed role: the session token must match.
    iam.create_role(
        RoleName="invoker",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                    }
                ],
            }
        ),
    )
    policy = iam.create_policy(
        PolicyName="invoke-all",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "execute-api:*",
                        "Resource": "arn:aws:execute-api:*:*:*",
                    }
                ],
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="invoker", PolicyArn=policy)
    session = client("sts", REGION).assume_role(
        RoleArn="arn:aws:iam::123456789012:role/invoker", RoleSessionName="demo"
    )["Credentials"]
    temporary = (session["AccessKeyId"], session["SecretAccessKey"])
    assert signed(url, body, *temporary, token=session["SessionToken"]).status == 200
    assert signed(url, body, *temporary, token="forged").status == 403
    assert signed(url, body, *temporary).status == 403


def test_a_form_encoded_body_reaches_the_model_as_sent(
    manager: RouteManager, local_aws: LocalAws
) -> None:
    """`curl -d '{...}'` without a JSON Content-Type sends a form-encoded body: API Gateway
    passes it through (no template matches) with its Content-Type, the one header
    InvokeEndpoint reads as the input's type, and SageMaker hands the body to the model."""
    create_endpoint("formed")
    _, url = route(manager, local_aws, "formed", "team-a/formed")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = signed(url, b'{"inputs": "Hi"}', headers=form)
    assert answer.status == 200, answer.body
    assert answer.json() == {"endpoint": "formed", "input": {"inputs": "Hi"}}


def test_custom_attributes_pass_through_both_ways(
    manager: RouteManager, local_aws: LocalAws
) -> None:
    create_endpoint("gated")
    _, url = route(manager, local_aws, "gated", "gated")
    headers = {"X-Amzn-SageMaker-Custom-Attributes": "accept_eula=true", "X-Dropped": "yes"}
    answer = signed(url, b'{"inputs": "Hi"}', headers=headers)
    assert answer.status == 200
    # The local SageMaker echoes the attributes it received: they reached it and came back.
    assert answer.header("X-Amzn-SageMaker-Custom-Attributes") == "accept_eula=true"
    assert answer.header("X-Dropped") is None
    assert signed(url, b"{}").header("X-Amzn-SageMaker-Custom-Attributes") is None


def test_async_route_answers_202_with_the_output_location(
    manager: RouteManager, local_aws: LocalAws
) -> None:
    create_endpoint("batch", async_=True)
    _, url = route(manager, local_aws, "batch", "team-a/batch", async_=True)
    answer = signed(
        url,
        b"",
        headers={
            "X-Amzn-SageMaker-InputLocation": "s3://in/batch/input.json",
            "X-Amzn-SageMaker-Content-Type": "application/json",
        },
    )
    assert answer.status == 202, answer.body
    assert (answer.header("X-Amzn-SageMaker-OutputLocation") or "").startswith("s3://")
    assert (answer.header("X-Amzn-SageMaker-FailureLocation") or "").startswith("s3://")
    assert set(answer.json()) == {"InferenceId"}


def test_parked_or_creating_endpoint_answers_400_with_sagemaker_message(
    manager: RouteManager, local_aws: LocalAws
) -> None:
    create_endpoint("parked", wait=False)
    # Held in Creating until the test lets it go, however long the route takes to set up.
    FaultClient(local_aws.url).set_endpoint_status("parked", "Creating")
    _, url = route(manager, local_aws, "parked", "team-a/parked")
    not_found = "Endpoint parked of account 123456789012 not found."

    creating = signed(url, b"{}")
    assert creating.status == 400
    assert not_found in creating.body.decode()
    FaultClient(local_aws.url).set_endpoint_status("parked", "InService")
    wait_for_status("parked", "InService")
    assert signed(url, b"{}").status == 200
    client("sagemaker", REGION).delete_endpoint(EndpointName="parked")
    wait_for_status("parked", None)
    gone = signed(url, b"{}")
    assert gone.status == 400 and not_found in gone.body.decode()


# --------------------------------------------------------------------------- routing


def test_unknown_api_stage_path_or_method_and_undeployed_changes(local_aws: LocalAws) -> None:
    lazy = RouteManager(
        Settings(region=REGION, api_invoke_role_arn=ROLE, api_stage="prod"),
        quiet_seconds=60,
        max_delay_seconds=120,
    )
    try:
        create_endpoint("routed")
        result = lazy.ensure(RouteSpec(path="routed", endpoint_name="routed", owner=OWNER), site())
        url = user_request_url(local_aws.url, result.rest_api_id, "prod", "routed")
        assert (signed(url, b"{}").status, signed(url, b"{}").json()) == (403, MISSING_TOKEN)
        flush(lazy)  # the stage exists from here on
        assert signed(url, b"{}").status == 200

        # A route written after the deployment is not served until the next one.
        lazy.ensure(
            RouteSpec(
                path="later", endpoint_name="routed", owner=Owner("team-a", "later", "uid-later")
            ),
            site(),
        )
        later = user_request_url(local_aws.url, result.rest_api_id, "prod", "later")
        assert signed(later, b"{}").json() == MISSING_TOKEN
        flush(lazy)
        assert signed(later, b"{}").status == 200
    finally:
        lazy.close()

    api = result.rest_api_id
    cases = {
        user_request_url(local_aws.url, "nosuchapi", "prod", "routed"): {"message": "Forbidden"},
        user_request_url(local_aws.url, api, "staging", "routed"): MISSING_TOKEN,
        user_request_url(local_aws.url, api, "prod", "routed/extra"): MISSING_TOKEN,
        user_request_url(local_aws.url, api, "prod", ""): MISSING_TOKEN,
    }
    for where, expected in cases.items():
        answer = send(where, b"{}")
        assert (answer.status, answer.json()) == (403, expected), where
    assert send(url, b"", method="GET").json() == MISSING_TOKEN  # only POST exists


# --------------------------------------------------------------------------- control endpoints


def test_requests_are_logged_until_reset(manager: RouteManager, local_aws: LocalAws) -> None:
    create_endpoint("logged")
    _, url = route(manager, local_aws, "logged", "team-a/logged")
    assert requests_seen(local_aws) == []
    served = signed(url, b"{}")
    refused = send(url, b"{}")
    records = requests_seen(local_aws)
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("POST", "/team-a/logged", 200),
        ("POST", "/team-a/logged", 403),
    ]
    assert records[0]["requestId"] == served.header("x-amzn-RequestId")
    assert records[1]["requestId"] == refused.header("x-amzn-RequestId")
    assert all(r["latencyMs"] >= 0 and r["resourcePath"] == "/team-a/logged" for r in records)
    assert records[1]["error"] == "the request is unsigned" and "error" not in records[0]

    reset = urllib.request.Request(f"{local_aws.url}/sagemeter-api/dataplane/reset", method="POST")
    with urllib.request.urlopen(reset) as response:
        assert json.loads(response.read()) == {"cleared": 2}
    assert requests_seen(local_aws) == []
    send(url, b"{}")
    assert len(requests_seen(local_aws)) == 1
    local_aws.reset()  # moto's own reset clears the log too
    assert requests_seen(local_aws) == []
