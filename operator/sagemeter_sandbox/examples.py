"""What the files in examples/ expect to find in AWS before sagemeter runs, made in a local AWS.

* ``existing-endpoint-config.yaml`` runs on EndpointConfig ``fraud-scorer-config-v7``, which a
  training pipeline made (with its Model);
* ``adopted-idle.yaml`` adopts ``notebook-endpoint-2026-11-20``, an endpoint started from a
  notebook. Adoption is a privilege: the endpoint carries the operator's adopt tag
  (``SAGEMETER_ADOPT_TAG``, by default ``auto-maintain=true`` as in the AWS sample);
* ``office-hours.yaml`` is behind a CUSTOM authorizer: the platform team's REST API (the
  operator's ``SAGEMETER_API_REST_API_ID``) with a TOKEN authorizer whose Python Lambda lets
  ``Authorization: Bearer <TOKEN>`` through. API Gateway picks authorizer ids, so the example
  says ``authorizerId: abc123`` and ``manifest`` puts the real id in its place.

``make demo`` (hack/demo.py) and tests/integration/test_examples.py both call ``prepare``, wait
for each example to reach ``expected_state`` (the phase its meter and schedule promise now),
and call the examples' routes as clients would with ``call_route``.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sagemeter.core.meter.durations import parse_duration
from sagemeter.core.meter.schedule import in_any_window, next_edge, parse_window
from sagemeter.core.meter.times import parse_time
from sagemeter_sandbox import AWS_CREDENTIALS
from sagemeter_sandbox.dataplane import user_request_url

__all__ = [
    "AUTHORIZER_PLACEHOLDER",
    "TOKEN",
    "Answer",
    "Expectation",
    "Prerequisites",
    "call_route",
    "expected_state",
    "local_url",
    "prepare",
]

AUTHORIZER_PLACEHOLDER = "abc123"
TOKEN = "demo-token"
NOTEBOOK_ENDPOINT = "notebook-endpoint-2026-11-20"
PIPELINE_CONFIG = "fraud-scorer-config-v7"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/pipeline-model:7"

# The platform team's authorizer: a TOKEN authorizer gets the Authorization header.
AUTHORIZER_SOURCE = """
import os


def handle(event, context):
    token = event["authorizationToken"]
    if token != "Bearer " + os.environ["TOKEN"]:
        raise Exception("Unauthorized")  # API Gateway answers 401
    statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
    return {"principalId": "support-team", "context": {"team": "support"},
            "policyDocument": {"Version": "2012-10-17", "Statement": [statement]}}
"""


@dataclass(frozen=True)
class Prerequisites:
    rest_api_id: str
    authorizer_id: str
    adopt_tag: str  # key=value

    def operator_env(self) -> dict[str, str]:
        """The operator settings the examples rely on."""
        return {
            "SAGEMETER_API_REST_API_ID": self.rest_api_id,
            "SAGEMETER_ADOPT_TAG": self.adopt_tag,
        }

    def manifest(self, example: Path) -> str:
        """The example's YAML with the real authorizer id in place of the placeholder."""
        text = example.read_text()
        return text.replace(
            f"authorizerId: {AUTHORIZER_PLACEHOLDER}", f"authorizerId: {self.authorizer_id}"
        )


def prepare(
    endpoint_url: str, adopt_tag: str = "auto-maintain=true", region: str = "us-east-1"
) -> Prerequisites:
    """Makes everything the examples expect in the local AWS at ``endpoint_url``."""

    def aws(service: str) -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=endpoint_url,
            aws_access_key_id=AWS_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    sagemaker = aws("sagemaker")
    role = "arn:aws:iam::123456789012:role/pipeline"
    for model, config in (
        ("fraud-scorer-model-v7", PIPELINE_CONFIG),
        ("notebook-model", "notebook-config"),
    ):
        sagemaker.create_model(
            ModelName=model, PrimaryContainer={"Image": IMAGE}, ExecutionRoleArn=role
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": model,
                    "InstanceType": "ml.g5.xlarge",
                    "InitialInstanceCount": 1,
                }
            ],
        )
    key, _, value = adopt_tag.partition("=")
    sagemaker.create_endpoint(
        EndpointName=NOTEBOOK_ENDPOINT,
        EndpointConfigName="notebook-config",
        Tags=[{"Key": key, "Value": value}],
    )
    rest_api_id, authorizer_id = _platform_api(aws, region)
    return Prerequisites(rest_api_id, authorizer_id, adopt_tag)


def _platform_api(aws: Any, region: str) -> tuple[str, str]:
    """The platform team's REST API and its TOKEN authorizer (a Python Lambda)."""
    api_id = str(aws("apigateway").create_rest_api(name="platform-models")["id"])
    return api_id, token_authorizer(aws, region, api_id, "platform-token-authorizer")


def token_authorizer(aws: Any, region: str, api_id: str, name: str) -> str:
    """A TOKEN authorizer named `name` in REST API `api_id`: a Python Lambda (and its role) of
    that name that lets `Authorization: Bearer <TOKEN>` through as principalId `support-team`,
    with the permission API Gateway needs to call it. `aws(service)` gives a client."""
    account = aws("sts").get_caller_identity()["Account"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = aws("iam").create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(trust),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("authorizer.py", AUTHORIZER_SOURCE)
    lambda_ = aws("lambda")
    function = lambda_.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="authorizer.handle",
        Timeout=10,
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": {"TOKEN": TOKEN}},
    )["FunctionArn"]
    authorizer_id = aws("apigateway").create_authorizer(
        restApiId=api_id,
        name="bearer-tokens",
        type="TOKEN",
        identitySource="method.request.header.Authorization",
        authorizerUri=f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/"
        f"{function}/invocations",
    )["id"]
    # API Gateway may call the function only once the function says so.
    lambda_.add_permission(
        FunctionName=function,
        StatementId="apigateway-authorizer",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:{region}:{account}:{api_id}/authorizers/{authorizer_id}",
    )
    return str(authorizer_id)


# --------------------------------------------------------------------------- what they promise


@dataclass(frozen=True)
class Expectation:
    phase: str  # InService or Parked
    reason: str | None  # parkedReason when Parked
    until: datetime | None  # when this expectation next changes by itself (expiry, schedule)


def expected_state(spec: dict[str, Any], created: datetime, now: datetime) -> Expectation:
    """Where a freshly applied ManagedEndpoint `spec` (as the API server stores it) settles at
    `now`: Suspended, Expired, Schedule in that order (SPEC §2), else InService. Idle parking
    needs an alarm and time, so a fresh object is never expected idle."""
    expiry = spec.get("expiry") or {}
    expires: datetime | None = None
    if expiry.get("expiresAt"):
        expires = parse_time(expiry["expiresAt"])
    elif expiry.get("ttl"):
        expires = created + parse_duration(expiry["ttl"])
    windows = [parse_window(text) for text in (spec.get("schedule") or {}).get("uptime", [])]
    edge = next_edge(windows, now) if windows else None
    if spec.get("suspend"):
        return Expectation("Parked", "Suspended", None)
    if expires is not None and now >= expires:
        return Expectation("Parked", "Expired", None)
    until = min((t for t in (expires, edge) if t is not None), default=None)
    if windows and not in_any_window(windows, now):
        return Expectation("Parked", "Schedule", until)
    return Expectation("InService", None, until)


# --------------------------------------------------------------------------- calling routes


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def local_url(endpoint_url: str, invoke_url: str) -> str:
    """Where the local data plane serves ``status.invokeUrl``
    (``https://<api>.execute-api.<region>.amazonaws.com/<stage>/<path>``)."""
    parts = urlsplit(invoke_url)
    stage, _, path = parts.path.lstrip("/").partition("/")
    api_id = (parts.hostname or "").split(".")[0]
    return user_request_url(endpoint_url, api_id, stage, path)


def call_route(
    url: str,
    payload: Any,
    *,
    api_key: str | None = None,
    token: str | None = None,
    sigv4_region: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """POST ``payload`` as JSON (bytes as they are: ``b""`` for an async call, whose input is
    in S3) the way a client of the route would: with an API key (``x-api-key``), a bearer
    token (``Authorization``), or signed with SigV4 for ``execute-api`` (the sandbox's
    credentials)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **(headers or {})}
    if api_key is not None:
        headers["x-api-key"] = api_key
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if sigv4_region is not None:
        credentials = Credentials(
            AWS_CREDENTIALS["AWS_ACCESS_KEY_ID"], AWS_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
        )
        request = AWSRequest("POST", url, data=body, headers=headers)
        SigV4Auth(credentials, "execute-api", sigv4_region).add_auth(request)
        headers = dict(request.headers)
    sent = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(sent, timeout=30) as response:
            return Answer(response.status, response.read(), dict(response.headers))
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read(), dict(error.headers))
