"""The EndpointPolicy API, both generated CRDs, the shipped admission policy and the
ManagedEndpoint fields tenancy added (no cluster needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from sagemeter.api import crd
from sagemeter.api.admission import GUARDRAILS, POLICY_NAME, Rule, admission_policy
from sagemeter.api.globs import glob_matches
from sagemeter.api.models import (
    AwsPlacement,
    ManagedEndpointSpec,
    ManagedEndpointStatus,
    ParkedReason,
)
from sagemeter.api.policy import (
    ENDPOINT_NAME_GLOB_PATTERN,
    INSTANCE_TYPE_GLOB_PATTERN,
    LAMBDA_ARN_GLOB_PATTERN,
    MONEY_PATTERN,
    PATH_PREFIX_PATTERN,
    ROLE_ARN_GLOB_PATTERN,
    EndpointPolicy,
    EndpointPolicySpec,
)
from sagemeter.api.render import render_admission_policy_yaml
from sagemeter.cli.main import cli
from tests.unit.test_api import walk

ROOT = Path(__file__).parents[2]
BASE = ROOT / "deploy" / "base"
CHART = ROOT / "deploy" / "helm" / "sagemeter"
EXAMPLE = ROOT / "examples" / "tenancy" / "endpointpolicy-team-a.yaml"


# -- generated files are current --------------------------------------------------------------


@pytest.mark.parametrize("kind", crd.KINDS, ids=[k.plural for k in crd.KINDS])
def test_committed_crds_and_their_copies_match_the_models(kind: crd.Kind) -> None:
    generated = crd.render_crd_yaml(kind)
    copies = [ROOT / "crds" / kind.file_name, CHART / "crds" / kind.file_name]
    copies.append(
        BASE / ("crd.yaml" if kind is crd.MANAGED_ENDPOINT else f"crd-{kind.plural}.yaml")
    )
    for copy in copies:
        assert copy.read_text() == generated, f"{copy} is stale: run `make crds`"


def test_committed_admission_policy_and_its_copy_match_the_code() -> None:
    generated = render_admission_policy_yaml()
    for copy in (BASE / "admission-policy.yaml", CHART / "templates" / "admission-policy.yaml"):
        assert copy.read_text() == generated, f"{copy} is stale: run `make crds`"
    assert yaml.safe_load(generated) == admission_policy()
    resources = yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    assert {"crd.yaml", "crd-endpointpolicies.yaml", "admission-policy.yaml"} <= set(resources)


def test_cli_writes_either_crd_or_both() -> None:
    runner = CliRunner()
    both = runner.invoke(cli, ["crd", "--kind", "all"])
    assert both.exit_code == 0
    kinds = [d["spec"]["names"]["kind"] for d in yaml.safe_load_all(both.output)]
    assert kinds == ["ManagedEndpoint", "EndpointPolicy"]
    by_short_name = runner.invoke(cli, ["crd", "--kind", "mepol"])
    assert by_short_name.output == crd.render_crd_yaml(crd.ENDPOINT_POLICY)
    assert runner.invoke(cli, ["crd"]).output == crd.render_crd_yaml(crd.MANAGED_ENDPOINT)
    unknown = runner.invoke(cli, ["crd", "--kind", "widgets"])
    assert unknown.exit_code != 0 and "endpointpolicies" in unknown.output
    assert runner.invoke(cli, ["admission-policy"]).output == render_admission_policy_yaml()


# -- the EndpointPolicy CRD --------------------------------------------------------------------


def test_policy_crd_names_scope_and_columns() -> None:
    doc = crd.crd(crd.ENDPOINT_POLICY)
    spec = doc["spec"]
    assert doc["metadata"]["name"] == "endpointpolicies.sagemeter.io"
    assert spec["scope"] == "Cluster"
    assert spec["names"] | {} == {
        "kind": "EndpointPolicy",
        "listKind": "EndpointPolicyList",
        "plural": "endpointpolicies",
        "singular": "endpointpolicy",
        "shortNames": ["mepol"],
        "categories": ["sagemeter"],
    }
    version = spec["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in version["additionalPrinterColumns"] if "priority" not in c}
    assert list(columns) == ["Namespaces", "Budget", "Spend", "Age"]
    assert columns["Namespaces"] == {
        "name": "Namespaces",
        "type": "integer",
        "jsonPath": ".status.namespaces",
    }
    assert columns["Budget"]["jsonPath"] == ".spec.budget.usdPerHour"
    assert columns["Spend"]["jsonPath"] == ".status.usdPerHour"
    assert columns["Age"]["type"] == "date"


def test_policy_schema_is_structural_re2_and_bounded() -> None:
    schema = crd.openapi_schema(crd.ENDPOINT_POLICY)
    assert schema["required"] == ["spec"]
    assert schema["properties"]["spec"]["required"] == ["namespaceSelector"]
    for path, node in walk(schema):
        for banned in (
            "$ref",
            "$defs",
            "anyOf",
            "allOf",
            "title",
            "propertyNames",
            "patternProperties",
        ):
            assert banned not in node, f"{banned} at {path}"
        if node.get("type") == "array" and path.startswith("/properties/spec"):
            assert "maxItems" in node, f"unbounded list at {path} (CEL cost)"
        if node.get("type") == "string" and "x-kubernetes-validations" in node:
            assert "maxLength" in node or "enum" in node, f"unbounded string at {path}"
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            assert not re.search(r"\(\?[=!<]|\\[1-9]", pattern), path
        for rule in node.get("x-kubernetes-validations", []):
            assert rule["message"], path


def test_the_example_parses() -> None:
    policy = EndpointPolicy.model_validate(yaml.safe_load(EXAMPLE.read_text()))
    spec = policy.spec
    assert spec.namespace_selector.names == ["team-a-dev"]
    assert spec.budget is not None and spec.budget.on_decrease == "Queue"
    assert spec.budget.unknown_price_usd_per_hour == "5.00"
    wire = spec.model_dump(by_alias=True, exclude_none=True)
    assert wire["budget"]["unknownPriceUSDPerHour"] == "5.00"
    assert wire == yaml.safe_load(EXAMPLE.read_text())["spec"]


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (
            MONEY_PATTERN,
            ["0", "25", "25.5", "25.00", "9999999.99"],
            ["", "-1", "25.000", "1e3", "25,00", ".5", "10000000"],
        ),
        (
            INSTANCE_TYPE_GLOB_PATTERN,
            ["ml.g5.*", "ml.m5.large", "ml.*", "ml.g*", "ml.g5.x*"],
            ["*", "g5.*", "ml.*.large", "ml.g5.large*x", "ml.g5.**", "ML.g5.*"],
        ),
        (
            ENDPOINT_NAME_GLOB_PATTERN,
            ["notebook-*", "nb", "*", "a-b-c"],
            ["-x", "a_b", "a*b", "**", "a" * 64],
        ),
        (
            ROLE_ARN_GLOB_PATTERN,
            [
                "arn:aws:iam::111111111111:role/sm*",
                "arn:aws:iam::111111111111:role/*",
                "arn:aws:iam::111111111111:role/sm",
            ],
            [
                "arn:aws:iam::111111111111:*",
                "arn:aws:iam::*",
                "arn:aws:iam::111111111111:role/",
                "arn:aws:iam::111111111111:role/a*b",
            ],
        ),
        (
            LAMBDA_ARN_GLOB_PATTERN,
            [
                "arn:aws:lambda:us-east-1:111111111111:function:team-a-*",
                "arn:aws:lambda:us-east-1:111111111111:function:*",
                "arn:aws:lambda:us-east-1:111111111111:function:f:live",
            ],
            ["arn:aws:lambda:*", "arn:aws:lambda:us-east-1:111111111111:function:a*b"],
        ),
        (PATH_PREFIX_PATTERN, ["team-a/", "team-a", "a/b/", "t"], ["/team-a", "a//", "", "a b"]),
    ],
)
def test_patterns(pattern: str, good: list[str], bad: list[str]) -> None:
    for text in good:
        assert re.fullmatch(pattern, text), text
    for text in bad:
        assert not re.fullmatch(pattern, text), text


@pytest.mark.parametrize(
    ("glob", "value", "matches"),
    [
        ("ml.g5.*", "ml.g5.xlarge", True),
        ("ml.g5.*", "ml.g5.", True),
        ("ml.g5.*", "ml.g5", False),
        ("ml.m5.large", "ml.m5.large", True),
        ("ml.m5.large", "ml.m5.large2", False),
        ("*", "", True),
        ("*", "anything", True),
        ("a*", "a*", True),
        ("", "", True),
    ],
)
def test_glob_matches(glob: str, value: str, matches: bool) -> None:
    assert glob_matches(glob, value) is matches


def test_models_refuse_what_the_schema_refuses() -> None:
    base: dict[str, Any] = {"namespaceSelector": {"names": ["a"]}}
    for bad, field in [
        ({"namespaceSelector": {"names": ["Team_A"]}}, "names"),
        ({"budget": {"usdPerHour": 25}}, "usdPerHour"),
        ({"budget": {"usdPerHour": "25", "onDecrease": "Stop"}}, "onDecrease"),
        ({"instanceTypes": ["g5.*"]}, "instanceTypes"),
        ({"maxInstanceCount": 0}, "maxInstanceCount"),
        ({"maxLifetime": "8 hours"}, "maxLifetime"),
        ({"routes": {"authorizations": ["OPEN"]}}, "authorizations"),
        ({"aws": {"regions": ["europe"]}}, "regions"),
    ]:
        with pytest.raises(ValidationError, match=field):
            EndpointPolicySpec.model_validate({**base, **bad})
    with pytest.raises(ValidationError, match="namespaceSelector"):
        EndpointPolicySpec.model_validate({})


# -- the shipped admission policy --------------------------------------------------------------


def test_admission_policy_shape() -> None:
    vap = admission_policy()
    assert vap["kind"] == "ValidatingAdmissionPolicy" and vap["metadata"]["name"] == POLICY_NAME
    spec = vap["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["paramKind"] == {"apiVersion": "sagemeter.io/v1alpha1", "kind": "EndpointPolicy"}
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["managedendpoints"]
    assert rule["operations"] == ["CREATE", "UPDATE"]


def test_one_validation_per_admission_rule_each_naming_policy_and_rule() -> None:
    validations = admission_policy()["spec"]["validations"]
    operator_only = (Rule.MAX_LIFETIME, Rule.ENDPOINT_CONFIGS)
    assert [g.rule for g in GUARDRAILS] == [r for r in Rule if r not in operator_only]
    for guardrail, validation in zip(GUARDRAILS, validations, strict=True):
        assert "params.metadata.name" in validation["messageExpression"]
        assert f"({guardrail.rule}): " in validation["messageExpression"]
        assert validation["reason"] == "Forbidden"


def test_match_condition_skips_updates_of_expiry_and_suspend_only() -> None:
    (condition,) = admission_policy()["spec"]["matchConditions"]
    expression = condition["expression"]
    assert expression.startswith("request.operation == 'CREATE' || ")
    fields = {info.alias or name for name, info in ManagedEndpointSpec.model_fields.items()}
    compared = set(re.findall(r"has\(object\.spec\.(\w+)\)", expression))
    assert compared == fields - {"expiry", "suspend"}
    assert "expiry" in fields and "suspend" in fields


# -- ManagedEndpoint additions -----------------------------------------------------------------


def test_over_budget_is_the_last_parked_reason() -> None:
    assert [r.value for r in ParkedReason] == [
        "Suspended",
        "Expired",
        "Schedule",
        "Idle",
        "OverBudget",
    ]


def test_status_records_where_the_object_lives() -> None:
    status = ManagedEndpointStatus(
        aws=AwsPlacement(
            account_id="111111111111", role_arn="arn:aws:iam::1:role/x", region="us-east-1"
        )
    )
    wire = status.model_dump(by_alias=True, exclude_none=True)
    assert wire["aws"] == {
        "accountId": "111111111111",
        "roleArn": "arn:aws:iam::1:role/x",
        "region": "us-east-1",
    }
    assert ManagedEndpointStatus.model_validate(wire) == status


def test_wake_on_request_fields() -> None:
    route = ManagedEndpointSpec.model_validate({"api": {"path": "m"}}).api
    assert route is not None and route.wake_on_request is False and route.max_wakes_per_day == 24
    for bad in (0, 1441):
        with pytest.raises(ValidationError, match="maxWakesPerDay"):
            ManagedEndpointSpec.model_validate({"api": {"path": "m", "maxWakesPerDay": bad}})
    spec = crd.openapi_schema()["properties"]["spec"]
    rules = [r for r in spec["x-kubernetes-validations"] if "wakeOnRequest" in r["rule"]]
    assert [r["fieldPath"] for r in rules] == [".api.wakeOnRequest"]
    assert "self.idle" in rules[0]["rule"] and "'NONE'" in rules[0]["rule"]
