"""deploy/iam/policy.json allows every AWS call the operator makes, and nothing broad.

The calls are collected statically from ``operator/sagemeter`` (the sandbox excepted), so a
new call without a policy entry fails here before it fails in someone's account:

* string arguments that name an operation of the module's AWS service, as in
  ``checked_call(client, "CreateEndpoint")``, ``self._call("PutMetricAlarm", ...)``,
  ``self._pages("ListEndpoints", ...)``;
* snake_case calls such as ``client.put_metric_alarm(...)`` and ``get_paginator("...")``.

A module's services are those it makes clients for (``client("sagemaker", region)``) plus
``MODULE_SERVICES``. Operation names come from botocore's service models, which also give
API Gateway's HTTP method and path: its IAM actions are ``apigateway:<METHOD>`` on
``arn:aws:apigateway:<region>::<path>``, so the model is the mapping table and cannot drift.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "sagemeter"
POLICY = ROOT / "deploy" / "iam" / "policy.json"

# IAM action prefix of each botocore service the operator may use. A service missing here
# fails the test: someone should decide how its calls are authorized.
IAM_PREFIX = {
    "sagemaker": "sagemaker",
    "cloudwatch": "cloudwatch",
    "apigateway": "apigateway",
    "lambda": "lambda",
    "sts": "sts",
    "sqs": "sqs",
    "events": "events",
    "sns": "sns",
    "ssm": "ssm",
}
# Every service botocore knows: a client or gateway of any of them is seen by the scan (and
# then must be in IAM_PREFIX), never silently skipped.
_KNOWN_SERVICES = set(botocore.session.get_session().get_available_services())
# Calls AWS never refuses (no IAM permission exists for them).
ALWAYS_ALLOWED = {"sts:GetCallerIdentity"}
# Modules that call AWS through a client they are handed instead of one they create.
MODULE_SERVICES = {
    "sagemeter.aws.jumpstart": {"sagemaker"},
    "sagemeter.aws.credentials": {"sts"},
    # Names CreateDeployment for its quota slots (aws.quotas); its calls go through gateways.
    "sagemeter.routes.manager": {"apigateway"},
}
# Code that is not part of the running operator, and the table of AWS's documented limits,
# which names operations (SNS Publish, SSM PutParameter, ...) without calling them.
EXCLUDED = ("sagemeter_sandbox", "sagemeter.api.aws_limits")
# What else AWS authorizes for a call: tag-on-create needs the tagging action, a model or an
# integration with a role needs iam:PassRole of that role to that service.
IMPLIED: dict[tuple[str, str], list[tuple[str, dict[str, str]]]] = {
    ("sagemaker", "CreateModel"): [
        ("sagemaker:AddTags", {}),
        ("iam:PassRole", {"iam:PassedToService": "sagemaker.amazonaws.com"}),
    ],
    ("sagemaker", "CreateEndpointConfig"): [("sagemaker:AddTags", {})],
    ("sagemaker", "CreateEndpoint"): [("sagemaker:AddTags", {})],
    ("cloudwatch", "PutMetricAlarm"): [("cloudwatch:TagResource", {})],
    # PutParameter with Tags (SSM API reference: "you must have ... ssm:AddTagsToResource").
    ("ssm", "PutParameter"): [("ssm:AddTagsToResource", {})],
    # Session tags (sagemeter.io/namespace) need sts:TagSession on the role assumed.
    ("sts", "AssumeRole"): [("sts:TagSession", {})],
    ("apigateway", "PutIntegration"): [
        ("iam:PassRole", {"iam:PassedToService": "apigateway.amazonaws.com"})
    ],
}
# Batch calls are authorized by the single call's action.
ACTION_OF = {("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage"}
MANAGED_BY = "sagemeter.io/managed-by"
DESTRUCTIVE_SAGEMAKER = {
    "sagemaker:UpdateEndpoint",
    "sagemaker:DeleteEndpoint",
    "sagemaker:DeleteEndpointConfig",
    "sagemaker:DeleteModel",
    "sagemaker:DeleteTags",
}


# --------------------------------------------------------------------------- collecting calls


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    where: str  # module:line


@cache
def _service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


@cache
def _operations(service: str) -> dict[str, str]:
    """snake_case and PascalCase names -> the PascalCase operation name."""
    names = _service_model(service).operation_names
    return {**{n: n for n in names}, **{xform_name(n): n for n in names}}


def _modules(package: Path) -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(package.rglob("*.py")):
        dotted = ".".join(("sagemeter", *path.relative_to(package).with_suffix("").parts))
        dotted = dotted.removesuffix(".__init__")
        if not dotted.startswith(EXCLUDED):
            yield dotted, ast.parse(path.read_text(), filename=str(path))


def _str(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _client_services(tree: ast.AST) -> set[str]:
    """Services of the clients made under ``tree``: ``client("sagemaker", region)``, or a
    gateway class's ``SERVICE = "sagemaker"`` (its base class makes the client)."""
    services = set()
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Call) and node.args and _callee(node).endswith("client"):
            name = _str(node.args[0])
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "SERVICE" for t in targets):
                name = _str(node.value)
        if name is not None and name in _KNOWN_SERVICES:
            services.add(name)
    return services


def _scopes(module: str, tree: ast.Module) -> Iterator[tuple[set[str], list[ast.AST]]]:
    """(services, nodes): each top-level class with the clients it makes, then the rest of
    the module with the module's clients. A gateway class per service keeps an operation
    name that two services share (``TagResource``) with the client that sends it."""
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    rest = [n for n in tree.body if not isinstance(n, ast.ClassDef)]
    outer = set(MODULE_SERVICES.get(module, set()))
    for node in rest:
        outer |= _client_services(node)
    for cls in classes:
        yield (_client_services(cls) or outer), [cls]
    yield outer, rest


def _found(services: set[str], node: ast.Call) -> Iterator[tuple[str, str]]:
    callee = _callee(node)
    names = [s for s in map(_str, node.args) if s is not None]
    if callee == "get_paginator":  # get_paginator("list_endpoints")
        names = names[:1]
    elif isinstance(node.func, ast.Attribute):  # client.put_metric_alarm(...)
        names = [*(n for n in names if n[:1].isupper()), callee]
    else:  # checked_call(client, "CreateEndpoint", ...)
        names = [n for n in names if n[:1].isupper()]
    for service in services:
        for name in names:
            operation = _operations(service).get(name)
            if operation is not None:
                yield service, operation


def _names_an_operation(node: ast.Call) -> bool:
    """``checked_call(client, "CreateEndpoint")`` and the like: an operation named in a call.
    (Calls of gateway methods such as ``gateway.describe_alarms(...)`` are not: the
    gateway's own module names the operation.)"""
    names = [s for s in map(_str, node.args) if s is not None and s[:1].isupper()]
    return any(name in _operations(service) for service in IAM_PREFIX for name in names)


def collect_calls(package: Path = PACKAGE) -> tuple[set[Call], list[str]]:
    """AWS operations the code under ``package`` calls, and calls of unknown service."""
    calls: set[Call] = set()
    unattributed: list[str] = []
    for module, tree in _modules(package):
        for services, nodes in _scopes(module, tree):
            for node in (n for top in nodes for n in ast.walk(top)):
                if not isinstance(node, ast.Call):
                    continue
                for service, operation in _found(services, node):
                    calls.add(Call(service, operation, f"{module}:{node.lineno}"))
                if not services and _names_an_operation(node):
                    unattributed.append(f"{module}:{node.lineno}")
    return calls, unattributed


# --------------------------------------------------------------------------- the policy


@dataclass(frozen=True)
class Need:
    """One authorization AWS makes for a call: an action, maybe a resource and context."""

    action: str
    resource: str | None = None
    context: dict[str, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.action, self.resource, tuple(sorted(self.context.items()))))


def _sample_path(request_uri: str) -> str:
    path = request_uri.split("?", 1)[0]
    return re.sub(r"\{[^}]+\}", "x1", path)


def needs_for(call: Call) -> list[Need]:
    prefix = IAM_PREFIX[call.service]
    if call.service == "apigateway":
        http = _service_model("apigateway").operation_model(call.operation).http
        resource = f"arn:aws:apigateway:us-east-1::{_sample_path(http['requestUri'])}"
        needs = [Need(f"apigateway:{http['method']}", resource)]
    else:
        needs = [Need(ACTION_OF.get((call.service, call.operation), f"{prefix}:{call.operation}"))]
    for action, context in IMPLIED.get((call.service, call.operation), []):
        needs.append(Need(action, None, context))
    return needs


def _list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def load_policy() -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads(POLICY.read_text())["Statement"]
    return statements


def _string_equals(statement: dict[str, Any]) -> dict[str, list[str]]:
    condition = statement.get("Condition", {}).get("StringEquals", {})
    return {key: _list(value) for key, value in condition.items()}


def allows(statement: dict[str, Any], need: Need) -> bool:
    if statement["Effect"] != "Allow":
        return False
    # IAM matches action names case-insensitively, resources case-sensitively.
    if not any(fnmatchcase(need.action.lower(), a.lower()) for a in _list(statement["Action"])):
        return False
    resources = _list(statement["Resource"])
    if need.resource is not None and not any(fnmatchcase(need.resource, r) for r in resources):
        return False
    equals = _string_equals(statement)
    return all(value in equals[key] for key, value in need.context.items() if key in equals)


def missing(calls: Iterable[Call], statements: list[dict[str, Any]]) -> list[str]:
    problems = []
    for call in sorted(calls, key=lambda c: (c.service, c.operation, c.where)):
        for need in needs_for(call):
            if need.action in ALWAYS_ALLOWED:
                continue
            if not any(allows(statement, need) for statement in statements):
                where = f" on {need.resource}" if need.resource else ""
                problems.append(
                    f"{need.action}{where} ({call.service}:{call.operation}, {call.where})"
                )
    return problems


# --------------------------------------------------------------------------- tests


def test_the_scan_finds_the_calls_we_know_of() -> None:
    calls, unattributed = collect_calls()
    found = {(c.service, c.operation) for c in calls}
    assert not unattributed, f"add these modules to MODULE_SERVICES: {unattributed}"
    for known in [
        ("sagemaker", "CreateEndpoint"),
        ("sagemaker", "DeleteEndpoint"),
        ("sagemaker", "ListEndpoints"),
        ("sagemaker", "DescribeHubContent"),
        ("sagemaker", "ListHubContentVersions"),
        ("sagemaker", "AddTags"),
    ]:
        assert known in found


def test_every_aws_call_is_allowed_by_the_policy() -> None:
    calls, _ = collect_calls()
    for service in {c.service for c in calls}:
        assert service in IAM_PREFIX, f"decide how {service} calls are authorized (IAM_PREFIX)"
    problems = missing(calls, load_policy())
    assert not problems, "deploy/iam/policy.json does not allow:\n  " + "\n  ".join(problems)


def test_a_new_call_without_a_policy_entry_fails(tmp_path: Path) -> None:
    package = tmp_path / "sagemeter"
    shutil.copytree(PACKAGE, package)
    (package / "aws" / "notebooks.py").write_text(
        "from sagemeter.aws.clients import client\n"
        "from sagemeter.aws.errors import checked_call\n"
        "from sagemeter.aws.gateway import Gateway\n\n"
        "def start(region, name):\n"
        '    sm = client("sagemaker", region)\n'
        '    checked_call(sm, "StartNotebookInstance", NotebookInstanceName=name)\n'
        "    sm.stop_notebook_instance(NotebookInstanceName=name)\n"
        '    return sm.get_paginator("list_notebook_instances")\n\n'
        "class Notebooks(Gateway):\n"
        '    SERVICE = "sagemaker"\n\n'
        "    def delete(self, name):\n"
        '        self._call("DeleteNotebookInstance", NotebookInstanceName=name)\n'
    )
    calls, _ = collect_calls(package)
    problems = missing(calls, load_policy())
    assert any(p.startswith("sagemaker:StartNotebookInstance ") for p in problems)
    assert any(p.startswith("sagemaker:StopNotebookInstance ") for p in problems)
    assert any(p.startswith("sagemaker:ListNotebookInstances ") for p in problems)
    assert any(p.startswith("sagemaker:DeleteNotebookInstance ") for p in problems)


def test_api_gateway_calls_map_to_http_verbs_on_paths() -> None:
    statements = load_policy()
    put = needs_for(Call("apigateway", "PutIntegration", "example"))
    path = "/restapis/x1/resources/x1/methods/x1/integration"
    assert put[0] == Need("apigateway:PUT", f"arn:aws:apigateway:us-east-1::{path}")
    assert all(any(allows(s, n) for s in statements) for n in put)
    # Paths outside the REST APIs, keys, usage plans and tags stay closed.
    domain = needs_for(Call("apigateway", "CreateDomainName", "example"))[0]
    assert not any(allows(s, domain) for s in statements)


def test_no_statement_is_a_wildcard() -> None:
    for statement in load_policy():
        assert statement["Effect"] == "Allow", statement
        assert "NotAction" not in statement and "NotResource" not in statement, statement
        actions, resources = _list(statement["Action"]), _list(statement["Resource"])
        assert not ("*" in actions and "*" in resources), statement
        assert "*" not in actions, statement
        assert not any(a.endswith(":*") for a in actions), f"service-wide action: {statement}"


def test_sagemaker_deletes_and_updates_need_sagemeters_tag() -> None:
    for statement in load_policy():
        actions = set(_list(statement["Action"])) & DESTRUCTIVE_SAGEMAKER
        if not actions:
            continue
        tagged = _string_equals(statement).get(f"aws:ResourceTag/{MANAGED_BY}") == ["sagemeter"]
        only_configs = _list(statement["Resource"]) == ["arn:aws:sagemaker:*:*:endpoint-config/*"]
        # UpdateEndpoint also authorizes the config it switches to, which may be a user's own
        # (spec.model.endpointConfigName); the endpoint itself still needs the tag.
        assert tagged or (actions == {"sagemaker:UpdateEndpoint"} and only_configs), statement


def test_sagemaker_creates_must_tag_as_sagemeter() -> None:
    for statement in load_policy():
        creates = [a for a in _list(statement["Action"]) if a.startswith("sagemaker:Create")]
        if creates:
            assert _string_equals(statement).get(f"aws:RequestTag/{MANAGED_BY}") == ["sagemeter"], (
                statement
            )


def test_adoption_tagging_needs_the_adopt_tag_on_the_endpoint() -> None:
    """Tagging an existing endpoint as sagemeter's (adoption) is allowed only where the endpoint
    already carries the adopt tag; only tag-on-create and sagemeter's own resources are open."""
    for statement in load_policy():
        if "sagemaker:AddTags" not in _list(statement["Action"]):
            continue
        equals = _string_equals(statement)
        creates = any(a.startswith("sagemaker:Create") for a in _list(statement["Action"]))
        owned = equals.get(f"aws:ResourceTag/{MANAGED_BY}") == ["sagemeter"]
        adopt_tagged = "aws:ResourceTag/REPLACE_WITH_ADOPT_TAG_KEY" in equals
        assert creates or owned or adopt_tagged, statement
    sid = "SageMakerAdoptOnlyEndpointsCarryingTheAdoptTag"
    adoption = [s for s in load_policy() if s["Sid"] == sid]
    assert adoption and _list(adoption[0]["Resource"]) == ["arn:aws:sagemaker:*:*:endpoint/*"]


@pytest.mark.parametrize("service", ["sagemaker", "apigateway"])
def test_pass_role_is_limited_to_its_service(service: str) -> None:
    passing = [s for s in load_policy() if "iam:PassRole" in _list(s["Action"])]
    assert passing and all("*" not in _list(s["Resource"]) for s in passing)
    assert all("iam:PassedToService" in _string_equals(s) for s in passing)
    assert any(
        _string_equals(s)["iam:PassedToService"] == [f"{service}.amazonaws.com"] for s in passing
    )
