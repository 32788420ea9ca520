"""The local data plane's Lambda, custom authorizer, MOCK and SQS integrations, and its
mapping-template subset, over real HTTP. Python Lambda functions really run (in a subprocess,
without Docker); MOCK and SQS routes are written with plain API Gateway calls, the way a
parked endpoint's waking route is made."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from sagemeter.api.models import Authorization
from sagemeter.core.endpoint.ownership import Owner
from sagemeter.core.routes import RouteSpec
from sagemeter.routes.manager import RouteManager
from sagemeter_sandbox.control import FaultClient
from sagemeter_sandbox.dataplane import user_request_url

from .conftest import REGION, LocalAws, client, ensure_deployed
from .dataplane_calls import ROLE, requests_seen, send, signed

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("aws_env")]

ACCOUNT = "123456789012"
OWNER = Owner("team-a", "front", "uid-front")

ECHO_EVENT = """
import json
def handle(event, context):
    print("seen", event["path"])  # goes to the log, not into the answer
    return {"statusCode": 201, "headers": {"X-From": "lambda"},
            "multiValueHeaders": {"X-Multi": ["a", "b"]},
            "body": json.dumps({"event": event, "function": context.function_name})}
"""
AUTHORIZER = """
def handle(event, context):
    token = event["authorizationToken"]
    if token == "Bearer broken":
        raise Exception("Unauthorized")
    effect = "Allow" if token == "Bearer good" else "Deny"
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}
    return {"principalId": "user-7", "context": {"team": "a"},
            "policyDocument": {"Version": "2012-10-17", "Statement": [statement]}}
"""


def function(
    name: str,
    source: str,
    runtime: str = "python3.12",
    handler: str = "app.handle",
    timeout: int = 10,
) -> str:
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
        archive.writestr("app.py", source)
    return str(
        client("lambda", REGION).create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=role,
            Handler=handler,
            Timeout=timeout,
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]
    )


def lambda_route(
    manager: RouteManager, local_aws: LocalAws, arn: str, path: str, **changes: Any
) -> tuple[str, str]:
    result = ensure_deployed(
        manager,
        RouteSpec(path=path, endpoint_name="unused", owner=OWNER, lambda_arn=arn, **changes),
    )
    return result.rest_api_id, user_request_url(local_aws.url, result.rest_api_id, "prod", path)


# --------------------------------------------------------------------------- Lambda proxy


def test_lambda_proxy_route_runs_the_python_function(
    manager: RouteManager, local_aws: LocalAws
) -> None:
    arn = function("front", ECHO_EVENT)
    api_id, url = lambda_route(manager, local_aws, arn, "team-a/front")
    answer = signed(url + "?verbose=1&verbose=2", b'{"inputs": "Hi"}', headers={"X-Custom": "kept"})
    assert answer.status == 201, answer.body
    assert answer.header("X-From") == "lambda"
    assert answer.values("X-Multi") == ["a", "b"]
    document = answer.json()
    assert document["function"] == "front"
    event = document["event"]
    assert (event["httpMethod"], event["path"], event["resource"]) == (
        "POST",
        "/team-a/front",
        "/team-a/front",
    )
    assert event["body"] == '{"inputs": "Hi"}' and event["isBase64Encoded"] is False
    assert event["headers"]["X-Custom"] == "kept"  # a proxy sees every header
    assert event["queryStringParameters"] == {"verbose": "2"}
    assert event["multiValueQueryStringParameters"] == {"verbose": ["1", "2"]}
    context = event["requestContext"]
    assert (context["stage"], context["apiId"], context["accountId"]) == ("prod", api_id, ACCOUNT)
    assert context["path"] == "/prod/team-a/front"
    assert context["requestId"] == answer.header("x-amzn-RequestId")
    assert context["identity"]["userArn"] == f"arn:aws:iam::{ACCOUNT}:root"
    # $context.identity.caller is who signed, as IAM's aws:userid names it (the API Gateway
    # context variable reference): the account id for its root, an IAM user's unique id,
    # "<role id>:<session name>" for an assumed role; never the access key id.
    assert context["identity"]["caller"] == ACCOUNT
    assert context["identity"]["accessKey"] == "testing"
    iam = client("iam", REGION)
    user = iam.create_user(UserName="front-caller")["User"]
    key = iam.create_access_key(UserName="front-caller")["AccessKey"]
    allow = {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}
    iam.put_user_policy(
        UserName="front-caller",
        PolicyName="invoke",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
    )
    as_user = signed(url, b"{}", key["AccessKeyId"], key["SecretAccessKey"])
    identity = as_user.json()["event"]["requestContext"]["identity"]
    assert identity["caller"] == identity["user"] == user["UserId"]
    trust = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": ACCOUNT}}
    role = iam.create_role(
        RoleName="front-invoker",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
    )["Role"]
    iam.put_role_policy(
        RoleName="front-invoker",
        PolicyName="invoke",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
    )
    session = client("sts", REGION).assume_role(RoleArn=role["Arn"], RoleSessionName="ada")
    credentials = session["Credentials"]
    as_role = signed(
        url,
        b"{}",
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        token=credentials["SessionToken"],
    )
    identity = as_role.json()["event"]["requestContext"]["identity"]
    assert identity["caller"] == f"{role['RoleId']}:ada"
    assert identity["accessKey"] == credentials["AccessKeyId"]
    logs = client("logs", REGION).filter_log_events(logGroupName="/aws/lambda/front")["events"]
    assert "seen /team-a/front" in [event["message"] for event in logs]

    # Without the permission sagemeter added, API Gateway may not invoke the function.
    statement = json.loads(client("lambda", REGION).get_policy(FunctionName=arn)["Policy"])
    client("lambda", REGION).remove_permission(
        FunctionName=arn, StatementId=statement["Statement"][0]["Sid"]
    )
    refused = signed(url, b"{}")
    assert (refused.status, refused.json()) == (500, {"message": "Internal server error"})
    assert "Invalid permissions on Lambda function" in (
        refused.header("x-sagemeter-dataplane-error") or ""
    )


RAISES = "def handle(event, context):\n    raise ValueError('boom')\n"
MALFORMED = "def handle(event, context):\n    return {'body': 'no statusCode'}\n"
SLOW = "import time\ndef handle(event, context):\n    time.sleep(10)\n"
NODE = "exports.handle = async () => ({statusCode: 200})"
INTERNAL = "Internal server error"


@pytest.mark.parametrize(
    ("source", "runtime", "timeout", "message", "why"),
    [
        (RAISES, "python3.12", 10, INTERNAL, "'errorMessage': 'boom'"),
        (MALFORMED, "python3.12", 10, INTERNAL, "Malformed Lambda proxy response"),
        (SLOW, "python3.12", 1, INTERNAL, "Task timed out after 1.00 seconds"),
        (
            NODE,
            "nodejs20.x",
            10,
            "local data plane: the sandbox runs only Python zip",
            "Zip nodejs",
        ),
    ],
    ids=["raises", "malformed", "times-out", "node"],
)
def test_lambda_failures_are_502(
    manager: RouteManager,
    local_aws: LocalAws,
    source: str,
    runtime: str,
    timeout: int,
    message: str,
    why: str,
) -> None:
    arn = function("failing", source, runtime, timeout=timeout)
    _, url = lambda_route(manager, local_aws, arn, "failing")
    answer = signed(url, b"{}")
    assert answer.status == 502
    assert answer.json()["message"].startswith(message)
    assert why in requests_seen(local_aws)[-1]["error"]


# --------------------------------------------------------------------------- custom authorizer


def test_custom_authorizer_lambda_decides(manager: RouteManager, local_aws: LocalAws) -> None:
    backend = function("guarded", ECHO_EVENT)
    api_id, _ = lambda_route(manager, local_aws, backend, "bootstrap")  # creates the REST API
    authorizer_arn = function("gatekeeper", AUTHORIZER)
    apigw = client("apigateway", REGION)
    authorizer = apigw.create_authorizer(
        restApiId=api_id,
        name="tokens",
        type="TOKEN",
        identitySource="method.request.header.Authorization",
        authorizerUri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
        f"{authorizer_arn}/invocations",
    )["id"]
    _, url = lambda_route(
        manager,
        local_aws,
        backend,
        "guarded",
        authorization=Authorization.CUSTOM,
        authorizer_id=authorizer,
    )
    # API Gateway may call the authorizer only once the function allows it.
    assert send(url, headers={"Authorization": "Bearer good"}).status == 500
    client("lambda", REGION).add_permission(
        FunctionName=authorizer_arn,
        StatementId="apigw",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/authorizers/{authorizer}",
    )

    allowed = send(url, headers={"Authorization": "Bearer good"})
    assert allowed.status == 201, allowed.body
    assert allowed.json()["event"]["requestContext"]["authorizer"] == {
        "principalId": "user-7",
        "team": "a",
    }
    denied = send(url, headers={"Authorization": "Bearer other"})
    assert (denied.status, denied.json()) == (
        403,
        {"Message": "User is not authorized to access this resource with an explicit deny"},
    )
    for headers in ({}, {"Authorization": "Bearer broken"}):
        unauthorized = send(url, headers=headers)
        assert (unauthorized.status, unauthorized.json()) == (401, {"message": "Unauthorized"})


# --------------------------------------------------------------------------- MOCK and SQS


def write_method(
    api_id: str,
    path: str,
    integration: dict[str, Any],
    responses: list[dict[str, Any]],
    http_method: str = "POST",
) -> None:
    """A method with no authorization at ``/<path>`` and its integration responses."""
    apigw = client("apigateway", REGION)
    root = next(r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
    resource = apigw.create_resource(restApiId=api_id, parentId=root, pathPart=path)["id"]
    ids = {"restApiId": api_id, "resourceId": resource, "httpMethod": http_method}
    apigw.put_method(**ids, authorizationType="NONE")
    apigw.put_integration(**ids, **integration)
    for response in responses:
        headers = {
            k.replace("method.response.header.", "method.response.header."): False
            for k in response.get("responseParameters", {})
        }
        apigw.put_method_response(
            **ids, statusCode=response["statusCode"], responseParameters=headers
        )
        apigw.put_integration_response(**ids, **response)


WAKING = {
    "responseParameters": {
        "method.response.header.Retry-After": "'120'",
        "method.response.header.Sagemeter-State": "'waking'",
    },
    "responseTemplates": {
        "application/json": '{"state": "waking", "reason": "Idle", "request": "$context.requestId"}'
    },
}


def test_mock_integration_answers_from_its_integration_response(local_aws: LocalAws) -> None:
    apigw = client("apigateway", REGION)
    api_id = apigw.create_rest_api(name="mocks")["id"]
    write_method(
        api_id,
        "parked",
        {"type": "MOCK", "requestTemplates": {"application/json": '{"statusCode": 503}'}},
        [
            {"statusCode": "503", "selectionPattern": r"5\d{2}", **WAKING},
            {"statusCode": "200", "responseTemplates": {"application/json": '{"ok": true}'}},
        ],
    )
    write_method(
        api_id,
        "broken",
        {
            "type": "MOCK",
            "requestTemplates": {"application/json": '#foreach($x in $y)#end{"statusCode": 200}'},
        },
        [{"statusCode": "200"}],
    )
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    url = user_request_url(local_aws.url, api_id, "prod", "parked")

    answer = send(url, b'{"inputs": "anything"}', {"Content-Type": "application/json"})
    assert answer.status == 503
    assert (answer.header("Retry-After"), answer.header("Sagemeter-State")) == ("120", "waking")
    assert answer.json() == {
        "state": "waking",
        "reason": "Idle",
        "request": answer.header("x-amzn-RequestId"),
    }

    broken = send(
        user_request_url(local_aws.url, api_id, "prod", "broken"),
        b"{}",
        {"Content-Type": "application/json"},
    )
    assert broken.status == 500
    assert "this VTL directive or comment is not supported" in broken.json()["message"]


def test_sqs_integration_sends_the_wake_message(local_aws: LocalAws) -> None:
    sqs = client("sqs", REGION)
    queue = sqs.create_queue(QueueName="sagemeter-wake")["QueueUrl"]
    apigw = client("apigateway", REGION)
    api_id = apigw.create_rest_api(name="wake")["id"]
    body = (
        'Action=SendMessage&MessageBody=$util.urlEncode("{""uid"":""uid-1"",""request"":'
        '""$context.requestId"",""at"":$context.requestTimeEpoch}")'
    )
    write_method(
        api_id,
        "idle",
        {
            "type": "AWS",
            "integrationHttpMethod": "POST",
            "uri": f"arn:aws:apigateway:{REGION}:sqs:path/{ACCOUNT}/sagemeter-wake",
            "credentials": ROLE,
            "passthroughBehavior": "NEVER",
            "requestParameters": {
                "integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"
            },
            "requestTemplates": {"application/json": body},
        },
        [
            {"statusCode": "503", "selectionPattern": r"2\d{2}", **WAKING},
            {
                "statusCode": "502",
                "responseTemplates": {"application/json": '{"state": "unknown"}'},
            },
        ],
    )
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    url = user_request_url(local_aws.url, api_id, "prod", "idle")

    answer = send(url, b'{"inputs": "never sent on"}', {"Content-Type": "application/json"})
    assert answer.status == 503, answer.body
    assert (answer.header("Retry-After"), answer.header("Sagemeter-State")) == ("120", "waking")
    assert answer.json()["state"] == "waking"
    [message] = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)["Messages"]
    sent = json.loads(message["Body"])
    assert (sent["uid"], sent["request"]) == ("uid-1", answer.header("x-amzn-RequestId"))
    assert isinstance(sent["at"], int)

    unmapped = send(url, b"a,b", {"Content-Type": "text/csv"})  # passthroughBehavior NEVER
    assert (unmapped.status, unmapped.json()) == (415, {"message": "Unsupported Media Type"})
    sqs.delete_queue(QueueUrl=queue)
    failed = send(url, b"{}", {"Content-Type": "application/json"})
    assert (failed.status, failed.json()) == (502, {"state": "unknown"})


def test_a_json_protocol_action_reads_ssm_and_the_template_overrides_the_status(
    local_aws: LocalAws, control: FaultClient
) -> None:
    client("ssm", REGION).put_parameter(
        Name="/sagemeter/team-a/falcon", Value='{"phase": "InService"}', Type="String"
    )
    apigw = client("apigateway", REGION)
    api_id = apigw.create_rest_api(name="meter")["id"]
    refused = (
        "#set($type = $input.path('$.__type'))\n"
        "#if($type.contains('ThrottlingException'))\n"
        "#set($context.responseOverride.status = 429)\n"
        "#set($context.responseOverride.header.Retry-After = '1')\n"
        '{"message": "throttled"}\n'
        "#else\n"
        '{"message": "$type"}\n'
        "#end\n"
    )
    write_method(
        api_id,
        "meter",
        {
            "type": "AWS",
            "integrationHttpMethod": "POST",
            "uri": f"arn:aws:apigateway:{REGION}:ssm:action/GetParameter",
            "credentials": ROLE,
            "passthroughBehavior": "NEVER",
            "requestParameters": {
                "integration.request.header.Content-Type": "'application/x-amz-json-1.1'"
            },
            "requestTemplates": {"application/json": '{"Name": "/sagemeter/team-a/falcon"}'},
        },
        [
            {
                "statusCode": "404",
                "selectionPattern": r"4\d{2}",
                "responseTemplates": {"application/json": refused},
            },
            {
                "statusCode": "200",
                "responseTemplates": {"application/json": "$input.path('$.Parameter.Value')"},
            },
        ],
        http_method="GET",
    )
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    url = user_request_url(local_aws.url, api_id, "prod", "meter")

    answer = send(url, b"", method="GET")
    assert (answer.status, answer.json()) == (200, {"phase": "InService"})
    control.throttle("ssm", "GetParameter")
    throttled = send(url, b"", method="GET")
    assert (throttled.status, throttled.json()) == (429, {"message": "throttled"})
    assert throttled.header("Retry-After") == "1"
    control.clear()
    client("ssm", REGION).delete_parameter(Name="/sagemeter/team-a/falcon")
    gone = send(url, b"", method="GET")
    assert (gone.status, gone.json()) == (404, {"message": "ParameterNotFound"})
