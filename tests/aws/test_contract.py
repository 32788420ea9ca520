"""The contract check itself (``sagemeter_sandbox.contract``): it must refuse what AWS's models
refuse, accept what they accept, and reach every client of a process, the operator's too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sagemeter.api.models import ManagedEndpointSpec
from sagemeter.core.endpoint import naming, requests
from sagemeter.core.endpoint.ownership import Owner
from sagemeter.core.endpoint.tags import resource_tags, tag_list
from sagemeter.core.routes import api_key_name, usage_plan_name
from sagemeter.core.tenancy.sessions import session_name
from sagemeter_sandbox import contract
from tests.contract import CHECKER, expect_violation

MODELS = botocore.session.get_session()
ROLE = "arn:aws:iam::123456789012:role/sm"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/falcon"


def violations(service: str, operation: str, **params: Any) -> list[str]:
    model = MODELS.get_service_model(service).operation_model(operation)
    return [f"{v.member}: {v.rule}" for v in contract.check_request(model, params)]


def create_model(**changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "ModelName": "falcon-m-1234abcd",
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"},
    }
    params.update(changes)
    return params


def tags(**pairs: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in pairs.items()]


# ----------------------------------------------------------------------------- the rules


@pytest.mark.localaws
def test_tag_values_sagemaker_refuses_are_found_and_named() -> None:
    found = violations(
        "sagemaker",
        "CreateModel",
        **create_model(Tags=tags(ticket="#4711 (urgent!)", dept="R&D", city="Zürich 東京 ok")),
    )
    assert [f.split(":")[0] for f in found] == ["Tags[0].Value", "Tags[1].Value"]
    assert "TagValue" in found[0]


@pytest.mark.localaws
@pytest.mark.parametrize(
    ("key", "value", "bad"),
    [
        ("k" * 128, "v" * 256, False),
        ("k" * 129, "v", True),
        ("k", "v" * 257, True),
        ("", "v", True),  # TagKey: min 1
        ("a b:c/d=e+f-g@h_i.j", "", False),  # every symbol the pattern names; an empty value
        ("ключ", "值", False),  # \p{L} is every letter, not ASCII's
        ("tab\tkey", "v", True),  # \p{Z} is separators, not control characters
    ],
)
def test_tag_lengths_and_unicode_classes(key: str, value: str, bad: bool) -> None:
    found = violations("sagemaker", "AddTags", ResourceArn=ARN, Tags=tags(**{key: value}))
    assert bool(found) is bad, found


@pytest.mark.localaws
def test_required_enum_range_and_list_size() -> None:
    found = violations(
        "sagemaker",
        "CreateEndpointConfig",
        EndpointConfigName="c",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "InstanceType": "ml.foo.bar", "InitialInstanceCount": 0}
        ],
    )
    assert any(f.startswith("ProductionVariants[0].InstanceType: not one of") for f in found)
    assert any(f.startswith("ProductionVariants[0].InitialInstanceCount: 0 < min") for f in found)
    found = violations("sagemaker", "CreateEndpointConfig", EndpointConfigName="c")
    assert found == ["ProductionVariants: required"]
    found = violations(
        "cloudwatch", "DescribeAlarms", AlarmNames=[f"sagemeter-{i}-idle" for i in range(101)]
    )
    assert found == ["AlarmNames: 101 items > max 100"]


@pytest.mark.localaws
def test_names_follow_their_patterns_as_full_matches() -> None:
    assert violations("sagemaker", "DescribeEndpoint", EndpointName="falcon-dev") == []
    for name in ("falcon_dev", "-falcon", "falcon-", "f" * 64, "falcon.v2"):
        assert violations("sagemaker", "DescribeEndpoint", EndpointName=name), name


@pytest.mark.localaws
@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (r"\w+", "abc_1", True),
        (r"\w+", "ü", False),  # Java's \w is ASCII
        (r"[\w+=,.@-]*", "sm-team-a@x", True),
        (r"[\w+=,.@-]*", "sm-équipe", False),
        (r"\p{Alnum}+", "ü", False),  # POSIX classes are ASCII in Java
        (r"[\p{Alnum}-]+", "a-1", True),
        (r"\d+", "\u0661\u0662", False),  # Arabic-Indic digits: \d is ASCII, \p{N} is not
        (r"\p{N}+", "\u0661\u0662", True),
        (r"[\S]+", "a b", False),
        (r"[^\s]+\z", "ab", True),
        (r".*", "partial", True),
        (r"[a-z]+", "abc1", False),  # full matches, never a search
    ],
)
def test_java_patterns_keep_their_meaning(pattern: str, text: str, matches: bool) -> None:
    compiled = contract.java_pattern(pattern)
    assert compiled is not None
    assert (compiled.fullmatch(text) is not None) is matches


@pytest.mark.localaws
def test_every_pattern_of_the_services_sagemeter_calls_is_understood() -> None:
    """Patterns the check cannot translate are skipped (permissive); none of the services the
    operator calls has one, except SageMaker's four surrogate-pair ranges (Athena and Glue
    names sagemeter never sends)."""
    skipped = []
    for service in ("sagemaker", "cloudwatch", "apigateway", "lambda", "sqs", "events", "sts"):
        model = MODELS.get_service_model(service)
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern is not None and contract.java_pattern(pattern) is None:
                skipped.append(f"{service}:{name}")
    assert skipped == [
        "sagemaker:AthenaCatalog",
        "sagemaker:Catalog",
        "sagemaker:Database",
        "sagemaker:TableName",
    ]


@pytest.mark.localaws
def test_limits_aws_documents_outside_the_models_are_checked_too() -> None:
    assert violations("sns", "Publish", Message="m", Subject="s" * 99) == []
    found = violations("sns", "Publish", Message="m", Subject="s" * 100)
    assert len(found) == 1 and "Subject" in found[0] and "API_Publish" in found[0]
    assert violations("sns", "Publish", Message="m", Subject="line\nbreak")
    resource = {"restApiId": "a", "parentId": "p"}
    assert violations("apigateway", "CreateResource", **resource, pathPart="ok") == []
    assert violations("apigateway", "CreateResource", restApiId="a", parentId="p", pathPart="a b")
    assert violations("ssm", "PutParameter", Name="/sagemeter/team-a/falcon", Value="v") == []
    assert violations("ssm", "PutParameter", Name="/aws/x", Value="v")
    assert violations("cloudwatch", "PutMetricAlarm", **alarm("sagemeter-x\x01-idle"))
    assert violations("sqs", "CreateQueue", QueueName="sagemeter-events") == []
    assert violations("sqs", "CreateQueue", QueueName="sagemeter.events")


def alarm(name: str) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "LessThanThreshold",
    }


# ----------------------------------------------------------------------------- the hook


def stubbed_sagemaker() -> Any:
    client = boto3.client(
        "sagemaker",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return client


@pytest.mark.localaws
def test_every_client_of_the_process_is_checked() -> None:
    client = stubbed_sagemaker()
    before = CHECKER.checked
    with Stubber(client) as stub, expect_violation("sagemaker:AddTags", "Tags"):
        stub.add_response("add_tags", {"Tags": []})
        client.add_tags(ResourceArn=ARN, Tags=tags(dept="R&D"))
    assert CHECKER.checked == before + 1
    assert str(CHECKER.expected_seen[-1]).startswith("sagemaker:AddTags Tags[0].Value='R&D'")


CHILD = """
import boto3
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sagemeter.api.models import ManagedEndpointSpec
from sagemeter.core.endpoint import naming, requests
from sagemeter.core.endpoint.ownership import Owner
from sagemeter.core.endpoint.tags import resource_tags, tag_list
from sagemeter.core.routes import api_key_name, usage_plan_name
from sagemeter.core.tenancy.sessions import session_name
client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="t",
                      aws_secret_access_key="t")
with Stubber(client) as stub:
    stub.add_response("add_tags", {"Tags": []})
    client.add_tags(ResourceArn="arn:aws:sagemaker:us-east-1:123456789012:endpoint/f",
                    Tags=[{"Key": "dept", "Value": "R&D"}])
    stub.add_response("list_endpoints", {"Endpoints": []})
    client.list_endpoints(NameContains="ok")
"""


@pytest.mark.localaws
def test_a_child_process_checks_itself_into_its_report(tmp_path: Path) -> None:
    report = tmp_path / "child.jsonl"
    env = {"PATH": "/usr/bin:/bin", **contract.subprocess_env(report, {})}
    subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, timeout=60)
    found, checked = contract.read_report(report)
    assert checked == 2
    assert [(v["operation"], v["member"], v["value"]) for v in found] == [
        ("sagemaker:AddTags", "Tags[0].Value", "'R&D'")
    ]
    assert contract.read_violations(report) == found  # what every test's teardown reads


@pytest.mark.localaws
def test_without_the_variable_a_child_checks_nothing(tmp_path: Path) -> None:
    report = tmp_path / "child.jsonl"
    env = {"PATH": "/usr/bin:/bin", **contract.subprocess_env(report, {})}
    del env[contract.ENV]
    subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, timeout=60)
    assert contract.read_report(report) == ([], 0)


# ----------------------------------------------------------------------------- the CRD's side

# Characters a user may type: letters and digits of several scripts, separators, every ASCII
# symbol (most of which SageMaker refuses), and control characters.
TYPED = st.text(
    alphabet=st.sampled_from(
        list("aZ09_.:/=+-@ #&!()[],;'\"\\|?*%$^~`<>{}\t\n\u00a0\u2028\u00e9\u6771\u0661\u216b")
    ),
    max_size=300,
)
# ... and text of what SageMaker's tag pattern allows, so that most examples are admitted.
ALLOWED = st.text(
    alphabet=st.sampled_from(list("aZ09_.:/=+-@ \u00a0\u00e9\u6771\u0661\u216b")), max_size=300
)
TEXT = st.one_of(TYPED, ALLOWED)


@settings(max_examples=300, deadline=None)
@given(tags=st.dictionaries(TEXT, TEXT, max_size=45), env=st.dictionaries(TEXT, TEXT, max_size=3))
def test_what_the_crd_admits_sagemaker_accepts(tags: dict[str, str], env: dict[str, str]) -> None:
    """Every spec the models admit (the CRD is generated from them, and its patterns mean the
    same in RE2) becomes CreateModel, CreateEndpointConfig and CreateEndpoint requests that
    botocore's SageMaker model accepts: tags, environment, names."""
    body = {
        "model": {"container": {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1"}},
        "instanceType": "ml.g5.xlarge",
        "tags": tags,
    }
    body["model"]["container"]["environment"] = env
    try:
        spec = ManagedEndpointSpec.model_validate(body)
    except ValidationError:
        return  # refused at kubectl apply
    owner = Owner("n" * 63, "o" * 253, "0b6e8a4e-3c3f-4e8e-9f6a-2f0d1c9b7a51")
    endpoint = naming.default_endpoint_name(owner.namespace, owner.name)
    container = requests.container_from_spec(spec)
    assert container is not None
    tags_on = resource_tags(owner, spec.tags)
    target = requests.own_target(endpoint, spec, container, ROLE, tags_on, owner.uid)
    sagemaker = MODELS.get_service_model("sagemaker")
    for operation, params in (
        ("CreateModel", target.model_request),
        ("CreateEndpointConfig", target.config_request),
        (
            "CreateEndpoint",
            {
                "EndpointName": endpoint,
                "EndpointConfigName": target.config_name,
                "Tags": tag_list(resource_tags(owner, spec.tags, adopted=True)),
            },
        ),
    ):
        found = contract.check_request(sagemaker.operation_model(operation), params or {})
        assert found == [], found


NAMESPACE_AT_LIMIT = "n" * 61 + "-x"  # 63: a DNS label's most
NAMES_AT_LIMIT = ["o" * 253, "a." * 126 + "b", "llm.v2", "x"]  # 253 with dots: a DNS subdomain's


@pytest.mark.parametrize("name", NAMES_AT_LIMIT, ids=["253", "253-dots", "dots", "short"])
def test_names_the_operator_derives_are_within_aws_limits(name: str) -> None:
    """Endpoint, model, config and alarm names, STS session names: within limits by
    construction, for the longest namespace and object names Kubernetes allows."""
    endpoint = naming.default_endpoint_name(NAMESPACE_AT_LIMIT, name)
    owner = Owner(NAMESPACE_AT_LIMIT, name, "0b6e8a4e-3c3f-4e8e-9f6a-2f0d1c9b7a51")
    alarm = naming.alarm_name(endpoint)
    sts_session = session_name(NAMESPACE_AT_LIMIT)
    for service, operation, params in [
        ("sagemaker", "DescribeEndpoint", {"EndpointName": endpoint}),
        ("sagemaker", "DescribeModel", {"ModelName": naming.model_name(endpoint, {"x": name})}),
        (
            "sagemaker",
            "DescribeEndpointConfig",
            {"EndpointConfigName": naming.endpoint_config_name(endpoint, {"x": name})},
        ),
        ("cloudwatch", "PutMetricAlarm", alarm_params(alarm)),
        ("cloudwatch", "DescribeAlarms", {"AlarmNames": [alarm]}),
        ("sts", "AssumeRole", {"RoleArn": ROLE, "RoleSessionName": sts_session}),
        ("apigateway", "CreateApiKey", {"name": api_key_name(owner)}),
        ("apigateway", "CreateUsagePlan", {"name": usage_plan_name(owner)}),
    ]:
        model = MODELS.get_service_model(service).operation_model(operation)
        assert contract.check_request(model, params) == [], (operation, params)


def alarm_params(name: str) -> dict[str, Any]:
    return {"AlarmName": name, "EvaluationPeriods": 1, "ComparisonOperator": "LessThanThreshold"}
