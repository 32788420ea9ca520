"""Admission against a real kube-apiserver: bad ManagedEndpoints are rejected at
`kubectl apply` with a message naming the field, good ones (every example) pass,
and `kubectl get` shows the columns users read."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.cluster

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))

BASE: dict[str, Any] = {
    "apiVersion": "sagemeter.io/v1alpha1",
    "kind": "ManagedEndpoint",
    "metadata": {"name": "bad"},
    "spec": {
        "model": {"container": {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1"}},
        "instanceType": "ml.g5.xlarge",
    },
}

JUMPSTART = {"jumpStart": {"modelId": "huggingface-llm-falcon-7b-instruct-bf16"}}


def spec_with(**changes: Any) -> dict[str, Any]:
    """BASE with top-level spec fields replaced (None removes a field)."""
    obj = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            obj["spec"].pop(key, None)
        else:
            obj["spec"][key] = value
    return obj


def container(**fields: Any) -> dict[str, Any]:
    return {"container": {"image": "repo/m:1", **fields}}


# (case id, object, text the error must contain: the offending field's path)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("no-model", spec_with(model=None), "spec.model"),
    ("two-model-sources", spec_with(model={**JUMPSTART, **container()}), "spec.model"),
    ("empty-model", spec_with(model={}), "spec.model"),
    (
        "adopt-without-endpoint-name",
        spec_with(model=None, instanceType=None, adopt=True),
        "spec.endpointName",
    ),
    (
        "adopt-with-model",
        spec_with(instanceType=None, adopt=True, endpointName="nb-endpoint"),
        "spec.model",
    ),
    (
        "adopt-with-instance-type",
        spec_with(model=None, adopt=True, endpointName="nb-endpoint"),
        "spec.instanceType",
    ),
    ("endpoint-name-underscore", spec_with(endpointName="bad_name"), "spec.endpointName"),
    ("endpoint-name-too-long", spec_with(endpointName="a" * 64), "spec.endpointName"),
    ("endpoint-name-leading-dash", spec_with(endpointName="-falcon"), "spec.endpointName"),
    ("instance-type-missing", spec_with(instanceType=None), "spec.instanceType"),
    ("instance-type-malformed", spec_with(instanceType="g5.2xlarge"), "spec.instanceType"),
    (
        "instance-type-with-serverless",
        spec_with(inferenceType="Serverless"),
        "spec.instanceType",
    ),
    (
        "instance-type-with-existing-config",
        spec_with(model={"endpointConfigName": "cfg"}),
        "spec.instanceType",
    ),
    ("instance-count-zero", spec_with(instanceCount=0), "spec.instanceCount"),
    ("inference-type-unknown", spec_with(inferenceType="Batch"), "spec.inferenceType"),
    ("async-missing", spec_with(inferenceType="Async"), "spec.async"),
    (
        "async-output-missing",
        spec_with(inferenceType="Async", **{"async": {"failureS3Uri": "s3://b/err"}}),
        "spec.async.outputS3Uri",
    ),
    (
        "async-output-not-s3",
        spec_with(inferenceType="Async", **{"async": {"outputS3Uri": "https://b/out"}}),
        "spec.async.outputS3Uri",
    ),
    (
        "async-with-realtime",
        spec_with(**{"async": {"outputS3Uri": "s3://bucket/out"}}),
        "spec.async",
    ),
    (
        "serverless-with-realtime",
        spec_with(serverless={"memorySizeMB": 2048}),
        "spec.serverless",
    ),
    (
        "serverless-memory-not-a-size",
        spec_with(instanceType=None, inferenceType="Serverless", serverless={"memorySizeMB": 1000}),
        "spec.serverless.memorySizeMB",
    ),
    (
        "serverless-concurrency-too-high",
        spec_with(
            instanceType=None, inferenceType="Serverless", serverless={"maxConcurrency": 500}
        ),
        "spec.serverless.maxConcurrency",
    ),
    ("ttl-words", spec_with(expiry={"ttl": "90 minutes"}), "spec.expiry.ttl"),
    ("ttl-fraction", spec_with(expiry={"ttl": "1.5h"}), "spec.expiry.ttl"),
    ("ttl-no-unit", spec_with(expiry={"ttl": "90"}), "spec.expiry.ttl"),
    ("expires-at-not-a-time", spec_with(expiry={"expiresAt": "tomorrow"}), "spec.expiry.expiresAt"),
    ("warn-before-negative", spec_with(expiry={"warnBefore": "-5m"}), "spec.expiry.warnBefore"),
    ("idle-after-missing", spec_with(idle={"gracePeriod": "5m"}), "spec.idle.after"),
    ("idle-grace-no-unit", spec_with(idle={"after": "15m", "gracePeriod": "10"}), "spec.idle"),
    # The idle alarm watches at most one day (CloudWatch): longer is refused, not shortened.
    ("idle-after-2d", spec_with(idle={"after": "2d"}), "spec.idle.after must be at most 1d"),
    ("idle-after-1d1s", spec_with(idle={"after": "1d1s"}), "spec.idle.after must be at most 1d"),
    ("idle-after-1441m", spec_with(idle={"after": "1441m"}), "spec.idle.after must be at most 1d"),
    ("idle-after-1w", spec_with(idle={"after": "1w"}), "spec.idle.after must be at most 1d"),
    (
        "schedule-bad-day",
        spec_with(schedule={"uptime": ["Mo-Fr 09:00-17:00 UTC"]}),
        "spec.schedule.uptime",
    ),
    (
        "schedule-crosses-midnight",
        spec_with(schedule={"uptime": ["Mon 17:00-09:00 UTC"]}),
        "spec.schedule.uptime",
    ),
    (
        "schedule-no-zone",
        spec_with(schedule={"uptime": ["Mon-Fri 09:00-17:00"]}),
        "spec.schedule.uptime",
    ),
    ("schedule-empty", spec_with(schedule={"uptime": []}), "spec.schedule.uptime"),
    ("api-path-leading-slash", spec_with(api={"path": "/falcon"}), "spec.api.path"),
    ("api-path-space", spec_with(api={"path": "fal con"}), "spec.api.path"),
    (
        "api-custom-without-authorizer",
        spec_with(api={"path": "falcon", "authorization": "CUSTOM"}),
        "spec.api.authorizerId",
    ),
    (
        "api-authorizer-without-custom",
        spec_with(api={"path": "falcon", "authorizerId": "abc123"}),
        "spec.api.authorizerId",
    ),
    (
        "api-authorization-unknown",
        spec_with(api={"path": "falcon", "authorization": "OPEN"}),
        "spec.api.authorization",
    ),
    (
        "api-lambda-arn-malformed",
        spec_with(api={"path": "falcon", "lambdaArn": "my-function"}),
        "spec.api.lambdaArn",
    ),
    (
        "api-path-segment-reserved",
        spec_with(api={"path": "team-a/_meter"}),
        "no path segment may start with _",
    ),
    (
        "api-self-service-without-authorization",
        spec_with(api={"path": "falcon", "authorization": "NONE", "selfService": True}),
        "spec.api.selfService needs a spec.api.authorization other than NONE",
    ),
    (
        "api-max-extends-per-day-zero",
        spec_with(api={"path": "falcon", "selfService": True, "maxExtendsPerDay": 0}),
        "spec.api.maxExtendsPerDay",
    ),
    (
        "api-path-first-segment-reserved",
        spec_with(api={"path": "_private/falcon"}),
        "no path segment may start with _",
    ),
    (
        "api-cognito-without-authorizer",
        spec_with(api={"path": "falcon", "authorization": "COGNITO_USER_POOLS"}),
        "spec.api.authorizerId",
    ),
    (
        "api-scopes-without-cognito",
        spec_with(api={"path": "falcon", "authorizationScopes": ["team-a/meter"]}),
        "spec.api.authorizationScopes",
    ),
    (
        "api-scope-with-space",
        spec_with(
            api={
                "path": "falcon",
                "authorization": "COGNITO_USER_POOLS",
                "authorizerId": "abc123",
                "authorizationScopes": ["team-a meter"],
            }
        ),
        "spec.api.authorizationScopes",
    ),
    ("deletion-policy-unknown", spec_with(deletionPolicy="Orphan"), "spec.deletionPolicy"),
    ("tag-reserved-prefix", spec_with(tags={"sagemeter.io/owner": "me"}), "spec.tags"),
    ("tag-aws-prefix", spec_with(tags={"aws:cloudformation": "x"}), "spec.tags"),
    # SageMaker's TagValue pattern [\p{L}\p{Z}\p{N}_.:/=+\-@]* (botocore's model): what AWS
    # would refuse at CreateModel is refused here, naming the field.
    ("tag-value-hash", spec_with(tags={"ticket": "#4711 (urgent!)"}), "spec.tags"),
    ("tag-value-ampersand", spec_with(tags={"dept": "R&D"}), "spec.tags"),
    ("tag-key-comma", spec_with(tags={"a,b": "x"}), "spec.tags"),
    ("tag-key-too-long", spec_with(tags={"k" * 129: "x"}), "spec.tags"),
    ("tag-value-too-long", spec_with(tags={"k": "v" * 257}), "spec.tags"),
    # 50 per resource, sagemeter's own 7 included.
    ("tags-too-many", spec_with(tags={f"k{i}": "v" for i in range(44)}), "spec.tags"),
    (
        "container-env-name-too-long",
        spec_with(model=container(environment={"A" * 1025: "x"})),
        "spec.model.container.environment",
    ),
    ("region-malformed", spec_with(region="europe"), "spec.region"),
    (
        "execution-role-malformed",
        spec_with(model={**container(), "executionRoleArn": "sm-role"}),
        "spec.model.executionRoleArn",
    ),
    (
        "execution-role-with-existing-config",
        spec_with(
            instanceType=None,
            model={
                "endpointConfigName": "cfg",
                "executionRoleArn": "arn:aws:iam::123456789012:role/sm",
            },
        ),
        "spec.model.executionRoleArn",
    ),
    (
        "model-package-arn-malformed",
        spec_with(model={"modelPackageArn": "arn:aws:s3:::bucket"}),
        "spec.model.modelPackageArn",
    ),
    (
        "jumpstart-id-uppercase",
        spec_with(model={"jumpStart": {"modelId": "Falcon-7B"}}),
        "spec.model.jumpStart.modelId",
    ),
    (
        "jumpstart-version-word",
        spec_with(model={"jumpStart": {"modelId": "falcon", "version": "latest"}}),
        "spec.model.jumpStart.version",
    ),
    ("container-image-missing", spec_with(model={"container": {}}), "spec.model.container.image"),
    (
        "container-env-bad-name",
        spec_with(model=container(environment={"1BAD": "x"})),
        "spec.model.container.environment",
    ),
    (
        "container-model-data-not-s3",
        spec_with(model=container(modelDataUrl="http://example/model.tar.gz")),
        "spec.model.container.modelDataUrl",
    ),
    ("unknown-field", spec_with(instanceTyp="ml.g5.xlarge"), "spec.instanceTyp"),
]


def test_tags_sagemaker_accepts_are_admitted(sandbox: Any, namespace: str) -> None:
    """Letters and numbers of any script, separators and every symbol the pattern names."""
    tags = {f"k{i}": "v" for i in range(39)}  # 43 in all: the most spec.tags may hold
    tags.update(
        {"Stadt": "Zürich", "部署": "研究 開発", "a b:c/d=e+f-g@h_i.j": "", "k" * 128: "v" * 256}
    )
    obj = spec_with(tags=tags)
    obj["metadata"]["name"] = "unicode-tags"
    result = _apply(sandbox, namespace, obj)
    assert result.returncode == 0, result.stderr


def _apply(sandbox: Any, namespace: str, obj: dict[str, Any]) -> Any:
    return sandbox.kubectl_run(
        "apply", "-n", namespace, "-f", "-", input=json.dumps(obj), check=False
    )


@pytest.mark.parametrize(("case", "obj", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_object_is_rejected_naming_the_field(
    sandbox: Any, namespace: str, case: str, obj: dict[str, Any], field: str
) -> None:
    obj = copy.deepcopy(obj)
    obj["metadata"]["name"] = case
    result = _apply(sandbox, namespace, obj)
    assert result.returncode != 0, f"{case} was accepted:\n{result.stdout}"
    assert field in result.stderr, f"{case}: error does not name {field}:\n{result.stderr}"
    gone = sandbox.kubectl_run("get", "mep", case, "-n", namespace, check=False)
    assert gone.returncode != 0, f"{case} was stored despite the error"


def test_invalid_suite_is_large_enough() -> None:
    assert len(INVALID) >= 30
    assert len({case for case, _, _ in INVALID}) == len(INVALID)


@pytest.mark.parametrize(
    ("field", "first", "second"),
    [
        ("endpointName", "falcon-a", "falcon-b"),
        ("region", "us-east-1", "eu-west-1"),
    ],
)
def test_immutable_fields_cannot_change(
    sandbox: Any, namespace: str, field: str, first: str, second: str
) -> None:
    obj = spec_with(**{field: first})
    obj["metadata"]["name"] = f"immutable-{field.lower()}"
    assert _apply(sandbox, namespace, obj).returncode == 0
    obj["spec"][field] = second
    changed = _apply(sandbox, namespace, obj)
    assert changed.returncode != 0
    assert f"spec.{field}" in changed.stderr and "immutable" in changed.stderr
    del obj["spec"][field]
    removed = _apply(sandbox, namespace, obj)
    assert removed.returncode != 0
    assert f"spec.{field}" in removed.stderr


def test_endpoint_name_cannot_be_added_later(sandbox: Any, namespace: str) -> None:
    obj = spec_with()
    obj["metadata"]["name"] = "add-name"
    assert _apply(sandbox, namespace, obj).returncode == 0
    obj["spec"]["endpointName"] = "now-named"
    added = _apply(sandbox, namespace, obj)
    assert added.returncode != 0 and "spec.endpointName" in added.stderr


def test_adopt_cannot_be_switched_off(sandbox: Any, namespace: str) -> None:
    obj = spec_with(model=None, instanceType=None, adopt=True, endpointName="nb-endpoint")
    obj["metadata"]["name"] = "adopted"
    assert _apply(sandbox, namespace, obj).returncode == 0
    obj["spec"].update(adopt=False, model=container(), instanceType="ml.g5.xlarge")
    switched = _apply(sandbox, namespace, obj)
    assert switched.returncode != 0 and "spec.adopt" in switched.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_is_accepted(sandbox: Any, namespace: str, example: Path) -> None:
    result = sandbox.kubectl_run("apply", "-n", namespace, "-f", str(example), check=False)
    assert result.returncode == 0, result.stderr
    name = yaml.safe_load(example.read_text())["metadata"]["name"]
    stored = json.loads(
        sandbox.kubectl_run("get", "mep", name, "-n", namespace, "-o", "json").stdout
    )
    assert stored["spec"]["deletionPolicy"] in {"Delete", "Retain"}


@pytest.mark.parametrize("after", ["1d", "24h", "23h60m", "86400s", "0w1d", "1m"])
def test_idle_after_up_to_a_day_is_admitted(sandbox: Any, namespace: str, after: str) -> None:
    obj = spec_with(idle={"after": after})
    obj["metadata"]["name"] = f"idle-{after}".lower()
    result = _apply(sandbox, namespace, obj)
    assert result.returncode == 0, result.stderr


def test_defaults_are_applied_by_the_api_server(sandbox: Any, namespace: str) -> None:
    obj = spec_with(expiry={"ttl": "1h"}, api={"path": "m"}, idle={"after": "15m"})
    obj["metadata"]["name"] = "defaults"
    assert _apply(sandbox, namespace, obj).returncode == 0
    spec = json.loads(
        sandbox.kubectl_run("get", "mep", "defaults", "-n", namespace, "-o", "json").stdout
    )["spec"]
    assert spec["instanceCount"] == 1
    assert spec["inferenceType"] == "Realtime"
    assert spec["deletionPolicy"] == "Delete"
    assert spec["adopt"] is False and spec["suspend"] is False
    assert spec["expiry"]["warnBefore"] == "10m"
    assert spec["idle"]["gracePeriod"] == "10m"
    assert spec["api"]["authorization"] == "AWS_IAM"


def test_get_shows_the_story_in_columns(sandbox: Any, namespace: str) -> None:
    obj = spec_with(expiry={"ttl": "90m"})
    obj["metadata"]["name"] = "columns"
    assert _apply(sandbox, namespace, obj).returncode == 0
    status = {
        "status": {
            "phase": "Parked",
            "parkedReason": "Expired",
            # The operator writes REASON: the Degraded reason when there is one.
            "reason": "AuthorizerNotFound",
            "expiresAt": "2026-11-22T18:00:00Z",
            "endpointName": "columns-ep",
            "invokeUrl": "https://abc.execute-api.us-east-1.amazonaws.com/prod/columns",
            "hourlyCostUSD": "1.52",
        }
    }
    sandbox.kubectl_run(
        "patch",
        "mep",
        "columns",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    table = sandbox.kubectl_run("get", "mep", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "REASON", "INSTANCE", "EXPIRES", "AGE"]
    row = next(line.split() for line in table if line.startswith("columns "))
    assert row[1:5] == ["Parked", "AuthorizerNotFound", "ml.g5.xlarge", "2026-11-22T18:00:00Z"]

    wide = sandbox.kubectl_run("get", "mep", "columns", "-n", namespace, "-o", "wide")
    header, line = wide.stdout.splitlines()[:2]
    assert header.split() == [
        "NAME",
        "PHASE",
        "REASON",
        "INSTANCE",
        "EXPIRES",
        "AGE",
        "ENDPOINT",
        "URL",
        "COST/H",
    ]
    assert line.split()[-3:] == [
        "columns-ep",
        "https://abc.execute-api.us-east-1.amazonaws.com/prod/columns",
        "1.52",
    ]


def test_short_name_and_category(sandbox: Any, namespace: str) -> None:
    obj = spec_with()
    obj["metadata"]["name"] = "short"
    assert _apply(sandbox, namespace, obj).returncode == 0
    by_category = sandbox.kubectl_run("get", "sagemeter", "-n", namespace, "-o", "name")
    assert "managedendpoint.sagemeter.io/short" in by_category.stdout.split()
